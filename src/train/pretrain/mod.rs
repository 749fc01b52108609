//! `dapt pretrain`: the masked-LM training loop over memory-mapped shards.
//!
//! Every random draw is keyed by the seed and a counter (epoch for the data order,
//! micro-batch for masks and dropout), and checkpoints hold the weights, the optimizer
//! state and those counters, so a killed run resumed with `--resume auto` ends with
//! exactly the parameters of an uninterrupted one.

pub mod args;
pub mod config;
mod continue_from;
mod eval;
mod feed;
mod objective;
mod setup;
mod state;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Result;
use serde_json::json;

use crate::data::collate::Batch;
use crate::dist::Collective;
use crate::progress::info;
use crate::train::checkpoints;
use crate::train::log::MetricsLog;
use crate::train::trainer::{dropout, MicroStep, StepOutcome};
pub use args::{PretrainArgs, PretrainRecipe};
pub use config::PretrainConfig;
pub use eval::{EvalResult, RtdEval};
use feed::Feed;
use objective::PretrainModel;
use setup::Setup;
pub use state::TrainerState;

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Reached `--max-steps` / `--epochs`.
    Finished,
    /// Stopped at `--max-time`, with a checkpoint.
    TimeUp,
    /// Stopped by SIGINT/SIGTERM, with a checkpoint.
    Interrupted,
}

/// Run `dapt pretrain`; `stop` is raised by a signal handler. In a data-parallel run
/// (`--dist`), a rank that fails ends every rank (exit code as for one process) rather
/// than leave them waiting for it.
pub fn run(cfg: &PretrainConfig, stop: &AtomicBool) -> Result<Outcome> {
    cfg.run.dist.run(|group| train(cfg, stop, group))
}

/// The training run of one rank of `group`.
fn train(cfg: &PretrainConfig, stop: &AtomicBool, group: &dyn Collective) -> Result<Outcome> {
    crate::dist::check_same(group, &cfg.identity(), "flags")?;
    let mut s = Setup::new(cfg, group)?;
    let (rank, world) = (group.rank(), group.world_size());
    // Rank 0 alone writes: the lock, the log, the checkpoints.
    let _lock = group
        .is_root()
        .then(|| crate::lock::lock_dir(&cfg.run.out))
        .transpose()?;
    let mut log = match group.is_root() {
        true => MetricsLog::open(&cfg.run.out.join("metrics.jsonl"), Some(s.state.step))?
            .with_tensorboard(cfg.run.tensorboard.as_deref())?,
        false => MetricsLog::discard(),
    };
    if s.state.finished {
        info(format!(
            "pretrain: {} already finished at step {}; nothing to do",
            cfg.run.out.display(),
            s.state.step
        ));
        return Ok(Outcome::Finished);
    }
    let total_steps = s.trainer.schedule.total_steps;
    s.trainer = s.trainer.with_progress("pretrain", s.state.step);
    let segment_start = Instant::now();
    let seconds_before = s.state.train_seconds;
    let mut feed = Feed::new(
        &s.train,
        &s.batching,
        &s.collator,
        cfg.run.seed,
        (rank, world),
        &s.state,
    )?;
    let mut window = Window::default();
    let mut saved_at = s.state.step;
    // A run from a pretrained checkpoint logs where it starts: the held-out MLM curve of
    // an adaptation begins at the checkpoint, not after the first --eval-every steps.
    if cfg.recipe.init_from.is_some() && s.state.step == 0 {
        evaluate_and_log(&s, cfg, &mut log)?;
    }
    let outcome = loop {
        if s.state.step >= total_steps {
            break Outcome::Finished;
        }
        let elapsed = seconds_before + segment_start.elapsed().as_secs_f64();
        // All ranks stop together: at a signal to any, or when any ran out of time.
        let mut halt = [
            f32::from(u8::from(stop.load(Ordering::SeqCst))),
            f32::from(u8::from(cfg.recipe.max_time.is_some_and(|t| elapsed >= t))),
        ];
        if world > 1 {
            group.all_reduce_sum(&mut halt)?;
        }
        if halt[0] > 0.0 {
            break Outcome::Interrupted;
        }
        if halt[1] > 0.0 {
            break Outcome::TimeUp;
        }
        let accum = cfg.recipe.optim.grad_accum;
        let step = s.trainer.step(s.state.step, 0..accum, |_, _| {
            let micro = s.state.micro_step;
            let batch = feed.next(&mut s.state)?;
            let t = batch.to_tensors(&s.device)?;
            // Keyed by rank too: ranks drawing one stream would share their dropout masks.
            let mut mode = dropout(cfg.run.seed, micro, rank as u64, cfg.run.precision);
            let out = s
                .model
                .loss(&batch, &t, &s.collator, (cfg.run.seed, micro), &mut mode)?;
            if let Some((g, d)) = out.parts {
                window.parts.0 += g / accum as f64;
                window.parts.1 += d / accum as f64;
            }
            let share = masked_share(group, &batch)?;
            Ok(Some(MicroStep {
                loss: out.loss.to_scalar::<f32>()? as f64,
                share,
                grads: (&out.loss * share)?.backward()?,
                tokens: batch.attention_mask.iter().map(|&m| m as u64).sum(),
            }))
        })?;
        s.state.tokens_seen += step.tokens;
        s.state.step += 1;
        window.add(&step);
        let due = match cfg.recipe.log_every {
            0 => window.start.elapsed().as_secs_f64() >= 2.0,
            n => s.state.step.is_multiple_of(n),
        };
        if due || s.state.step == total_steps {
            let seconds = seconds_before + segment_start.elapsed().as_secs_f64();
            let record = window.record(&s, &step, seconds, world);
            let figure = |key: &str| record[key].as_f64().unwrap_or(f64::NAN);
            s.trainer.show(format!(
                "loss {:.4} lr {:.2e} {:.0} tok/s",
                figure("loss"),
                step.lr,
                figure("tokens_per_s")
            ));
            log.write(&record)?;
            window = Window::default();
        }
        let step = s.state.step;
        // An interval of 0 means only at the end.
        let every = |n: u64| n > 0 && step.is_multiple_of(n) && step < total_steps;
        if every(cfg.recipe.eval_every) {
            evaluate_and_log(&s, cfg, &mut log)?;
        }
        if every(cfg.recipe.save_every) {
            s.state.train_seconds = seconds_before + segment_start.elapsed().as_secs_f64();
            if group.is_root() {
                save(&s, cfg)?;
            }
            saved_at = step;
        }
    };
    s.trainer.finish_progress();
    s.state.train_seconds = seconds_before + segment_start.elapsed().as_secs_f64();
    s.state.finished = outcome == Outcome::Finished;
    let result = evaluate_and_log(&s, cfg, &mut log)?;
    if group.is_root() && (saved_at != s.state.step || s.state.finished) {
        save(&s, cfg)?;
    }
    log.write(&json!({
        "event": "end", "step": s.state.step, "outcome": format!("{outcome:?}"),
        "train_seconds": s.state.train_seconds, "tokens_seen": s.state.tokens_seen,
    }))?;
    let detection = result.rtd.as_ref().map_or(String::new(), |d| {
        format!(
            "; discriminator accuracy {:.4} (all-original baseline {:.4}), AUC {:.4}",
            d.disc_accuracy, d.disc_majority_accuracy, d.disc_auc
        )
    });
    info(format!(
        "pretrain: {:?} at step {}/{} after {:.0}s, {} tokens ({:.0} tok/s); held-out masked-token accuracy {:.4} (most-frequent-token baseline {:.4}), loss {:.4}, perplexity {:.2}{detection}; checkpoint {}",
        outcome,
        s.state.step,
        total_steps,
        s.state.train_seconds,
        s.state.tokens_seen,
        s.state.tokens_seen as f64 / s.state.train_seconds.max(1e-9),
        result.masked_accuracy,
        result.unigram_accuracy,
        result.eval_loss,
        result.perplexity,
        checkpoints::latest(&cfg.run.out).map_or("-".into(), |p| p.display().to_string())
    ));
    Ok(outcome)
}

/// Evaluate on the held-out documents and append the result to the log.
fn evaluate_and_log(s: &Setup, cfg: &PretrainConfig, log: &mut MetricsLog) -> Result<EvalResult> {
    let r = eval::evaluate(
        &s.model,
        &s.heldout,
        &s.collator,
        cfg.recipe.batch_size,
        cfg.run.seed,
        &s.device,
    )?;
    let mut record = serde_json::to_value(&r)?;
    record["step"] = json!(s.state.step);
    record["event"] = json!("eval");
    log.write(&record)?;
    Ok(r)
}

/// Save a checkpoint of the current state, point `latest` at it and rotate old ones.
fn save(s: &Setup, cfg: &PretrainConfig) -> Result<()> {
    let files: Vec<(&str, &Path)> = s
        .vocab_files
        .iter()
        .map(|(n, p)| (*n, p.as_path()))
        .collect();
    s.trainer
        .save(&s.model, s.state.step, cfg.run.keep_last, &files, &s.state)
}

/// The loss, tokens and time of the steps since the last log line.
struct Window {
    loss: f64,
    n: u64,
    tokens: u64,
    /// The generator's and discriminator's losses (rtd).
    parts: (f64, f64),
    /// Seconds spent in the gradient all-reduce (data-parallel runs).
    reduce_seconds: f64,
    start: Instant,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            loss: 0.0,
            n: 0,
            tokens: 0,
            parts: (0.0, 0.0),
            reduce_seconds: 0.0,
            start: Instant::now(),
        }
    }
}

impl Window {
    /// Count optimizer step `step`.
    fn add(&mut self, step: &StepOutcome) {
        self.loss += step.loss;
        self.n += 1;
        self.tokens += step.tokens;
        self.reduce_seconds += step.reduce_seconds;
    }

    /// The `metrics.jsonl` record of the window ending with `step` (of `world` processes,
    /// `seconds` trained in all).
    fn record(
        &self,
        s: &Setup,
        step: &StepOutcome,
        seconds: f64,
        world: usize,
    ) -> serde_json::Value {
        let tok_s = self.tokens as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
        let mut record = json!({
            "step": s.state.step, "epoch": s.state.epoch, "loss": self.loss / self.n as f64,
            "lr": step.lr, "grad_norm": step.grad_norm, "tokens_per_s": tok_s,
            "tokens_seen": s.state.tokens_seen, "train_seconds": seconds,
        });
        if world > 1 {
            record["allreduce_seconds"] = json!(self.reduce_seconds);
        }
        if matches!(s.model, PretrainModel::Rtd(_)) {
            record["gen_loss"] = json!(self.parts.0 / self.n as f64);
            record["disc_loss"] = json!(self.parts.1 / self.n as f64);
        }
        record
    }
}

/// This process's share of a global batch's masked tokens: its loss is a mean over its
/// own masked tokens, so weighted by that share, the sum over processes is the mean over
/// the global batch (1 in one process).
fn masked_share(group: &dyn Collective, batch: &Batch) -> Result<f64> {
    if group.world_size() == 1 {
        return Ok(1.0);
    }
    let mine = batch.masked_labels.len() as f32;
    let mut all = [mine];
    group.all_reduce_sum(&mut all)?;
    Ok(f64::from(mine) / f64::from(all[0]).max(1.0))
}
