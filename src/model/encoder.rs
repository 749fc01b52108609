//! The BERT encoder (embeddings + transformer layers), built from differentiable candle
//! ops and the fused kernels of [`super::ops`] (which have their own backward), so every
//! parameter gets a gradient; dropout where transformers puts it.

use std::sync::Arc;

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{embedding, Embedding, VarBuilder};

use super::dropout::Mode;
use super::linear::{linear, Linear};
use super::ops;
use super::unpad::Unpad;
use super::BertConfig;

/// LayerNorm over the last dimension, differentiable (candle-nn's fused one has no
/// backward): [`ops::layer_norm`].
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Loads `weight` and `bias` of width `size` under `vb`.
    pub fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?;
        let bias = vb.get_with_hints(size, "bias", candle_nn::Init::Const(0.0))?;
        Ok(Self { weight, bias, eps })
    }

    /// Normalises over the last dimension, in f32 (a bf16 input is cast up first, as
    /// mixed precision keeps normalisation statistics in f32).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::layer_norm(
            &x.to_dtype(self.weight.dtype())?,
            &self.weight,
            &self.bias,
            self.eps,
        )
    }
}

/// Word + position + token-type (+ exact-match) embeddings, then LayerNorm.
pub struct Embeddings {
    /// The word-embedding table (tied to the MLM decoder).
    pub word: Embedding,
    position: Embedding,
    token_type: Embedding,
    /// Two rows, "does not occur in the other text" and "does", when the config has
    /// `dapt_match_embedding` (the exact-match feature of reading-comprehension models,
    /// e.g. DrQA, Chen et al. 2017).
    matching: Option<Embedding>,
    norm: LayerNorm,
    dropout: f64,
}

impl Embeddings {
    fn new(c: &BertConfig, vb: VarBuilder) -> Result<Self> {
        let e = c.embedding_width();
        Ok(Self {
            word: embedding(c.vocab_size, e, vb.pp("word_embeddings"))?,
            position: embedding(c.max_position_embeddings, e, vb.pp("position_embeddings"))?,
            token_type: embedding(c.type_vocab_size, e, vb.pp("token_type_embeddings"))?,
            matching: c
                .dapt_match_embedding
                .then(|| embedding(2, e, vb.pp(MATCH_EMBEDDINGS)))
                .transpose()?,
            norm: LayerNorm::new(e, c.layer_norm_eps, vb.pp("LayerNorm"))?,
            dropout: c.hidden_dropout_prob,
        })
    }

    /// Embeddings `(tokens, hidden)` of the real tokens of `ids`, `types` and `matches`
    /// `(batch, seq)`; `matches` is needed when the model has the exact-match rows and
    /// ignored otherwise.
    fn forward(
        &self,
        ids: &Tensor,
        types: &Tensor,
        matches: Option<&Tensor>,
        unpad: &Unpad,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let mut x = (self.word.forward(&unpad.rows(ids)?)?
            + self.token_type.forward(&unpad.rows(types)?)?)?;
        if let Some(table) = &self.matching {
            let m = matches.ok_or_else(|| {
                candle_core::Error::Msg(
                    "the model has exact-match embeddings (dapt_match_embedding) but got no match flags".into(),
                )
            })?;
            x = (x + table.forward(&unpad.rows(m)?)?)?;
        }
        let x = self
            .norm
            .forward(&(x + self.position.forward(unpad.offsets())?)?)?;
        mode.dropout(&x, self.dropout)
    }
}

/// Name of the exact-match table under `bert.embeddings.`.
pub const MATCH_EMBEDDINGS: &str = "match_embeddings";

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    inter: Linear,
    out: Linear,
    out_norm: LayerNorm,
    heads: usize,
    hidden_dropout: f64,
    attention_dropout: f64,
}

impl Layer {
    fn new(c: &BertConfig, vb: VarBuilder) -> Result<Self> {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let att = vb.pp("attention");
        Ok(Self {
            query: linear(h, h, att.pp("self").pp("query"))?,
            key: linear(h, h, att.pp("self").pp("key"))?,
            value: linear(h, h, att.pp("self").pp("value"))?,
            attn_out: linear(h, h, att.pp("output").pp("dense"))?,
            attn_norm: LayerNorm::new(h, c.layer_norm_eps, att.pp("output").pp("LayerNorm"))?,
            inter: linear(h, i, vb.pp("intermediate").pp("dense"))?,
            out: linear(i, h, vb.pp("output").pp("dense"))?,
            out_norm: LayerNorm::new(h, c.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            heads: c.num_attention_heads,
            hidden_dropout: c.hidden_dropout_prob,
            attention_dropout: c.attention_probs_dropout_prob,
        })
    }

    /// One layer over the real tokens `x (tokens, hidden)`.
    fn forward(
        &self,
        x: &Tensor,
        mask_bias: &Tensor,
        unpad: &Unpad,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let d = x.dim(1)? / self.heads;
        // The residual stream `x` stays f32; products run in the mode's compute dtype
        // (see `Precision`), the softmax in f32.
        let compute = mode.compute();
        let h = x.to_dtype(compute)?;
        let (q, k, v) = (
            self.query.forward(&h)?,
            self.key.forward(&h)?,
            self.value.forward(&h)?,
        );
        let scale = 1.0 / (d as f64).sqrt();
        let ctx = if ops::fused(&[&q]) {
            let keep = mode.dropout_mask(unpad.attention_len(), self.attention_dropout);
            ops::self_attention(
                &q,
                &k,
                &v,
                unpad.spans(),
                self.heads,
                scale,
                keep.map(Arc::new),
            )?
        } else {
            let (q, k, v) = (
                unpad.split_heads(&q)?,
                unpad.split_heads(&k)?,
                unpad.split_heads(&v)?,
            );
            let scores = ops::batched_matmul(&q, &k, false, true)?.to_dtype(x.dtype())?;
            let probs = ops::masked_softmax(&scores, mask_bias, scale)?;
            let probs = mode.dropout(&probs, self.attention_dropout)?;
            let ctx = ops::batched_matmul(&probs.to_dtype(compute)?, &v, false, false)?;
            unpad.merge_heads(&ctx)?
        };
        let attn = self.attn_out.forward(&ctx)?;
        let attn = mode.dropout(&attn, self.hidden_dropout)?;
        let a = self.attn_norm.forward(&(attn.to_dtype(x.dtype())? + x)?)?;
        let f = self
            .out
            .forward(&ops::gelu_erf(&self.inter.forward(&a.to_dtype(compute)?)?)?)?;
        let f = mode.dropout(&f, self.hidden_dropout)?;
        self.out_norm.forward(&(f.to_dtype(a.dtype())? + a)?)
    }
}

/// `BertModel` without pooler (or `ElectraModel`): ids, token types and attention mask to
/// last hidden states.
pub struct Encoder {
    /// Embedding layer.
    pub embeddings: Embeddings,
    /// ELECTRA's `embeddings_project`, when the embeddings are narrower than the layers.
    project: Option<Linear>,
    layers: Vec<Layer>,
    heads: usize,
}

impl Encoder {
    /// Builds the encoder under `vb` (`bert.` or `electra.` prefix already applied by the
    /// caller).
    pub fn new(c: &BertConfig, vb: VarBuilder) -> Result<Self> {
        let embeddings = Embeddings::new(c, vb.pp("embeddings"))?;
        let e = c.embedding_width();
        let project = (e != c.hidden_size)
            .then(|| linear(e, c.hidden_size, vb.pp("embeddings_project")))
            .transpose()?;
        let layers = (0..c.num_hidden_layers)
            .map(|i| Layer::new(c, vb.pp(format!("encoder.layer.{i}"))))
            .collect::<Result<_>>()?;
        Ok(Self {
            embeddings,
            project,
            layers,
            heads: c.num_attention_heads,
        })
    }

    /// Last hidden states `(batch, seq, hidden)`; `mask` is 1 for real tokens, 0 for
    /// padding; `matches` the exact-match flags (see [`Embeddings`]). Computed on the real
    /// tokens only ([`Unpad`]): padding positions are zero.
    pub fn forward(
        &self,
        ids: &Tensor,
        types: &Tensor,
        matches: Option<&Tensor>,
        mask: &Tensor,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let (x, unpad) = self.forward_unpadded(ids, types, matches, mask, mode)?;
        unpad.pad(&x)
    }

    /// Last hidden states of the real tokens only, `(tokens, hidden)` in row-major order
    /// of their positions (what a per-token head such as ELECTRA's discriminator needs).
    pub fn forward_tokens(
        &self,
        ids: &Tensor,
        types: &Tensor,
        matches: Option<&Tensor>,
        mask: &Tensor,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        Ok(self.forward_unpadded(ids, types, matches, mask, mode)?.0)
    }

    fn forward_unpadded(
        &self,
        ids: &Tensor,
        types: &Tensor,
        matches: Option<&Tensor>,
        mask: &Tensor,
        mode: &mut Mode,
    ) -> Result<(Tensor, Unpad)> {
        // Masked keys get f32::MIN added, as transformers does; `(batch, seq)`, broadcast
        // over heads and queries inside the softmax.
        let mask_bias = ((mask.to_dtype(DType::F32)? - 1.0)? * -(f32::MIN as f64))?;
        let unpad = Unpad::new(mask, self.heads)?;
        let mut x = self.embeddings.forward(ids, types, matches, &unpad, mode)?;
        if let Some(p) = &self.project {
            x = p.forward(&x)?;
        }
        for layer in &self.layers {
            x = layer.forward(&x, &mask_bias, &unpad, mode)?;
        }
        Ok((x, unpad))
    }
}
