//! The one trainer every training loop runs on (pretraining, each fine-tuning fold,
//! distillation and pseudo-label rounds): the optimizer and its schedule, gradient
//! accumulation, the data-parallel all-reduce, clipping, the divergence check, the
//! techniques' hooks around the optimizer step, the progress bar over the schedule's
//! steps, and the training checkpoints ([`checkpoint`]).
//!
//! A loop hands [`Trainer::step`] its micro-batches and a closure that turns one into a
//! loss value and gradients ([`MicroStep`]); everything between the gradients and the
//! updated weights happens here, in one order, so every loop gets the same arithmetic.

mod checkpoint;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::Tensor;

use crate::data::rng::{keyed_rng, Purpose};
use crate::dist::{all_reduce_grads, Collective, BUCKET};
use crate::model::dropout::Mode;
use crate::model::Precision;
use crate::optim::{clip_grad_norm, GradAccumulator, NamedParam, Optimizer, Schedule};
use crate::progress::Progress;
use crate::train::checkpoints;
use crate::train::techniques::Technique;
pub use checkpoint::TrainedModel;

/// What one micro-batch gave the trainer.
pub struct MicroStep {
    /// Its loss (before `share`).
    pub loss: f64,
    /// This process's part of the global batch's loss (1 in one process): the loss is
    /// averaged over the step with this weight.
    pub share: f64,
    /// The gradients of `share` times the loss.
    pub grads: GradStore,
    /// Real (non-padding) tokens it trained on (0 where a loop does not count them).
    pub tokens: u64,
}

/// What an optimizer step did.
pub struct StepOutcome {
    /// Mean loss of the step's micro-batches (over every process).
    pub loss: f64,
    /// Global gradient norm before clipping (NaN without clipping).
    pub grad_norm: f64,
    /// The learning rate the step used.
    pub lr: f64,
    /// Real tokens of the step (over every process).
    pub tokens: u64,
    /// Seconds the gradient all-reduce took (0 in one process).
    pub reduce_seconds: f64,
}

/// The optimizer side of a training run, shared by every loop.
pub struct Trainer<'a> {
    /// The optimizer over the model's parameters.
    pub opt: Box<dyn Optimizer>,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// Techniques called after each optimizer step, at evaluation and in checkpoints.
    pub techniques: Vec<Box<dyn Technique + 'a>>,
    accum: GradAccumulator,
    group: &'a dyn Collective,
    max_grad_norm: f64,
    run_dir: PathBuf,
    label: String,
    progress: Option<Progress>,
}

impl<'a> Trainer<'a> {
    /// A trainer of `opt` on `schedule` as one process of `group`, clipping the global
    /// gradient norm to `max_grad_norm` (0: no clipping); its checkpoints go to
    /// `run_dir`, and `label` (e.g. `fold 2: `) starts its error messages.
    pub fn new(
        opt: Box<dyn Optimizer>,
        schedule: Schedule,
        group: &'a dyn Collective,
        max_grad_norm: f64,
        run_dir: PathBuf,
        label: String,
    ) -> Self {
        Trainer {
            accum: GradAccumulator::new(opt.params()),
            opt,
            schedule,
            techniques: Vec::new(),
            group,
            max_grad_norm,
            run_dir,
            label,
            progress: None,
        }
    }

    /// The same trainer drawing a progress bar titled `title` over the schedule's steps,
    /// `done` of them already taken (a resumed run); each [`Trainer::step`] advances it.
    pub fn with_progress(mut self, title: &str, done: u64) -> Self {
        let bar = Progress::items(title, self.schedule.total_steps);
        bar.set_position(done);
        self.progress = Some(bar);
        self
    }

    /// Show `message` (the latest loss, learning rate, ...) beside the progress bar.
    pub fn show(&self, message: String) {
        if let Some(bar) = &self.progress {
            bar.set_message(message);
        }
    }

    /// Close the progress bar (at the end of the loop, however it ended).
    pub fn finish_progress(&self) {
        if let Some(bar) = &self.progress {
            bar.finish();
        }
    }

    /// The same trainer calling `techniques`' hooks, started at the current weights.
    pub fn with_techniques(mut self, mut techniques: Vec<Box<dyn Technique + 'a>>) -> Result<Self> {
        for t in &mut techniques {
            t.start(self.opt.params())?;
        }
        self.techniques = techniques;
        Ok(self)
    }

    /// The trained parameters, in optimizer order.
    pub fn params(&self) -> &[NamedParam] {
        self.opt.params()
    }

    /// Optimizer step `step` (0-based) over `micro_batches`, each turned into a loss and
    /// gradients by `micro`, which is handed the techniques (`None`: this process has no
    /// rows of it; it counts as a zero gradient). The techniques' `begin_step` hooks run
    /// first; the gradients are averaged over the micro-batches, summed over the
    /// processes, clipped, and applied at the schedule's learning rate; then the
    /// techniques' `after_step` hooks run. A loss that is not finite stops the run.
    pub fn step<B>(
        &mut self,
        step: u64,
        micro_batches: impl ExactSizeIterator<Item = B>,
        mut micro: impl FnMut(B, &[Box<dyn Technique + 'a>]) -> Result<Option<MicroStep>>,
    ) -> Result<StepOutcome> {
        for t in &mut self.techniques {
            t.begin_step(step, self.schedule.total_steps);
        }
        let n = micro_batches.len() as f64;
        let (mut loss, mut tokens) = (0.0, 0u64);
        for b in micro_batches {
            let Some(m) = micro(b, &self.techniques)? else {
                self.accum.add(&GradStore::default())?;
                continue;
            };
            if !m.loss.is_finite() {
                let last = checkpoints::latest(&self.run_dir)
                    .map_or("none".into(), |p| p.display().to_string());
                anyhow::bail!(
                    "{}loss is {} at step {}: training diverged; the last good checkpoint is {last} (`latest` still points at it). Lower --lr or raise --warmup-ratio, then --resume auto",
                    self.label,
                    m.loss,
                    step + 1
                );
            }
            self.accum.add(&m.grads)?;
            loss += m.loss * m.share / n;
            tokens += m.tokens;
        }
        let mut grads = self.accum.take_mean()?;
        let mut reduce_seconds = 0.0;
        if self.group.world_size() > 1 {
            let start = Instant::now();
            let mut extra = [loss as f32, tokens as f32];
            all_reduce_grads(
                self.group,
                self.opt.params(),
                &mut grads,
                &mut extra,
                BUCKET,
            )?;
            (loss, tokens) = (f64::from(extra[0]), extra[1] as u64);
            reduce_seconds = start.elapsed().as_secs_f64();
        }
        let grad_norm = if self.max_grad_norm > 0.0 {
            clip_grad_norm(&mut grads, self.opt.params(), self.max_grad_norm)?
        } else {
            f64::NAN
        };
        let lr = self.schedule.lr(step);
        self.opt.step(&grads, lr)?;
        for t in &mut self.techniques {
            t.after_step(self.opt.params())?;
        }
        if let Some(bar) = &self.progress {
            bar.inc(1);
        }
        Ok(StepOutcome {
            loss,
            grad_norm,
            lr,
            tokens,
            reduce_seconds,
        })
    }

    /// The techniques' evaluation-point hooks, then the weights evaluation (and a saved
    /// best) uses in place of the trained ones (`None`: the trained ones).
    pub fn eval_weights(&mut self) -> Result<Option<Vec<Tensor>>> {
        for t in &mut self.techniques {
            t.at_eval(self.opt.params())?;
        }
        for t in &self.techniques {
            if let Some(w) = t.eval_weights()? {
                return Ok(Some(w));
            }
        }
        Ok(None)
    }
}

/// The dropout of micro-batch `micro` of a run seeded `seed`, drawn from its own stream
/// (`stream` tells apart what draws in parallel: ranks, folds), at `precision`.
pub fn dropout(seed: u64, micro: u64, stream: u64, precision: Precision) -> Mode {
    Mode::train(keyed_rng(seed, micro, stream, Purpose::Dropout))
        .with_compute(precision.compute_dtype())
}
