//! `dapt pretrain`: the masked-LM training loop over memory-mapped shards.
//!
//! Every random draw is keyed by the seed and a counter (epoch for the data order,
//! micro-batch for masks and dropout), and checkpoints hold the weights, the optimizer
//! state and those counters, so a killed run resumed with `--resume auto` ends with
//! exactly the parameters of an uninterrupted one.

pub mod args;
mod continue_from;
mod eval;
mod objective;
mod setup;
mod state;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Result;
use serde_json::json;

use crate::data::batching::EpochPlan;
use crate::data::doc::DocStore;
use crate::dist::Collective;
use crate::progress::{info, Progress};
use crate::train::checkpoints;
use crate::train::log::MetricsLog;
use crate::train::trainer::{dropout, MicroStep, StepOutcome};
pub use args::PretrainArgs;
pub use eval::{EvalResult, RtdEval};
use objective::PretrainModel;
use setup::{epoch_plan, Setup};
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
pub fn run(args: &PretrainArgs, stop: &AtomicBool) -> Result<Outcome> {
    args.dist.run(|group| train(args, stop, group))
}

/// The training run of one rank of `group`.
fn train(args: &PretrainArgs, stop: &AtomicBool, group: &dyn Collective) -> Result<Outcome> {
    crate::dist::check_same(group, &format!("{args:?}"), "flags")?;
    let mut s = Setup::new(args, group)?;
    let (rank, world) = (group.rank(), group.world_size());
    // Rank 0 alone writes: the lock, the log, the checkpoints.
    let _lock = group
        .is_root()
        .then(|| crate::lock::lock_dir(&args.out))
        .transpose()?;
    let mut log = match group.is_root() {
        true => MetricsLog::open(&args.out.join("metrics.jsonl"), Some(s.state.step))?
            .with_tensorboard(args.tensorboard.as_deref())?,
        false => MetricsLog::discard(),
    };
    if s.state.finished {
        info(format!(
            "pretrain: {} already finished at step {}; nothing to do",
            args.out.display(),
            s.state.step
        ));
        return Ok(Outcome::Finished);
    }
    let total_steps = s.trainer.schedule.total_steps;
    let progress = Progress::items("pretrain", total_steps);
    progress.set_position(s.state.step);
    let segment_start = Instant::now();
    let seconds_before = s.state.train_seconds;
    let plan_of = |epoch| epoch_plan(&s.train, &s.batching, args.seed, epoch);
    let mut plan = plan_of(s.state.epoch)?;
    let mut window = Window::default();
    let mut saved_at = s.state.step;
    // A run from a pretrained checkpoint logs where it starts: the held-out MLM curve of
    // an adaptation begins at the checkpoint, not after the first --eval-every steps.
    if args.init_from.is_some() && s.state.step == 0 {
        evaluate_and_log(&s, args, &mut log)?;
    }
    let outcome = loop {
        if s.state.step >= total_steps {
            break Outcome::Finished;
        }
        let elapsed = seconds_before + segment_start.elapsed().as_secs_f64();
        // All ranks stop together: at a signal to any, or when any ran out of time.
        let mut halt = [
            f32::from(u8::from(stop.load(Ordering::SeqCst))),
            f32::from(u8::from(args.max_time.is_some_and(|t| elapsed >= t))),
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
        let step = s
            .trainer
            .step(s.state.step, 0..args.optim.grad_accum, |_, _| {
                if s.state.batch_in_epoch >= plan.num_batches() {
                    s.state.epoch += 1;
                    s.state.batch_in_epoch = 0;
                    // The old plan goes before the next is built: one plan in memory at a time.
                    plan = EpochPlan::default();
                    plan = plan_of(s.state.epoch)?;
                }
                // This rank's slice of the global batch, collated with the rows' global keys,
                // so the ranks together draw what one process would.
                let global = plan.batch(s.state.batch_in_epoch);
                let per = global.len() / world;
                let seqs = &global[rank * per..(rank + 1) * per];
                // A corrupt block stops the run with its shard and block named, before its
                // documents are read (each block is checked once per run).
                for &d in seqs.iter().flatten() {
                    s.train.verify(d)?;
                }
                let micro = s.state.micro_step;
                let batch = s
                    .collator
                    .collate_rows(&s.train, seqs, args.seed, micro, rank * per);
                // The batch holds copies: its shard pages may leave the RSS (a page fault maps
                // 64 KB or a whole large folio, so a few batches would map most of a shard).
                s.train.release_pages();
                let t = batch.to_tensors(&s.device)?;
                // Keyed by rank too: ranks drawing one stream would share their dropout masks.
                let mut mode = dropout(args.seed, micro, rank as u64, args.precision);
                let out = s
                    .model
                    .loss(&batch, &t, &s.collator, (args.seed, micro), &mut mode)?;
                let loss = out.loss.to_scalar::<f32>()? as f64;
                // The loss is a mean over this rank's masked tokens: weighted by their share of
                // all ranks' masked tokens, the sum over ranks is the mean over the global batch.
                let share = if world > 1 {
                    let mine = batch.masked_labels.len() as f32;
                    let mut all = [mine];
                    group.all_reduce_sum(&mut all)?;
                    f64::from(mine) / f64::from(all[0]).max(1.0)
                } else {
                    1.0
                };
                let grads = (&out.loss * share)?.backward()?;
                if let Some((g, d)) = out.parts {
                    window.parts.0 += g / args.optim.grad_accum as f64;
                    window.parts.1 += d / args.optim.grad_accum as f64;
                }
                s.state.micro_step += 1;
                s.state.batch_in_epoch += 1;
                Ok(Some(MicroStep {
                    loss,
                    share,
                    grads,
                    tokens: batch.attention_mask.iter().map(|&m| m as u64).sum(),
                }))
            })?;
        s.state.tokens_seen += step.tokens;
        s.state.step += 1;
        window.add(&step);
        progress.inc(1);
        let secs = window.start.elapsed().as_secs_f64();
        let due = match args.log_every {
            0 => secs >= 2.0,
            n => s.state.step.is_multiple_of(n),
        };
        if due || s.state.step == total_steps {
            let tok_s = window.tokens as f64 / secs.max(1e-9);
            let loss = window.loss / window.n as f64;
            let lr = step.lr;
            progress.set_message(format!("loss {loss:.4} lr {lr:.2e} {tok_s:.0} tok/s"));
            let mut record = json!({
                "step": s.state.step, "epoch": s.state.epoch, "loss": loss, "lr": lr,
                "grad_norm": step.grad_norm, "tokens_per_s": tok_s, "tokens_seen": s.state.tokens_seen,
                "train_seconds": seconds_before + segment_start.elapsed().as_secs_f64(),
            });
            if world > 1 {
                record["allreduce_seconds"] = json!(window.reduce_seconds);
            }
            if matches!(s.model, PretrainModel::Rtd(_)) {
                record["gen_loss"] = json!(window.parts.0 / window.n as f64);
                record["disc_loss"] = json!(window.parts.1 / window.n as f64);
            }
            log.write(&record)?;
            window = Window::default();
        }
        let step = s.state.step;
        // An interval of 0 means only at the end.
        let every = |n: u64| n > 0 && step.is_multiple_of(n) && step < total_steps;
        if every(args.eval_every) {
            evaluate_and_log(&s, args, &mut log)?;
        }
        if every(args.save_every) {
            s.state.train_seconds = seconds_before + segment_start.elapsed().as_secs_f64();
            if group.is_root() {
                save(&s, args)?;
            }
            saved_at = step;
        }
    };
    progress.finish();
    s.state.train_seconds = seconds_before + segment_start.elapsed().as_secs_f64();
    s.state.finished = outcome == Outcome::Finished;
    let result = evaluate_and_log(&s, args, &mut log)?;
    if group.is_root() && (saved_at != s.state.step || s.state.finished) {
        save(&s, args)?;
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
        checkpoints::latest(&args.out).map_or("-".into(), |p| p.display().to_string())
    ));
    Ok(outcome)
}

/// Evaluate on the held-out documents and append the result to the log.
fn evaluate_and_log(s: &Setup, args: &PretrainArgs, log: &mut MetricsLog) -> Result<EvalResult> {
    let r = eval::evaluate(
        &s.model,
        &s.heldout,
        &s.collator,
        args.batch_size,
        args.seed,
        &s.device,
    )?;
    let mut record = serde_json::to_value(&r)?;
    record["step"] = json!(s.state.step);
    record["event"] = json!("eval");
    log.write(&record)?;
    Ok(r)
}

/// Save a checkpoint of the current state, point `latest` at it and rotate old ones.
fn save(s: &Setup, args: &PretrainArgs) -> Result<()> {
    let files: Vec<(&str, &Path)> = s
        .vocab_files
        .iter()
        .map(|(n, p)| (*n, p.as_path()))
        .collect();
    s.trainer
        .save(&s.model, s.state.step, args.keep_last, &files, &s.state)
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
}
