//! Training one fold: fine-tune on its training part ([`super::training_set`]), evaluate
//! on its validation part every `--eval-every` steps and at each epoch's end, keep the
//! best checkpoint.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use candle_core::Device;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::args::{FinetuneArgs, FoldResume};
use super::data::Prepared;
use super::parallel::scores;
use super::resume::{self, Best, FoldState};
use super::step::{micro_batch_grads, Objective};
use super::training_set::training_set;
use crate::data::augment::AugmentReport;
use crate::data::pair_batch::{pad_batch, EncodedPair, PairEncoder};
use crate::data::rng::{keyed_rng, Purpose};
use crate::dist::{broadcast_params, slice_of, Collective};
use crate::infer::pair_model::FinetuneState;
use crate::metrics::{evaluate, Metrics};
use crate::model::build::Init;
use crate::model::checkpoint;
use crate::model::checkpoint::TRAINER_STATE;
use crate::model::classifier::SequenceClassifier;
use crate::model::params::named_vars;
use crate::optim::layer_lr_scale;
use crate::progress::{info, Progress};
use crate::text::vocab::checkpoint_files;
use crate::train::log::MetricsLog;
use crate::train::tasks::pair::{MicroBatch, PairLoss, Target, Targets};
use crate::train::techniques::{self, with_weights, Inputs};
use crate::train::trainer::{dropout, MicroStep, Trainer};

/// What a fold produced (`OUT/fold-K/result.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    /// The fold.
    pub fold: usize,
    /// Metrics of the best checkpoint on the validation part.
    pub metrics: Metrics,
    /// Optimizer step of the best checkpoint.
    pub best_step: u64,
    /// Epoch of the best checkpoint (fractional within an epoch).
    pub best_epoch: f64,
    /// Steps trained (fewer than planned after early stopping).
    pub steps: u64,
    /// Pairs trained on, augmentation included.
    pub train_examples: usize,
    /// Validation pairs.
    pub valid_examples: usize,
    /// Pairs each augmentation rule added.
    pub augment: AugmentReport,
    /// `(input index, class probabilities)` of every validation pair, from the best checkpoint.
    pub oof: Vec<(usize, Vec<f64>)>,
    /// sha256 of the flags and data that made it: `--resume auto` reuses only a match.
    #[serde(default)]
    pub fingerprint: String,
}

/// The dir of fold `k` under `out`.
pub fn fold_dir(out: &Path, k: usize) -> PathBuf {
    out.join(format!("fold-{k}"))
}

/// The model for a fold: the `--init` checkpoint with new heads, or fresh weights.
fn new_model(p: &Prepared, args: &FinetuneArgs, device: &Device) -> Result<SequenceClassifier> {
    let init = match &p.init {
        Some(dir) => Init::Checkpoint(dir, args.seed),
        None => Init::Fresh(args.seed),
    };
    let (model, report) = SequenceClassifier::new(&p.config, p.num_classes, device, init)?;
    if let Some(dir) = &p.init {
        info(format!(
            "finetune: loaded {}; newly initialised: {}; unused checkpoint tensors: {}",
            dir.display(),
            if report.newly_initialized.is_empty() {
                "none".to_string()
            } else {
                report.newly_initialized.join(", ")
            },
            report.unused.len()
        ));
    }
    Ok(model)
}

/// Fine-tune fold `k` and save its best checkpoint to `OUT/fold-K/best`; with
/// `--resume auto`, continue from the fold's newest checkpoint made with `fingerprint`.
///
/// As rank `r` of a data-parallel `group` of `n`, each batch is `n` x `--batch-size`
/// pairs and this rank takes slice `r` of it; a rank's loss is weighted by its share of
/// the batch's class weights, so the summed gradients are those of the whole batch's
/// weighted mean (one process at `n` x `--batch-size`). Soft targets and R-Drop's
/// consistency term are means over rows, which that share only approximates when class
/// weights are uneven. The validation pairs are scored in slices and gathered; rank 0
/// alone saves.
pub fn train_fold(
    p: &Prepared,
    args: &FinetuneArgs,
    k: usize,
    fingerprint: &str,
    device: &Device,
    log: &mut MetricsLog,
    group: &dyn Collective,
) -> Result<FoldResult> {
    let (rank, world, root) = (group.rank(), group.world_size(), group.is_root());
    let (train_idx, valid_idx) = p.folds.split(k);
    let (train, train_targets, augment) = training_set(p, args, &train_idx, k)?;
    let soft_only = train_targets.iter().filter(|t| t.label.is_none()).count();
    let pseudo = p.pseudo.len();
    info(format!(
        "finetune: fold {k}: {} training pairs ({} original, +{} swap, +{} closure positives, +{} closure negatives, +{pseudo} pseudo-labelled, +{soft_only} soft-only), {} validation pairs",
        train.len(),
        train_idx.len(),
        augment.swapped,
        augment.closure_positive,
        augment.closure_negative,
        valid_idx.len()
    ));
    let t = &args.techniques;
    let model = new_model(p, args, device)?;
    let params = named_vars(&model.vars);
    broadcast_params(group, &params)?;
    // Encodes the augmented copies of UDA's unlabelled pairs (built once: a WordPiece
    // encoder loads its tokenizer).
    let uda_encoder = PairEncoder::new(&p.vocab, args.max_len)?;
    let techniques = techniques::build(
        t,
        Inputs {
            params: &params,
            num_classes: p.num_classes,
            soft_loss: p.soft.as_ref().map(|_| &args.soft_loss),
            uda: (&args.uda, p.uda.as_ref(), &uda_encoder),
        },
    )?;
    techniques::refuse_data_parallel(group, &techniques)?;
    let model = techniques.iter().fold(model, |m, t| t.configure(m));
    let layers = model.config.num_hidden_layers;
    let opt = args.optim.optimizer(params.clone(), |name| {
        layer_lr_scale(name, layers, t.layer_lr_decay)
    })?;
    let task = PairLoss {
        class_weight: p.class_weight.clone(),
        label_smoothing: args.label_smoothing,
    };
    let accum_n = args.optim.grad_accum;
    let global_batch = args.batch_size * world;
    let batches_per_epoch = train.len().div_ceil(global_batch);
    let steps_per_epoch = batches_per_epoch.div_ceil(accum_n) as u64;
    let schedule = args.optim.schedule(steps_per_epoch * args.epochs)?;
    let total_steps = schedule.total_steps;
    let dir = fold_dir(&args.out, k);
    let label = format!("fold {k}: ");
    let mut trainer = Trainer::new(
        opt,
        schedule,
        group,
        args.optim.max_grad_norm,
        dir.clone(),
        label,
    )
    .with_techniques(techniques);
    let valid: Vec<&EncodedPair> = valid_idx.iter().map(|&i| &p.encoded[i]).collect();
    let valid_labels: Vec<usize> = valid_idx.iter().map(|&i| p.labels[i]).collect();
    let pad = p.vocab.special.pad;
    if root {
        std::fs::create_dir_all(&dir)?;
    }
    let mut st = FoldState {
        fingerprint: fingerprint.to_string(),
        ..FoldState::default()
    };
    if args.resume == FoldResume::Auto {
        // Rank 0 first: restoring removes a checkpoint of other flags, which the other
        // ranks must then not find.
        for turn_of_root in [true, false] {
            if root == turn_of_root {
                if let Some(r) = resume::restore(&dir, fingerprint, &model, &mut trainer)? {
                    st = r;
                }
            }
            group.barrier()?;
        }
    } else if root {
        resume::clear(&dir)?;
    }
    // The fold's steps after its checkpoint (all, starting afresh) run again: the log
    // lines an earlier run wrote for them go.
    let resumed_at = st.step;
    log.retain(|v| v["fold"].as_u64() != Some(k as u64) || v["step"].as_u64() <= Some(resumed_at))?;
    let progress = Progress::items(&format!("fold {k}"), total_steps);
    progress.inc(st.step);
    let matches = model.config.dapt_match_embedding;
    // This rank's part of a batch's loss: its rows' share of the batch's class weights.
    let weight =
        |rows: &[usize]| -> f64 { rows.iter().map(|&i| task.weight(&train_targets[i])).sum() };
    'epochs: for epoch in st.epoch..args.epochs {
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut keyed_rng(args.seed, epoch, k as u64, Purpose::Epoch));
        let batches: Vec<&[usize]> = order.chunks(global_batch).collect();
        let done = if epoch == st.epoch { st.next_group } else { 0 };
        for (s, micro_batches) in batches.chunks(accum_n).enumerate().skip(done) {
            let step_start = Instant::now();
            let outcome = trainer.step(st.step, micro_batches.iter(), |all, techniques| {
                let rows = &all[slice_of(all.len(), rank, world)];
                let share = weight(rows) / weight(all);
                let micro = st.micro;
                st.micro += 1;
                if rows.is_empty() {
                    // Fewer pairs than ranks in the epoch's last batch: nothing to add here.
                    return Ok(None);
                }
                let batch: Vec<&EncodedPair> = rows.iter().map(|&i| &train[i]).collect();
                let targets: Vec<&Target> = rows.iter().map(|&i| &train_targets[i]).collect();
                let micro_batch = MicroBatch {
                    inputs: pad_batch(&batch, pad, matches, device)?,
                    targets: Targets::of(&targets, device)?,
                    unlabelled: techniques
                        .iter()
                        .map(|t| t.unlabelled((args.seed, micro, k as u64), matches, device))
                        .find_map(Result::transpose)
                        .transpose()?,
                };
                // Keyed by rank too: ranks drawing one stream would share dropout masks.
                let stream = k as u64 | (rank as u64) << 32;
                let mut mode = dropout(args.seed, micro, stream, args.precision);
                let objective = Objective {
                    task: &task,
                    techniques,
                };
                let (loss, grads) =
                    micro_batch_grads(&model, &micro_batch, &objective, &params, &mut mode, share)?;
                Ok(Some(MicroStep {
                    loss,
                    share,
                    grads,
                    tokens: 0,
                }))
            })?;
            st.step += 1;
            let step = st.step;
            st.train_seconds += step_start.elapsed().as_secs_f64();
            progress.inc(1);
            st.window = (st.window.0 + outcome.loss, st.window.1 + 1);
            let epoch_pos = epoch as f64 + (s + 1) as f64 / steps_per_epoch as f64;
            let end_of_epoch = s + 1 == steps_per_epoch as usize;
            if st.window.1 == 10 || end_of_epoch {
                let loss = st.window.0 / st.window.1 as f64;
                let lr = outcome.lr;
                progress.set_message(format!("loss {loss:.4} lr {lr:.2e}"));
                log.write(
                    &json!({"fold": k, "step": step, "epoch": epoch_pos, "loss": loss, "lr": lr,
                        "train_seconds": st.train_seconds}),
                )?;
                st.window = (0.0, 0);
            }
            if end_of_epoch || (args.eval_every > 0 && step.is_multiple_of(args.eval_every)) {
                let averaged = trainer.eval_weights()?;
                // Evaluate (and save, if best) the averaged weights in place of the
                // trained ones, which training then continues from.
                let evaluate_here = || -> Result<(Vec<Vec<f64>>, Metrics, bool)> {
                    let probs = scores(
                        &model,
                        &valid,
                        args.eval_batch_size,
                        pad,
                        device,
                        group,
                        p.num_classes,
                    )?;
                    let m = evaluate(&probs, &valid_labels);
                    let value = args.metric.of(&m).unwrap_or(f64::NAN);
                    let improved = st
                        .best
                        .as_ref()
                        .is_none_or(|b| args.metric.better(value, b.value(args.metric)));
                    if improved && root {
                        save_best(&model, p, args, k, step, epoch_pos, value)?;
                    }
                    Ok((probs, m, improved))
                };
                let (probs, m, improved) = match &averaged {
                    Some(w) => with_weights(&params, w, evaluate_here)?,
                    None => evaluate_here()?,
                };
                let mut record =
                    json!({"event": "eval", "fold": k, "step": step, "epoch": epoch_pos});
                record["metrics"] = serde_json::to_value(m)?;
                log.write(&record)?;
                if improved {
                    st.best = Some(Best {
                        metrics: m,
                        step,
                        epoch: epoch_pos,
                        probs,
                    });
                    st.since_best = 0;
                } else {
                    st.since_best += 1;
                    if args.patience > 0 && st.since_best >= args.patience {
                        info(format!(
                            "finetune: fold {k}: no better {} in {} evaluations; stopping at step {step}",
                            args.metric.name(),
                            args.patience
                        ));
                        break 'epochs;
                    }
                }
            }
            let save_now = match args.save_every {
                None => end_of_epoch,
                Some(n) => n > 0 && step.is_multiple_of(n),
            };
            if save_now && step < total_steps && root {
                (st.epoch, st.next_group) = (epoch, s + 1);
                trainer.save(&model, step, args.keep_last, &[], &st)?;
            }
        }
    }
    progress.finish();
    let best = st.best.expect("at least one evaluation");
    Ok(FoldResult {
        fold: k,
        metrics: best.metrics,
        best_step: best.step,
        best_epoch: best.epoch,
        steps: st.step,
        train_examples: train.len(),
        valid_examples: valid_idx.len(),
        augment,
        oof: valid_idx.into_iter().zip(best.probs).collect(),
        fingerprint: st.fingerprint,
    })
}

/// Save the model as `OUT/fold-K/best` with its vocabulary and trainer state.
fn save_best(
    model: &SequenceClassifier,
    p: &Prepared,
    args: &FinetuneArgs,
    k: usize,
    step: u64,
    epoch: f64,
    value: f64,
) -> Result<()> {
    let dir = fold_dir(&args.out, k);
    let state = FinetuneState {
        fold: k,
        step,
        epoch,
        metric: args.metric.name().to_string(),
        best_metric: value,
        max_len: args.max_len,
    };
    let extra = checkpoint_files(&p.vocab.dir);
    let extra: Vec<(&str, &Path)> = extra.iter().map(|(n, p)| (*n, p.as_path())).collect();
    let state = serde_json::to_string_pretty(&state)? + "\n";
    checkpoint::save_with(
        &dir.join("best"),
        &model.config,
        &named_vars(&model.vars),
        &extra,
        |tmp| Ok(std::fs::write(tmp.join(TRAINER_STATE), state)?),
    )?;
    Ok(())
}
