//! The MLM head (dense + GELU + LayerNorm, decoder tied to the word embeddings, output
//! bias) of BERT and of ELECTRA's generator, and the masked-LM cross-entropy.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::dropout::Mode;
use super::encoder::{Encoder, LayerNorm};
use super::linear::{linear, Linear};
use super::ops;
use super::BertConfig;
use crate::data::collate::BatchTensors;

/// `cls.predictions` (BERT) or `generator_predictions` + `generator_lm_head` (ELECTRA):
/// transform, then logits against the (tied) word-embedding matrix.
pub struct MlmHead {
    dense: Linear,
    norm: LayerNorm,
    bias: Tensor,
}

impl MlmHead {
    /// Builds BERT's head under `vb` (= `cls.predictions`).
    pub fn new(c: &BertConfig, vb: VarBuilder) -> Result<Self> {
        let t = vb.pp("transform");
        Self::build(c, t.pp("dense"), t.pp("LayerNorm"), vb)
    }

    /// Builds an ELECTRA generator's head under the model root `vb`: the transform down
    /// to `embedding_size` in `generator_predictions`, the bias in `generator_lm_head`.
    pub fn electra(c: &BertConfig, vb: VarBuilder) -> Result<Self> {
        let t = vb.pp("generator_predictions");
        Self::build(
            c,
            t.pp("dense"),
            t.pp("LayerNorm"),
            vb.pp("generator_lm_head"),
        )
    }

    fn build(
        c: &BertConfig,
        dense: VarBuilder,
        norm: VarBuilder,
        bias: VarBuilder,
    ) -> Result<Self> {
        let e = c.embedding_width();
        Ok(Self {
            dense: linear(c.hidden_size, e, dense)?,
            norm: LayerNorm::new(e, c.layer_norm_eps, norm)?,
            bias: bias.get_with_hints(c.vocab_size, "bias", candle_nn::Init::Const(0.0))?,
        })
    }

    /// Logits `(masked rows, vocab)` of `encoder` over `batch` at its masked positions
    /// only (the decoder over ~15% of the rows, as NVIDIA's and Megatron's BERT do: it
    /// dominates the FLOPs otherwise).
    pub fn masked_logits(
        &self,
        encoder: &Encoder,
        batch: &BatchTensors,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let h = encoder.forward(
            &batch.input_ids,
            &batch.token_type_ids,
            batch.match_flags.as_ref(),
            &batch.attention_mask,
            mode,
        )?;
        let (b, s, hidden) = h.dims3()?;
        let rows = h
            .reshape((b * s, hidden))?
            .index_select(&batch.masked_positions, 0)?
            .to_dtype(mode.compute())?;
        self.forward(&rows, encoder.embeddings.word.embeddings())
    }

    /// Logits `(rows, vocab)` for hidden rows `(rows, hidden)`, computed in the rows'
    /// dtype (LayerNorm in f32); `word_embeddings` is the tied decoder matrix
    /// `(vocab, hidden)`. Pass only the masked rows to save work.
    pub fn forward(&self, hidden: &Tensor, word_embeddings: &Tensor) -> Result<Tensor> {
        let dtype = hidden.dtype();
        let t = self
            .norm
            .forward(&ops::gelu_erf(&self.dense.forward(hidden)?)?)?
            .to_dtype(dtype)?;
        ops::dense(
            &t,
            &word_embeddings.to_dtype(dtype)?,
            &self.bias.to_dtype(dtype)?,
        )
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
/// Bf16 logits are cast up: the log-softmax and the mean run in f32.
pub fn mlm_loss(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    ops::cross_entropy(&logits.to_dtype(candle_core::DType::F32)?, targets)
}
