//! LayerNorm over the last dimension: statistics, normalisation and affine in one pass
//! per row; the backward recomputes the statistics instead of storing them.

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{composed, f32s, fused, rows_per_task};

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the last dimension of `x`, whose
/// width is the length of `weight` and `bias`; gradients flow to all three.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    if !fused(&[x, weight, bias]) {
        return composed::layer_norm(x, weight, bias, eps);
    }
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        LayerNormOp { eps: eps as f32 },
    )
}

/// Mean and `1 / sqrt(var + eps)` of one row (two passes over the row, for accuracy).
fn stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// The width of the normalised dimension, checking `x` ends with it.
fn width(x: &Layout, weight: &Layout) -> Result<usize> {
    let h = weight.shape().elem_count();
    if x.dims().last() != Some(&h) {
        bail!(
            "layer_norm: input {:?} does not end with width {h}",
            x.dims()
        )
    }
    Ok(h)
}

struct LayerNormOp {
    eps: f32,
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "dapt-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, b) = (f32s(s1, l1)?, f32s(s2, l2)?, f32s(s3, l3)?);
        let h = width(l1, l2)?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(h)
            .zip(x.par_chunks(h))
            .with_min_len(rows_per_task(h))
            .for_each(|(o, x)| {
                let (mean, rstd) = stats(x, self.eps);
                for (((o, &x), &w), &b) in o.iter_mut().zip(x).zip(w).zip(b) {
                    *o = (x - mean) * rstd * w + b;
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // One buffer `[dx | dweight | dbias]`: a custom op has a single output.
        let packed = x.apply_op3_no_bwd(
            weight,
            &grad.contiguous()?,
            &LayerNormGrad { eps: self.eps },
        )?;
        let (n, h) = (x.elem_count(), weight.elem_count());
        Ok((
            Some(packed.narrow(0, 0, n)?.reshape(x.shape())?),
            Some(packed.narrow(0, n, h)?.reshape(weight.shape())?),
            Some(packed.narrow(0, n + h, h)?.reshape(weight.shape())?),
        ))
    }
}

/// From `x`, `weight` and the output gradient `g`, per row with `xh` the normalised row
/// and `dy = g * weight`: `dx = rstd * (dy - mean(dy) - xh * mean(dy * xh))`;
/// `dweight = sum(g * xh)` and `dbias = sum(g)` over the rows.
struct LayerNormGrad {
    eps: f32,
}

impl CustomOp3 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "dapt-layer-norm-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, g) = (f32s(s1, l1)?, f32s(s2, l2)?, f32s(s3, l3)?);
        let h = width(l1, l2)?;
        let mut out = vec![0f32; x.len() + 2 * h];
        let (dx, tail) = out.split_at_mut(x.len());
        let block = h * rows_per_task(h);
        // Each task sums dweight/dbias over its rows; the partial sums are added after.
        let partials: Vec<Vec<f32>> = dx
            .par_chunks_mut(block)
            .zip(x.par_chunks(block).zip(g.par_chunks(block)))
            .map(|(dx, (x, g))| {
                let mut acc = vec![0f32; 2 * h];
                let (dw, db) = acc.split_at_mut(h);
                let mut xh = vec![0f32; h];
                for (dx, (x, g)) in dx.chunks_mut(h).zip(x.chunks(h).zip(g.chunks(h))) {
                    let (mean, rstd) = stats(x, self.eps);
                    let (mut sum_dy, mut sum_dy_xh) = (0f32, 0f32);
                    for j in 0..h {
                        xh[j] = (x[j] - mean) * rstd;
                        let dy = g[j] * w[j];
                        sum_dy += dy;
                        sum_dy_xh += dy * xh[j];
                        dw[j] += g[j] * xh[j];
                        db[j] += g[j];
                    }
                    let (m1, m2) = (sum_dy / h as f32, sum_dy_xh / h as f32);
                    for j in 0..h {
                        dx[j] = rstd * (g[j] * w[j] - m1 - xh[j] * m2);
                    }
                }
                acc
            })
            .collect();
        for p in partials {
            tail.iter_mut().zip(&p).for_each(|(t, p)| *t += p);
        }
        Ok((CpuStorage::F32(out), Shape::from(x.len() + 2 * h)))
    }
}
