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

use super::config::FinetuneConfig;
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
use crate::metrics::Metrics;
use crate::model::build::Init;
use crate::model::checkpoint;
use crate::model::checkpoint::TRAINER_STATE;
use crate::model::classifier::SequenceClassifier;
use crate::model::params::named_vars;
use crate::optim::{layer_lr_scale, NamedParam};
use crate::progress::info;
use crate::text::vocab::checkpoint_files;
use crate::train::log::MetricsLog;
use crate::train::run::ResumeFrom;
use crate::train::tasks::pair::{MicroBatch, Target, Targets};
use crate::train::tasks::Task;
use crate::train::techniques::{self, with_weights, Inputs, Technique};
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
fn new_model(p: &Prepared, cfg: &FinetuneConfig, device: &Device) -> Result<SequenceClassifier> {
    let init = match &p.init {
        Some(dir) => Init::Checkpoint(dir, cfg.run.seed),
        None => Init::Fresh(cfg.run.seed),
    };
    let (model, report) = p.task.model(&p.config, device, init)?;
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
    cfg: &FinetuneConfig,
    k: usize,
    fingerprint: &str,
    log: &mut MetricsLog,
    group: &dyn Collective,
) -> Result<FoldResult> {
    let (root, device) = (group.is_root(), &cfg.run.device);
    let (train_idx, valid_idx) = p.folds.split(k);
    let (train, train_targets, augment) = training_set(p, cfg, &train_idx, k)?;
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
    let t = &cfg.recipe.techniques;
    let model = new_model(p, cfg, device)?;
    let params = named_vars(&model.vars);
    broadcast_params(group, &params)?;
    // Encodes the augmented copies of UDA's unlabelled pairs (built once: a WordPiece
    // encoder loads its tokenizer).
    let uda_encoder = PairEncoder::new(&p.vocab, cfg.recipe.max_len)?;
    let techniques = fold_techniques(p, cfg, &uda_encoder)?;
    let model = techniques.iter().fold(model, |m, t| t.configure(m));
    let layers = model.config.num_hidden_layers;
    let opt = cfg.recipe.optim.optimizer(params.clone(), |name| {
        layer_lr_scale(name, layers, t.layer_lr_decay)
    })?;
    let accum_n = cfg.recipe.optim.grad_accum;
    let global_batch = cfg.recipe.batch_size * group.world_size();
    let steps_per_epoch = train.len().div_ceil(global_batch).div_ceil(accum_n) as u64;
    let schedule = cfg
        .recipe
        .optim
        .schedule(steps_per_epoch * cfg.recipe.epochs)?;
    let total_steps = schedule.total_steps;
    let dir = fold_dir(&p.job.out, k);
    let (clip, label) = (cfg.recipe.optim.max_grad_norm, format!("fold {k}: "));
    let mut trainer =
        Trainer::new(opt, schedule, group, clip, dir.clone(), label).with_techniques(techniques)?;
    let f = Fold {
        p,
        cfg,
        k,
        group,
        model,
        params: params.clone(),
        train,
        train_targets,
        valid: valid_idx.iter().map(|&i| &p.encoded[i]).collect(),
        valid_labels: valid_idx.iter().map(|&i| p.labels[i]).collect(),
    };
    if root {
        std::fs::create_dir_all(&dir)?;
    }
    let mut st = FoldState {
        fingerprint: fingerprint.to_string(),
        ..FoldState::default()
    };
    if cfg.run.resume == ResumeFrom::Auto {
        // Rank 0 first: restoring removes a checkpoint of other flags, which the other
        // ranks must then not find.
        for turn_of_root in [true, false] {
            if root == turn_of_root {
                if let Some(r) = resume::restore(&dir, fingerprint, &f.model, &mut trainer)? {
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
    let mut trainer = trainer.with_progress(&format!("fold {k}"), st.step);
    'epochs: for epoch in st.epoch..cfg.recipe.epochs {
        let mut order: Vec<usize> = (0..f.train.len()).collect();
        order.shuffle(&mut keyed_rng(
            cfg.run.seed,
            epoch,
            k as u64,
            Purpose::Epoch,
        ));
        let batches: Vec<&[usize]> = order.chunks(global_batch).collect();
        let done = if epoch == st.epoch { st.next_group } else { 0 };
        for (s, micro_batches) in batches.chunks(accum_n).enumerate().skip(done) {
            let step_start = Instant::now();
            let outcome = trainer.step(st.step, micro_batches.iter(), |rows, techniques| {
                st.micro += 1;
                f.micro_step(rows, st.micro - 1, techniques)
            })?;
            st.step += 1;
            let step = st.step;
            st.train_seconds += step_start.elapsed().as_secs_f64();
            st.window = (st.window.0 + outcome.loss, st.window.1 + 1);
            let epoch_pos = epoch as f64 + (s + 1) as f64 / steps_per_epoch as f64;
            let end_of_epoch = s + 1 == steps_per_epoch as usize;
            if st.window.1 == 10 || end_of_epoch {
                let (loss, lr) = (st.window.0 / st.window.1 as f64, outcome.lr);
                trainer.show(format!("loss {loss:.4} lr {lr:.2e}"));
                log.write(
                    &json!({"fold": k, "step": step, "epoch": epoch_pos, "loss": loss, "lr": lr,
                        "train_seconds": st.train_seconds}),
                )?;
                st.window = (0.0, 0);
            }
            if end_of_epoch
                || (cfg.recipe.eval_every > 0 && step.is_multiple_of(cfg.recipe.eval_every))
            {
                let (probs, metrics, improved) =
                    f.evaluate(&mut trainer, st.best.as_ref(), step, epoch_pos)?;
                let mut record =
                    json!({"event": "eval", "fold": k, "step": step, "epoch": epoch_pos});
                record["metrics"] = serde_json::to_value(metrics)?;
                log.write(&record)?;
                if improved {
                    let epoch = epoch_pos;
                    st.best = Some(Best {
                        metrics,
                        step,
                        epoch,
                        probs,
                    });
                    st.since_best = 0;
                } else {
                    st.since_best += 1;
                    if cfg.recipe.patience > 0 && st.since_best >= cfg.recipe.patience {
                        info(format!(
                            "finetune: fold {k}: no better {} in {} evaluations; stopping at step {step}",
                            cfg.recipe.metric.name(),
                            cfg.recipe.patience
                        ));
                        break 'epochs;
                    }
                }
            }
            let save_now = match cfg.save_every {
                None => end_of_epoch,
                Some(n) => n > 0 && step.is_multiple_of(n),
            };
            if save_now && step < total_steps && root {
                (st.epoch, st.next_group) = (epoch, s + 1);
                trainer.save(&f.model, step, cfg.run.keep_last, &[], &st)?;
            }
        }
    }
    trainer.finish_progress();
    let best = st.best.expect("at least one evaluation");
    Ok(FoldResult {
        fold: k,
        metrics: best.metrics,
        best_step: best.step,
        best_epoch: best.epoch,
        steps: st.step,
        train_examples: f.train.len(),
        valid_examples: valid_idx.len(),
        augment,
        oof: valid_idx.into_iter().zip(best.probs).collect(),
        fingerprint: st.fingerprint,
    })
}

/// The techniques the flags turn on for a fold of `p` (`encoder` encodes UDA's augmented
/// copies).
pub fn fold_techniques<'a>(
    p: &'a Prepared,
    cfg: &'a FinetuneConfig,
    encoder: &'a PairEncoder,
) -> Result<Vec<Box<dyn Technique + 'a>>> {
    techniques::build(
        &cfg.recipe.techniques,
        Inputs {
            num_classes: p.task.num_labels(),
            soft_loss: p.soft.as_ref().map(|_| &cfg.recipe.soft_loss),
            uda: (&cfg.recipe.uda, p.uda.as_ref(), encoder),
        },
    )
}

/// What a fold's steps and evaluations read: the data (with the task), the model.
struct Fold<'a> {
    p: &'a Prepared,
    cfg: &'a FinetuneConfig,
    k: usize,
    group: &'a dyn Collective,
    model: SequenceClassifier,
    params: Vec<NamedParam>,
    train: Vec<EncodedPair>,
    train_targets: Vec<Target>,
    valid: Vec<&'a EncodedPair>,
    valid_labels: Vec<usize>,
}

impl Fold<'_> {
    /// The loss and gradients of this rank's slice of the training rows `all` of a
    /// global micro-batch, the `micro`-th of the fold (`None`: the slice is empty). Its
    /// loss is weighted by the slice's share of the rows' class weights.
    fn micro_step(
        &self,
        all: &[usize],
        micro: u64,
        techniques: &[Box<dyn Technique + '_>],
    ) -> Result<Option<MicroStep>> {
        let (rank, world) = (self.group.rank(), self.group.world_size());
        let weight = |rows: &[usize]| -> f64 {
            rows.iter()
                .map(|&i| self.p.task.weight(&self.train_targets[i]))
                .sum()
        };
        let rows = &all[slice_of(all.len(), rank, world)];
        let share = weight(rows) / weight(all);
        if rows.is_empty() {
            // Fewer pairs than ranks in the epoch's last batch: nothing to add here.
            return Ok(None);
        }
        let (cfg, device) = (self.cfg, &self.cfg.run.device);
        let matches = self.model.config.dapt_match_embedding;
        let batch: Vec<&EncodedPair> = rows.iter().map(|&i| &self.train[i]).collect();
        let targets: Vec<&Target> = rows.iter().map(|&i| &self.train_targets[i]).collect();
        let key = (cfg.run.seed, micro, self.k as u64);
        let micro_batch = MicroBatch {
            inputs: pad_batch(&batch, self.p.vocab.special.pad, matches, device)?,
            targets: Targets::of(&targets, device)?,
            unlabelled: techniques
                .iter()
                .map(|t| t.unlabelled(key, matches, device))
                .find_map(Result::transpose)
                .transpose()?,
        };
        // Keyed by rank too: ranks drawing one stream would share dropout masks.
        let stream = self.k as u64 | (rank as u64) << 32;
        let mut mode = dropout(cfg.run.seed, micro, stream, cfg.run.precision);
        let objective = Objective {
            task: &self.p.task,
            techniques,
        };
        let (loss, grads) = micro_batch_grads(
            &self.model,
            &micro_batch,
            &objective,
            &self.params,
            &mut mode,
            share,
        )?;
        Ok(Some(MicroStep {
            loss,
            share,
            grads,
            tokens: 0,
        }))
    }

    /// Score the validation part with the weights the techniques evaluate (the trained
    /// ones, or an average that replaces them meanwhile) and save them as the fold's
    /// best (rank 0) when they beat `best`: the probabilities, metrics and whether they
    /// improved.
    fn evaluate(
        &self,
        trainer: &mut Trainer,
        best: Option<&Best>,
        step: u64,
        epoch: f64,
    ) -> Result<(Vec<Vec<f64>>, Metrics, bool)> {
        let (p, cfg) = (self.p, self.cfg);
        let evaluate_here = || -> Result<(Vec<Vec<f64>>, Metrics, bool)> {
            let probs = scores(
                &self.model,
                &self.valid,
                cfg.recipe.eval_batch_size,
                p.vocab.special.pad,
                &cfg.run.device,
                self.group,
                p.task.num_labels(),
            )?;
            let m = p.task.evaluate(&probs, &self.valid_labels);
            let value = cfg.recipe.metric.of(&m).unwrap_or(f64::NAN);
            let improved =
                best.is_none_or(|b| cfg.recipe.metric.better(value, b.value(cfg.recipe.metric)));
            if improved && self.group.is_root() {
                save_best(&self.model, p, cfg, self.k, step, epoch, value)?;
            }
            Ok((probs, m, improved))
        };
        match trainer.eval_weights()? {
            Some(w) => with_weights(&self.params, &w, evaluate_here),
            None => evaluate_here(),
        }
    }
}

/// Save the model as `OUT/fold-K/best` with its vocabulary and trainer state.
fn save_best(
    model: &SequenceClassifier,
    p: &Prepared,
    cfg: &FinetuneConfig,
    k: usize,
    step: u64,
    epoch: f64,
    value: f64,
) -> Result<()> {
    let dir = fold_dir(&p.job.out, k);
    let state = FinetuneState {
        fold: k,
        step,
        epoch,
        metric: cfg.recipe.metric.name().to_string(),
        best_metric: value,
        max_len: cfg.recipe.max_len,
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
