//! The pair-classification head: pooling (transformers' tanh pooler on [CLS] by default),
//! dropout, then a linear layer to the labels; optionally several dropout samples.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::dropout::Mode;
use super::linear::{linear, Linear};
use super::pooling::{masked_max, masked_mean, Pooling};
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
        let cls = || -> Result<Tensor> {
            let first = hidden.narrow(1, 0, 1)?.squeeze(1)?;
            self.pooler.forward(&first)?.tanh()
        };
        match self.pooling {
            Pooling::Cls => cls(),
            Pooling::Mean => masked_mean(hidden, mask),
            Pooling::Max => masked_max(hidden, mask),
            Pooling::ClsMean => Tensor::cat(&[cls()?, masked_mean(hidden, mask)?], 1),
        }
    }

    /// Logits `(batch, num_labels)` from last hidden states `(batch, seq, hidden)`.
    pub fn forward(&self, hidden: &Tensor, mask: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let pooled = self.pool(hidden, mask)?;
        if !mode.is_train() || self.dropout_samples == 1 {
            return self
                .classifier
                .forward(&mode.dropout(&pooled, self.dropout)?);
        }
        let mut sum: Option<Tensor> = None;
        for _ in 0..self.dropout_samples {
            let logits = self
                .classifier
                .forward(&mode.dropout(&pooled, self.dropout)?)?;
            sum = Some(match sum {
                None => logits,
                Some(s) => (s + logits)?,
            });
        }
        sum.expect("at least one sample") / self.dropout_samples as f64
    }
}
