//! The pair-classification head: tanh pooler on [CLS], then a linear layer to the labels.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::dropout::Mode;
use super::linear::{linear, Linear};
use super::BertConfig;

/// `bert.pooler` + dropout + `classifier` of `BertForSequenceClassification`.
pub struct PairHead {
    pooler: Linear,
    classifier: Linear,
    dropout: f64,
}

impl PairHead {
    /// Builds the pooler under `bert_vb` (`bert.pooler.dense`) and the classifier under
    /// `root_vb` (`classifier`).
    pub fn new(
        c: &BertConfig,
        num_labels: usize,
        bert_vb: VarBuilder,
        root_vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            pooler: linear(c.hidden_size, c.hidden_size, bert_vb.pp("pooler.dense"))?,
            classifier: linear(c.hidden_size, num_labels, root_vb.pp("classifier"))?,
            dropout: c.hidden_dropout_prob,
        })
    }

    /// Logits `(batch, num_labels)` from last hidden states `(batch, seq, hidden)`.
    pub fn forward(&self, hidden: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let cls = hidden.narrow(1, 0, 1)?.squeeze(1)?;
        let pooled = mode.dropout(&self.pooler.forward(&cls)?.tanh()?, self.dropout)?;
        self.classifier.forward(&pooled)
    }
}
