//! Sentence-pair classification: each training pair has a class, a teacher's tempered
//! distribution (soft labels), or both; the loss is the class-weighted, label-smoothed
//! cross-entropy of its hard labels; the head is a classifier over the pooled encoding.

use std::path::Path;

use anyhow::Result;
use candle_core::{Device, Tensor};

use super::{KeepRows, Task};
use crate::data::augment::AugmentRule;
use crate::data::labels::Labels;
use crate::data::pair_batch::PairTensors;
use crate::data::pairs::{num_classes, read_pairs, PairRecord};
use crate::metrics::{evaluate, MetricKind, Metrics};
use crate::model::build::Init;
use crate::model::checkpoint::LoadReport;
use crate::model::classifier::SequenceClassifier;
use crate::model::config::BertConfig;
use crate::train::loss::cross_entropy;
use crate::train::soft::SoftTargets;

/// The task: `classes` classes of sentence pairs, and the loss of their hard labels.
pub struct PairClassification {
    /// Number of classes (labels 0..classes-1).
    pub classes: usize,
    /// How the classes are written (ids, or names recorded in config.json).
    pub labels: Labels,
    /// The loss of its hard labels.
    pub loss: PairLoss,
}

impl PairClassification {
    /// Its training pairs: `text_a<TAB>text_b<TAB>label` lines of `path` (after a header
    /// line with `header`; `labelled`: every line must have a label) read with `labels`,
    /// and the number of classes: as many as the names, each of which must occur, or the
    /// ids' maximum + 1 with no id missing.
    pub fn read(
        path: &Path,
        header: bool,
        labelled: bool,
        labels: &Labels,
    ) -> Result<(Vec<PairRecord>, usize)> {
        let records = read_pairs(path, header, labelled, labels)?;
        let Some(names) = labels.names() else {
            let classes = num_classes(path, &records)?;
            return Ok((records, classes));
        };
        for (id, name) in names.iter().enumerate() {
            if !records.iter().any(|r| r.label == Some(id)) {
                crate::bad_input!(
                    "{}: no example has label {name:?} (labels: {}); every class needs training examples",
                    path.display(),
                    names.join(", ")
                );
            }
        }
        Ok((records, names.len()))
    }

    /// How each class is written, in id order (its name, or its id).
    pub fn class_names(&self) -> Vec<String> {
        (0..self.classes).map(|c| self.labels.name(c)).collect()
    }

    /// Refuse (exit 2) what `train`'s `classes` classes do not allow: AUC as the metric
    /// (two classes only) and transitive closure (binary match labels only).
    pub fn check(
        classes: usize,
        metric: MetricKind,
        augment: &[AugmentRule],
        train: &Path,
    ) -> Result<()> {
        if classes > 2 && metric == MetricKind::Auc {
            crate::bad_input!(
                "--metric auc needs two classes but {} has {classes}; use --metric accuracy, f1 or log_loss",
                train.display()
            );
        }
        if classes > 2 && augment.contains(&AugmentRule::Closure) {
            crate::bad_input!(
                "--augment closure needs binary match labels (1 = match) but {} has {classes} classes; drop it (--augment swap suits pairs whose order does not matter; for NLI, where it does, pass --task nli)",
                train.display()
            );
        }
        Ok(())
    }
}

impl Task for PairClassification {
    fn num_labels(&self) -> usize {
        self.classes
    }

    fn model(
        &self,
        config: &BertConfig,
        device: &Device,
        init: Init,
    ) -> Result<(SequenceClassifier, LoadReport)> {
        SequenceClassifier::new(config, self.classes, device, init)
    }

    fn weight(&self, target: &Target) -> f64 {
        self.loss.weight(target)
    }

    fn hard_loss(
        &self,
        logits: &Tensor,
        hard: &(Tensor, Option<Tensor>),
        keep: KeepRows,
    ) -> candle_core::Result<Option<Tensor>> {
        self.loss.hard_loss(logits, hard, keep)
    }

    fn evaluate(&self, probs: &[Vec<f64>], labels: &[usize]) -> Metrics {
        evaluate(probs, labels)
    }
}

/// What one training example is trained towards: its class, its teacher's tempered
/// distribution, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The hard label.
    pub label: Option<usize>,
    /// The teacher's distribution at the distillation temperature.
    pub soft: Option<Vec<f64>>,
}

impl Target {
    /// A hard label only.
    pub fn hard(label: usize) -> Target {
        Target {
            label: Some(label),
            soft: None,
        }
    }
}

/// The targets of a micro-batch's rows.
pub struct Targets {
    /// Class ids (u32) of the rows that have one, and which rows those are (`None`: every
    /// row, in order).
    pub hard: Option<(Tensor, Option<Tensor>)>,
    /// The teacher distributions of the rows that have one.
    pub soft: Option<SoftTargets>,
}

impl Targets {
    /// The targets of `rows`, in batch order.
    pub fn of(rows: &[&Target], device: &Device) -> Result<Targets> {
        let hard_rows: Vec<u32> = (0..rows.len() as u32)
            .filter(|&i| rows[i as usize].label.is_some())
            .collect();
        let ys: Vec<u32> = rows
            .iter()
            .filter_map(|t| t.label.map(|l| l as u32))
            .collect();
        let hard = match hard_rows.len() {
            0 => None,
            n if n == rows.len() => Some((Tensor::new(ys.as_slice(), device)?, None)),
            _ => Some((
                Tensor::new(ys.as_slice(), device)?,
                Some(Tensor::new(hard_rows.as_slice(), device)?),
            )),
        };
        let soft_rows: Vec<u32> = (0..rows.len() as u32)
            .filter(|&i| rows[i as usize].soft.is_some())
            .collect();
        let soft = if soft_rows.is_empty() {
            None
        } else {
            let dists: Vec<Vec<f64>> = rows.iter().filter_map(|t| t.soft.clone()).collect();
            Some(SoftTargets::new(&soft_rows, &dists, device)?)
        };
        Ok(Targets { hard, soft })
    }
}

/// One micro-batch: the labelled inputs with their targets and, with UDA, a batch of
/// unlabelled pairs with their augmented copies.
pub struct MicroBatch {
    /// The labelled (or soft-labelled) pairs.
    pub inputs: PairTensors,
    /// Their targets.
    pub targets: Targets,
    /// Unlabelled pairs and their augmented copies, row for row.
    pub unlabelled: Option<(PairTensors, PairTensors)>,
}

/// The loss of pair classification: cross-entropy with class weights (`--class-weight`)
/// and label smoothing (`--label-smoothing`), as PyTorch's `CrossEntropyLoss`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairLoss {
    /// One weight per class.
    pub class_weight: Option<Vec<f64>>,
    /// Label smoothing in [0, 1).
    pub label_smoothing: f64,
}

impl PairLoss {
    /// What `target` weighs in the divisor of a batch's loss: its class weight (1 without
    /// `--class-weight`, and for a row with a soft target only).
    pub fn weight(&self, target: &Target) -> f64 {
        match (target.label, &self.class_weight) {
            (Some(y), Some(w)) => w[y],
            _ => 1.0,
        }
    }

    /// The cross-entropy of the hard rows `(labels, rows)` of `logits`, over the rows of
    /// them that `keep` keeps (`None`: all); `None` when it keeps none.
    pub fn hard_loss(
        &self,
        logits: &Tensor,
        (ys, rows): &(Tensor, Option<Tensor>),
        keep: KeepRows,
    ) -> candle_core::Result<Option<Tensor>> {
        let l = match rows {
            None => logits.clone(),
            Some(r) => logits.index_select(r, 0)?,
        };
        let (l, ys) = match keep(&l, ys)? {
            None => (l, ys.clone()),
            Some(kept) if kept.is_empty() => return Ok(None),
            Some(kept) => {
                let kept = Tensor::new(kept.as_slice(), logits.device())?;
                (l.index_select(&kept, 0)?, ys.index_select(&kept, 0)?)
            }
        };
        cross_entropy(&l, &ys, self.class_weight.as_deref(), self.label_smoothing).map(Some)
    }
}
