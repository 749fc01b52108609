//! Padding-free encoder layout: the dense layers (embeddings, Q/K/V, attention output,
//! feed-forward, LayerNorms) run on the real tokens only, `(tokens, hidden)`, and only
//! attention sees the padded `(batch, heads, seq, head_dim)` layout it needs.
//!
//! Short-text batches are mostly padding (OPPO queries average ~10 tokens in batches
//! padded to ~30), and the dense layers are nearly all of an encoder's FLOPs, so
//! skipping the padding rows is the largest single saving; NVIDIA's BERT ("unpad") and
//! ModernBERT do the same. Outputs at real positions are unchanged; padding positions,
//! whose values transformers computes but never uses, come out as zeros.
//!
//! Every move is one `index_select` (its backward an `index_add`) over index maps built
//! on the host once per batch from the attention mask; a batch without padding only
//! reshapes.

use std::sync::Arc;

use candle_core::{DType, Result, Tensor};

use super::ops::Spans;

/// How one batch moves between the padded `(batch, seq)` layout and the rows of its real
/// tokens.
pub struct Unpad {
    batch: usize,
    seq: usize,
    heads: usize,
    tokens: usize,
    /// Position within its sequence of each real token (for the position embeddings).
    offsets: Tensor,
    /// The same on the host, with each sequence's rows: what fused attention reads.
    spans: Arc<Spans>,
    /// The index maps; `None` when the batch has no padding, where every move is a
    /// reshape (or the transpose attention needs) and building maps would be wasted.
    maps: Option<Maps>,
}

/// Index maps of a batch with padding.
struct Maps {
    /// Flat `batch*seq` position of each real token, in order.
    positions: Tensor,
    /// For each `(batch, head, seq)`, the `(tokens*heads, head_dim)` row it reads; padding
    /// positions read row 0, which attention's key mask then ignores (its weight is
    /// exactly 0) and whose query results [`Unpad::merge_heads`] drops.
    split: Tensor,
    /// For each `(token, head)`, the `(batch*heads*seq, head_dim)` row of its context.
    merge: Tensor,
    /// For each flat position, its token row, or `tokens` (a zero row) for padding.
    pad: Tensor,
}

impl Unpad {
    /// The layout for attention mask `mask (batch, seq)` (1 real, 0 padding) and `heads`
    /// attention heads.
    pub fn new(mask: &Tensor, heads: usize) -> Result<Self> {
        let (batch, seq) = mask.dims2()?;
        let device = mask.device().clone();
        let mask: Vec<f32> = mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let mut row_of = vec![None; batch * seq];
        let mut positions = Vec::new();
        for (p, &m) in mask.iter().enumerate() {
            if m != 0.0 {
                row_of[p] = Some(positions.len() as u32);
                positions.push(p as u32);
            }
        }
        let tokens = positions.len();
        let seq_u = seq as u32;
        let offsets: Vec<u32> = positions.iter().map(|&p| p % seq_u).collect();
        let mut spans = Vec::with_capacity(batch);
        let mut row = 0;
        for b in 0..batch {
            let n = row_of[b * seq..(b + 1) * seq].iter().flatten().count();
            spans.push((row, n));
            row += n;
        }
        let on_device = |v: &[u32]| Tensor::new(v, &device);
        let maps = if tokens == batch * seq {
            None
        } else {
            let heads_u = heads as u32;
            let mut split = Vec::with_capacity(batch * heads * seq);
            for b in 0..batch {
                for h in 0..heads_u {
                    for s in 0..seq {
                        split.push(row_of[b * seq + s].map_or(0, |r| r * heads_u + h));
                    }
                }
            }
            let merge: Vec<u32> = positions
                .iter()
                .flat_map(|&p| {
                    (0..heads_u).map(move |h| ((p / seq_u) * heads_u + h) * seq_u + p % seq_u)
                })
                .collect();
            let pad: Vec<u32> = row_of.iter().map(|r| r.unwrap_or(tokens as u32)).collect();
            Some(Maps {
                positions: on_device(&positions)?,
                split: on_device(&split)?,
                merge: on_device(&merge)?,
                pad: on_device(&pad)?,
            })
        };
        Ok(Self {
            batch,
            seq,
            heads,
            tokens,
            offsets: on_device(&offsets)?,
            spans: Arc::new(Spans {
                seq,
                spans,
                offsets,
            }),
            maps,
        })
    }

    /// The real-token rows `(tokens, ...)` of a padded `(batch, seq, ...)` tensor.
    pub fn rows(&self, t: &Tensor) -> Result<Tensor> {
        let t = t.flatten_to(1)?;
        match &self.maps {
            None => Ok(t),
            Some(m) => t.index_select(&m.positions, 0),
        }
    }

    /// Each real token's position within its sequence, `(tokens,)` u32.
    pub fn offsets(&self) -> &Tensor {
        &self.offsets
    }

    /// Each sequence's rows and each row's position, for [`crate::model::ops::self_attention`].
    pub fn spans(&self) -> Arc<Spans> {
        self.spans.clone()
    }

    /// Elements of the padded `(batch, heads, seq, seq)` attention probabilities.
    pub fn attention_len(&self) -> usize {
        self.batch * self.heads * self.seq * self.seq
    }

    /// `(tokens, hidden)` to the attention layout `(batch, heads, seq, hidden/heads)`.
    pub fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (tokens, hidden) = x.dims2()?;
        let d = hidden / self.heads;
        match &self.maps {
            None => x
                .reshape((self.batch, self.seq, self.heads, d))?
                .transpose(1, 2)?
                .contiguous(),
            Some(m) => x
                .reshape((tokens * self.heads, d))?
                .index_select(&m.split, 0)?
                .reshape((self.batch, self.heads, self.seq, d)),
        }
    }

    /// Attention output `(batch, heads, seq, head_dim)` back to `(tokens, hidden)`.
    pub fn merge_heads(&self, ctx: &Tensor) -> Result<Tensor> {
        let (batch, heads, seq, d) = ctx.dims4()?;
        match &self.maps {
            None => ctx.transpose(1, 2)?.reshape((self.tokens, heads * d)),
            Some(m) => ctx
                .contiguous()?
                .reshape((batch * heads * seq, d))?
                .index_select(&m.merge, 0)?
                .reshape((self.tokens, heads * d)),
        }
    }

    /// `(tokens, hidden)` to `(batch, seq, hidden)` with zeros at padding positions.
    pub fn pad(&self, x: &Tensor) -> Result<Tensor> {
        let hidden = x.dim(1)?;
        let Some(m) = &self.maps else {
            return x.reshape((self.batch, self.seq, hidden));
        };
        let zero = Tensor::zeros((1, hidden), x.dtype(), x.device())?;
        Tensor::cat(&[x, &zero], 0)?
            .index_select(&m.pad, 0)?
            .reshape((self.batch, self.seq, hidden))
    }
}
