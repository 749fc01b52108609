//! Softmax over the last dimension of attention scores, with scaling and an additive
//! per-key bias (the attention mask) folded in.

use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{composed, f32s, fused, rows_per_task};

/// `softmax(scores * scale + bias)` over the last dimension. `scores` is
/// `(batch, .., keys)`, `bias` is `(batch, keys)` and is added to every row of its batch
/// entry (0 for real keys, a large negative value for padding). The gradient flows to
/// `scores` only: the bias is a constant mask.
pub fn masked_softmax(scores: &Tensor, bias: &Tensor, scale: f64) -> Result<Tensor> {
    if !fused(&[scores, bias]) {
        return composed::masked_softmax(scores, bias, scale);
    }
    scores.contiguous()?.apply_op2(
        &bias.contiguous()?,
        MaskedSoftmax {
            scale: scale as f32,
        },
    )
}

/// Rows of `x` per entry of the bias's batch dimension, checking the shapes agree.
fn rows_per_batch(x: &Layout, bias: &Layout) -> Result<(usize, usize)> {
    let (batch, keys) = bias.shape().dims2()?;
    let dims = x.dims();
    if dims.first() != Some(&batch) || dims.last() != Some(&keys) {
        bail!("masked_softmax: scores {dims:?} do not match bias ({batch}, {keys})")
    }
    Ok((x.shape().elem_count() / (batch * keys).max(1), keys))
}

struct MaskedSoftmax {
    scale: f32,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "dapt-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, bias) = (f32s(s1, l1)?, f32s(s2, l2)?);
        let (per_batch, keys) = rows_per_batch(l1, l2)?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(keys)
            .zip(x.par_chunks(keys))
            .enumerate()
            .with_min_len(rows_per_task(keys))
            .for_each(|(row, (o, x))| {
                let bias = &bias[row / per_batch * keys..][..keys];
                for ((o, &x), &b) in o.iter_mut().zip(x).zip(bias) {
                    *o = x * self.scale + b;
                }
                softmax_in_place(o);
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        _bias: &Tensor,
        probs: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = probs.apply_op2_no_bwd(&grad.contiguous()?, &MaskedSoftmaxGrad(self.scale))?;
        Ok((Some(d), None))
    }
}

/// `d scores = scale * p * (g - sum(g * p))` per row, from the probabilities `p`.
struct MaskedSoftmaxGrad(f32);

impl CustomOp2 for MaskedSoftmaxGrad {
    fn name(&self) -> &'static str {
        "dapt-masked-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (p, g) = (f32s(s1, l1)?, f32s(s2, l2)?);
        let keys = l1.dims().last().copied().unwrap_or(1);
        let mut out = g.to_vec();
        out.par_chunks_mut(keys)
            .zip(p.par_chunks(keys))
            .with_min_len(rows_per_task(keys))
            .for_each(|(o, p)| softmax_grad_in_place(p, o, self.0));
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Softmax of `row`, in place.
pub(super) fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|x| *x *= inv);
}

/// The gradient of a softmax's (scaled) input from the gradient `g` of its output `p`,
/// in place of `g`: `scale * p * (g - sum(g * p))`.
pub(super) fn softmax_grad_in_place(p: &[f32], g: &mut [f32], scale: f32) {
    let dot: f32 = p.iter().zip(g.iter()).map(|(p, g)| p * g).sum();
    for (g, &p) in g.iter_mut().zip(p) {
        *g = scale * p * (*g - dot);
    }
}
