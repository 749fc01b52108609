//! The MLM head (dense + GELU + LayerNorm, decoder tied to the word embeddings, output
//! bias) and the masked-LM cross-entropy.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::encoder::LayerNorm;
use super::linear::{linear, Linear};
use super::ops;
use super::BertConfig;

/// `cls.predictions`: transform, then logits against the (tied) word-embedding matrix.
pub struct MlmHead {
    dense: Linear,
    norm: LayerNorm,
    bias: Tensor,
}

impl MlmHead {
    /// Builds the head under `vb` (= `cls.predictions`).
    pub fn new(c: &BertConfig, vb: VarBuilder) -> Result<Self> {
        let t = vb.pp("transform");
        Ok(Self {
            dense: linear(c.hidden_size, c.hidden_size, t.pp("dense"))?,
            norm: LayerNorm::new(c.hidden_size, c.layer_norm_eps, t.pp("LayerNorm"))?,
            bias: vb.get_with_hints(c.vocab_size, "bias", candle_nn::Init::Const(0.0))?,
        })
    }

    /// Logits `(rows, vocab)` for hidden rows `(rows, hidden)`; `word_embeddings` is the
    /// tied decoder matrix `(vocab, hidden)`. Pass only the masked rows to save work.
    pub fn forward(&self, hidden: &Tensor, word_embeddings: &Tensor) -> Result<Tensor> {
        let t = self
            .norm
            .forward(&ops::gelu_erf(&self.dense.forward(hidden)?)?)?;
        ops::dense(&t, word_embeddings, &self.bias)
    }
}

/// Row indices (into the flattened `batch*seq` positions) whose label is not -100, and
/// those labels: the positions the MLM head needs to score.
pub fn masked_positions(labels: &[i64]) -> (Vec<u32>, Vec<u32>) {
    labels
        .iter()
        .enumerate()
        .filter(|(_, &l)| l != -100)
        .map(|(i, &l)| (i as u32, l as u32))
        .unzip()
}

/// Mean cross-entropy of `logits (rows, vocab)` against `targets (rows,)`, as PyTorch's
/// `CrossEntropyLoss` over the non-ignored positions (fused: [`ops::cross_entropy`]).
pub fn mlm_loss(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    ops::cross_entropy(logits, targets)
}
