//! The pair-classification head: pooling (transformers' tanh pooler on [CLS] by default),
//! dropout, then a linear layer to the labels; optionally several dropout samples.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::dropout::Mode;
use super::linear::{linear, Linear};
use super::pooling::Pooling;
use super::BertConfig;

/// The dropout of a classification head: `classifier_dropout` when set, else
/// `hidden_dropout_prob` (transformers' rule for both families).
pub fn head_dropout(c: &BertConfig) -> f64 {
    c.classifier_dropout.unwrap_or(c.hidden_dropout_prob)
}

/// `bert.pooler` + dropout + `classifier` of `BertForSequenceClassification`, with dapt's
/// other poolings and multi-sample dropout.
pub struct PairHead {
    pooler: Linear,
    classifier: Linear,
    pooling: Pooling,
    dropout: f64,
    dropout_samples: usize,
}

impl PairHead {
    /// Builds the pooler under `bert_vb` (`bert.pooler.dense`) and the classifier under
    /// `root_vb` (`classifier`). The pooler exists whatever the pooling, so every dapt dir
    /// has the tensors transformers expects.
    pub fn new(
        c: &BertConfig,
        num_labels: usize,
        bert_vb: VarBuilder,
        root_vb: VarBuilder,
    ) -> Result<Self> {
        let pooling = c.dapt_pooling.unwrap_or_default();
        Ok(Self {
            pooler: linear(c.hidden_size, c.hidden_size, bert_vb.pp("pooler.dense"))?,
            classifier: linear(
                pooling.width(c.hidden_size),
                num_labels,
                root_vb.pp("classifier"),
            )?,
            pooling,
            dropout: head_dropout(c),
            dropout_samples: 1,
        })
    }

    /// Multi-sample dropout (Inoue 2019, <https://arxiv.org/abs/1905.09788>): in training,
    /// `n` dropout masks on the pooled vector through the same classifier, logits averaged.
    pub fn with_dropout_samples(mut self, n: usize) -> Self {
        self.dropout_samples = n.max(1);
        self
    }

    /// The pooled vector `(batch, width)` of last hidden states `(batch, seq, hidden)`
    /// whose real tokens `mask` `(batch, seq)` marks.
    pub fn pool(&self, hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
        self.pooling
            .pool(hidden, mask, |first| self.pooler.forward(first)?.tanh())
    }

    /// Logits `(batch, num_labels)` from last hidden states `(batch, seq, hidden)`.
    pub fn forward(&self, hidden: &Tensor, mask: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let pooled = self.pool(hidden, mask)?;
        sample_mean(mode, self.dropout_samples, |mode| {
            self.classifier
                .forward(&mode.dropout(&pooled, self.dropout)?)
        })
    }
}

/// Multi-sample dropout's average: `logits(mode)` once in evaluation or with one sample,
/// else the mean of `samples` calls, each drawing its own dropout masks from `mode`.
pub fn sample_mean(
    mode: &mut Mode,
    samples: usize,
    logits: impl Fn(&mut Mode) -> Result<Tensor>,
) -> Result<Tensor> {
    if !mode.is_train() || samples == 1 {
        return logits(mode);
    }
    let mut sum = logits(mode)?;
    for _ in 1..samples {
        sum = (sum + logits(mode)?)?;
    }
    sum / samples as f64
}
