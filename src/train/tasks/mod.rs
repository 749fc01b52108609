//! Task kinds: what a fine-tuning loop trains towards and how it is scored. A [`Task`]
//! owns the head the encoder gets, the loss of its targets, what each example weighs in a
//! batch and the metrics; its input reader and the checks of the options it allows
//! (metric, augmentations), which run before a task can be built, are associated
//! functions of its type. The fold loop, the micro-step and the techniques see a task
//! only through the trait. Today there is one kind: classification of sentence pairs
//! ([`pair`]).

pub mod pair;

use anyhow::Result;
use candle_core::{Device, Tensor};

use crate::metrics::Metrics;
use crate::model::build::Init;
use crate::model::checkpoint::LoadReport;
use crate::model::classifier::SequenceClassifier;
use crate::model::config::BertConfig;
use pair::Target;

/// Which rows of a pass's labelled `(logits, labels)` enter the loss (`None`: all); a
/// technique's hook, such as training-signal annealing.
pub type KeepRows<'a> = &'a dyn Fn(&Tensor, &Tensor) -> candle_core::Result<Option<Vec<u32>>>;

/// A fine-tuning task, built once the data is read.
pub trait Task {
    /// Outputs of the head (classes).
    fn num_labels(&self) -> usize;

    /// The encoder of `config` (its weights from `init`) with this task's head.
    fn model(
        &self,
        config: &BertConfig,
        device: &Device,
        init: Init,
    ) -> Result<(SequenceClassifier, LoadReport)>;

    /// What `target` weighs in the divisor of a batch's loss.
    fn weight(&self, target: &Target) -> f64;

    /// The loss of the hard rows `(labels, rows)` of `logits` (rows `None`: every row),
    /// over those `keep` keeps; `None` when it keeps none.
    fn hard_loss(
        &self,
        logits: &Tensor,
        hard: &(Tensor, Option<Tensor>),
        keep: KeepRows,
    ) -> candle_core::Result<Option<Tensor>>;

    /// The metrics of the head's probabilities `probs` against `labels`.
    fn evaluate(&self, probs: &[Vec<f64>], labels: &[usize]) -> Metrics;
}
