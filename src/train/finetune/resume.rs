//! Mid-fold checkpoints ([`crate::train::trainer`]'s, in `OUT/fold-K/step-NNNNNNNN/`)
//! with a [`FoldState`]: the fold's counters and best evaluation so far. Every random draw
//! of the fold loop is keyed by (seed, counters), so a fold resumed from one ends
//! bit-identical to an uninterrupted run. The dirs rotate like pretraining's
//! ([`crate::train::checkpoints`]) and are removed once the fold's `result.json` exists.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::config::FinetuneConfig;
use super::data::Prepared;
use crate::error::InputError;
use crate::metrics::MetricKind;
use crate::metrics::Metrics;
use crate::model::checkpoint::TRAINER_STATE;
use crate::model::classifier::SequenceClassifier;
use crate::progress::info;
use crate::text::vocab::sha256_hex;
use crate::train::checkpoints;
use crate::train::trainer::Trainer;

/// The best evaluation of a fold so far: all metrics, when, and the validation
/// probabilities (the fold's out-of-fold predictions).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Best {
    /// Metrics on the validation part.
    pub metrics: Metrics,
    /// Optimizer step of the evaluation.
    pub step: u64,
    /// Epoch of the evaluation (fractional within an epoch).
    pub epoch: f64,
    /// Class probabilities of every validation pair.
    pub probs: Vec<Vec<f64>>,
}

impl Best {
    /// `metric`'s value (NaN where the task has none, e.g. AUC of one class).
    pub fn value(&self, metric: MetricKind) -> f64 {
        metric.of(&self.metrics).unwrap_or(f64::NAN)
    }
}

/// Where a fold stands after an optimizer step: everything besides tensors that an
/// exact resume needs (`trainer_state.json` of a fold checkpoint).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FoldState {
    /// The run's fingerprint (flags and data): a checkpoint of another run is not resumed.
    pub fingerprint: String,
    /// Optimizer steps taken.
    pub step: u64,
    /// Micro-batches drawn (the key of their dropout and UDA draws).
    pub micro: u64,
    /// Epoch of the next step.
    pub epoch: u64,
    /// Steps of that epoch already taken.
    pub next_group: usize,
    /// Sum of the losses of the steps not yet logged, and their count.
    pub window: (f64, u64),
    /// Seconds spent in training steps, over all resumed segments.
    pub train_seconds: f64,
    /// The best evaluation so far.
    pub best: Option<Best>,
    /// Evaluations since the best one (for `--patience`).
    pub since_best: usize,
}

/// sha256 of what decides a fold's outcome: the recipe, the seed and precision, the
/// number of processes (the global batch is `world` x `--batch-size`), the checkpoint
/// `--init` resolved to and the identity of its weights (a re-trained checkpoint in
/// the same dir is another init), the pseudo-labelled pairs, and the job's files by
/// their bytes (a moved file is the same data; `dapt distill` writes its training
/// pairs inside OUT).
pub fn fingerprint(cfg: &FinetuneConfig, p: &Prepared, world: usize) -> Result<String> {
    let init = match &p.init {
        Some(dir) => crate::model::checkpoint::identity(dir)?,
        None => String::new(),
    };
    let job = &p.job;
    let mut bytes = format!(
        "{:?}\n{}\nheader {} soft labels {} uda {}\n{:?} {init}\n{:?}\nworld {world}",
        cfg.recipe,
        cfg.run.outcome(),
        job.header,
        job.soft_labels.is_some(),
        job.uda.is_some(),
        p.init,
        p.pseudo
    )
    .into_bytes();
    let files = [Some(&job.train), job.soft_labels.as_ref(), job.uda.as_ref()];
    for f in files.into_iter().flatten() {
        bytes.extend(std::fs::read(f).unwrap_or_default());
    }
    Ok(sha256_hex(&bytes))
}

/// Restore the newest valid checkpoint of `fold_dir` into the model, optimizer and
/// techniques of `trainer` and return its state; `None` (and the fold starts over) when
/// there is none, or when it was made by a run with another `fingerprint` (then it is
/// removed).
pub fn restore(
    fold_dir: &Path,
    fingerprint: &str,
    model: &SequenceClassifier,
    trainer: &mut Trainer,
) -> Result<Option<FoldState>> {
    let Some(dir) = checkpoints::newest_valid(fold_dir)? else {
        return Ok(None);
    };
    let path = dir.join(TRAINER_STATE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let state: FoldState = serde_json::from_str(&text)
        .map_err(|e| InputError::at_path(&path, format!("not a dapt fold state: {e}")))?;
    if state.fingerprint != fingerprint {
        info(format!(
            "finetune: {} was made with other data or flags; starting the fold over",
            dir.display()
        ));
        clear(fold_dir)?;
        return Ok(None);
    }
    let restored = trainer.restore(model, &dir)?;
    if restored.step != state.step {
        crate::bad_input!(
            "{}: optimizer state of step {} but trainer state of step {}; delete the dir to resume from an older checkpoint",
            dir.display(),
            restored.step,
            state.step
        );
    }
    info(format!(
        "finetune: resuming from {} (step {})",
        dir.display(),
        state.step
    ));
    Ok(Some(state))
}

/// Remove the fold checkpoints of `fold_dir` and its `latest` pointer.
pub fn clear(fold_dir: &Path) -> Result<()> {
    for (_, dir) in checkpoints::list(fold_dir)? {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("removing checkpoint {}", dir.display()))?;
    }
    match std::fs::remove_file(fold_dir.join(checkpoints::LATEST)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}/latest", fold_dir.display()))
        }
        _ => Ok(()),
    }
}
