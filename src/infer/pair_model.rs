//! A fine-tuned pair classifier loaded from a checkpoint dir (dapt's or any Hugging Face
//! `BertForSequenceClassification` dir), with the vocabulary it reads text with.

use std::path::{Path, PathBuf};

use anyhow::Result;
use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::data::labels::Labels;
use crate::data::task::TaskKind;
use crate::error::InputError;
use crate::model::build::Init;
use crate::model::checkpoint::TRAINER_STATE;
use crate::model::classifier::SequenceClassifier;
use crate::model::{checkpoint, BertConfig};
use crate::text::vocab::Vocab;

/// What `dapt finetune` records beside a best checkpoint (`trainer_state.json`), so
/// `predict` reads text as training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneState {
    /// Fold the checkpoint was trained on.
    pub fold: usize,
    /// Optimizer steps taken when it was saved.
    pub step: u64,
    /// Epoch (1-based, fractional within an epoch) when it was saved.
    pub epoch: f64,
    /// The metric that chose it (`--metric`).
    pub metric: String,
    /// Its value on the fold's validation part.
    pub best_metric: f64,
    /// `--max-len` of training.
    pub max_len: usize,
}

/// Refuse a vocabulary with more tokens than the model has embedding rows: its ids
/// would index past the embedding matrix.
pub fn check_vocab_fits(vocab: &Vocab, config: &BertConfig, model_dir: &Path) -> Result<()> {
    if vocab.len() > config.vocab_size {
        crate::bad_input!(
            "{}: vocab.txt has {} tokens but the model in {} has vocab_size {}: they do not belong together; use the vocabulary the model was trained with (the vocab.txt inside its dir)",
            vocab.dir.display(),
            vocab.len(),
            model_dir.display(),
            config.vocab_size
        );
    }
    Ok(())
}

/// A loaded classifier.
pub struct PairModel {
    /// Display name (`fold-0`, or the dir).
    pub name: String,
    /// The checkpoint dir.
    pub dir: PathBuf,
    /// The model, in evaluation use.
    pub model: SequenceClassifier,
    /// Its vocabulary.
    pub vocab: Vocab,
    /// Longest input: training's `--max-len` when recorded, else the position limit.
    pub max_len: usize,
}

/// Number of classes of checkpoint `dir`: `num_labels` in its config, else `id2label`
/// (what transformers writes), else the rows of `classifier.weight`.
fn num_labels(dir: &Path, config: &BertConfig) -> Result<usize> {
    if let Some(n) = config.num_labels {
        return Ok(n);
    }
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(checkpoint::CONFIG))?)?;
    if let Some(map) = raw.get("id2label").and_then(|v| v.as_object()) {
        return Ok(map.len());
    }
    let path = dir.join(checkpoint::WEIGHTS);
    let bytes = std::fs::read(&path).map_err(|e| InputError::at_path(&path, e))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| InputError::at_path(&path, format!("unreadable safetensors: {e}")))?;
    let classifier = ["classifier.weight", "classifier.out_proj.weight"]
        .into_iter()
        .find_map(|k| meta.tensors().get(k).cloned());
    match classifier {
        Some(t) => Ok(t.shape[0]),
        None => crate::bad_input!(
            "{}: no classifier.weight: not a sequence-classification checkpoint; fine-tune it first with `dapt finetune --init {}`",
            dir.display(),
            dir.display()
        ),
    }
}

impl PairModel {
    /// Load checkpoint `dir` on `device`, reading text with `vocab_dir` (default: `dir`).
    /// Every classifier parameter must come from the checkpoint.
    pub fn load(
        dir: &Path,
        name: String,
        vocab_dir: Option<&Path>,
        device: &Device,
    ) -> Result<Self> {
        if !dir.join(checkpoint::CONFIG).exists() {
            crate::bad_input!(
                "{}: no config.json; pass a checkpoint dir or a `dapt finetune` output dir (with fold-*/best)",
                dir.display()
            );
        }
        let config = BertConfig::read(&dir.join(checkpoint::CONFIG))?;
        let labels = num_labels(dir, &config)?;
        let (model, report) =
            SequenceClassifier::new(&config, labels, device, Init::Checkpoint(dir, 0))?;
        if !report.newly_initialized.is_empty() {
            crate::bad_input!(
                "{}: lacks {:?}: not a fine-tuned classifier (an MLM or encoder checkpoint?); fine-tune it with `dapt finetune --init {}`",
                dir.display(),
                report.newly_initialized,
                dir.display()
            );
        }
        let vocab = Vocab::load(vocab_dir.unwrap_or(dir))?;
        check_vocab_fits(&vocab, &config, dir)?;
        let state: Option<FinetuneState> = std::fs::read(dir.join(TRAINER_STATE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let max_len = state.map_or(config.max_position_embeddings, |s| s.max_len);
        Ok(Self {
            name,
            dir: dir.to_path_buf(),
            model,
            vocab,
            max_len,
        })
    }

    /// Number of classes.
    pub fn num_labels(&self) -> usize {
        self.model.config.num_labels.unwrap_or(2)
    }

    /// How it writes its classes: the names of its config.json, or ids.
    pub fn labels(&self) -> Labels {
        let names = self.model.config.label_names();
        Labels::of_checkpoint(names.as_deref(), self.num_labels())
    }

    /// The task it was fine-tuned for.
    pub fn task(&self) -> TaskKind {
        TaskKind::of_config(self.model.config.dapt_task)
    }
}
