//! Fused in-place CPU kernels for f32 parameters.
//!
//! Composing tensor ops costs about ten passes over memory per AdamW step (and as many
//! temporaries); these do one pass, split over rayon threads. The arithmetic follows
//! torch.optim.AdamW's single-tensor path operation by operation, so results agree to
//! rounding. Other devices and dtypes take the tensor-op paths in `adamw.rs`/`lookahead.rs`.

use std::cell::RefCell;

use candle_core::{bail, CpuStorage, InplaceOp1, InplaceOp2, Layout, Result, Tensor};
use rayon::prelude::*;

/// Elements per rayon task: large enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 1 << 15;

/// Whether `t` can be updated by these kernels.
pub(crate) fn applies(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == candle_core::DType::F32 && t.is_contiguous()
}

/// The per-step scalars of one AdamW update, already cast to f32 as torch casts them.
pub(crate) struct AdamWScalars {
    pub beta2: f32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    /// `1 - lr * weight_decay` (1 for parameters without decay).
    pub decay: f32,
    pub neg_step_size: f32,
    pub bias_correction2_sqrt: f32,
    pub eps: f32,
}

/// AdamW on one parameter (the destination); the gradient is the source; the moments are
/// plain host buffers owned by the optimizer.
pub(crate) struct AdamWKernel<'a> {
    pub s: AdamWScalars,
    pub exp_avg: RefCell<&'a mut [f32]>,
    pub exp_avg_sq: RefCell<&'a mut [f32]>,
}

impl InplaceOp2 for AdamWKernel<'_> {
    fn name(&self) -> &'static str {
        "dapt-adamw"
    }

    fn cpu_fwd(&self, p: &mut CpuStorage, pl: &Layout, g: &CpuStorage, gl: &Layout) -> Result<()> {
        let p = f32_mut(p, pl)?;
        let g = f32_ref(g, gl)?;
        let mut m = self.exp_avg.borrow_mut();
        let mut v = self.exp_avg_sq.borrow_mut();
        if g.len() != p.len() || m.len() != p.len() || v.len() != p.len() {
            bail!("dapt-adamw: parameter, gradient and moments differ in size")
        }
        let s = &self.s;
        p.par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| adamw_chunk(s, p, m, v, g));
        Ok(())
    }
}

fn adamw_chunk(s: &AdamWScalars, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32]) {
    for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
        // torch: exp_avg.lerp_(g, 1 - beta1) (weight < 0.5: m + w * (g - m)),
        // exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2).
        let mi = *m + s.one_minus_beta1 * (g - *m);
        let vi = *v * s.beta2 + s.one_minus_beta2 * g * g;
        *m = mi;
        *v = vi;
        // torch: p.mul_(1 - lr * wd); denom = sqrt(v) / sqrt(bc2) + eps;
        // p.addcdiv_(m, denom, value=-step_size).
        let denom = vi.sqrt() / s.bias_correction2_sqrt + s.eps;
        *p = *p * s.decay + s.neg_step_size * (mi / denom);
    }
}

/// Lookahead synchronisation on one parameter (the fast weights, the destination):
/// `slow += alpha * (fast - slow); fast = slow`.
pub(crate) struct LookaheadKernel<'a> {
    pub alpha: f32,
    pub slow: RefCell<&'a mut [f32]>,
}

impl InplaceOp1 for LookaheadKernel<'_> {
    fn name(&self) -> &'static str {
        "dapt-lookahead"
    }

    fn cpu_fwd(&self, p: &mut CpuStorage, pl: &Layout) -> Result<()> {
        let p = f32_mut(p, pl)?;
        let mut slow = self.slow.borrow_mut();
        if slow.len() != p.len() {
            bail!("dapt-lookahead: parameter and slow weights differ in size")
        }
        let alpha = self.alpha;
        p.par_chunks_mut(CHUNK)
            .zip(slow.par_chunks_mut(CHUNK))
            .for_each(|(p, slow)| {
                for (p, s) in p.iter_mut().zip(slow.iter_mut()) {
                    *s += alpha * (*p - *s);
                    *p = *s;
                }
            });
        Ok(())
    }
}

/// Sum of squares of a CPU f32 contiguous tensor, accumulated in f64.
pub(crate) fn sum_squares(t: &Tensor) -> Result<f64> {
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        bail!("sum_squares: not a CPU tensor")
    };
    let x = f32_ref(cpu, layout)?;
    // Chunk sums are collected in order and added serially: rayon's own reduction tree
    // depends on work stealing, which would make the norm (and a resumed run) irreproducible.
    let partial: Vec<f64> = x
        .par_chunks(CHUNK)
        .map(|c| c.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>())
        .collect();
    Ok(partial.iter().sum())
}

/// Copy of a CPU f32 contiguous tensor's elements.
pub(crate) fn to_host(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

fn f32_mut<'a>(s: &'a mut CpuStorage, l: &Layout) -> Result<&'a mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => bail!("dapt optimizer kernels need a contiguous f32 tensor"),
    }
}

fn f32_ref<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => bail!("dapt optimizer kernels need a contiguous f32 tensor"),
    }
}
