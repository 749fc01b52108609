//! Mean cross-entropy of logits against class ids (log-softmax and NLL in one pass).

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{composed, f32s, fused, rows_per_task};

/// Mean over rows of `logsumexp(logits[r]) - logits[r, targets[r]]`, as PyTorch's
/// `CrossEntropyLoss`; `logits` is `(rows, classes)`, `targets` `(rows,)` u32. A scalar;
/// the gradient flows to `logits`.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if !fused(&[logits]) || !targets.device().is_cpu() || targets.dtype() != DType::U32 {
        return composed::cross_entropy(logits, targets);
    }
    logits
        .contiguous()?
        .apply_op2(&targets.contiguous()?, CrossEntropy)
}

/// The targets as `u32` class ids, checked against the logits' shape.
fn targets<'a>(logits: &Layout, s: &'a CpuStorage, l: &Layout) -> Result<(&'a [u32], usize)> {
    let (rows, classes) = logits.shape().dims2()?;
    let t = match l.contiguous_offsets() {
        Some((a, b)) => &s.as_slice::<u32>()?[a..b],
        None => bail!("cross_entropy: targets not contiguous"),
    };
    if t.len() != rows {
        bail!("cross_entropy: {} targets for {rows} rows", t.len())
    }
    if let Some(&bad) = t.iter().find(|&&t| t as usize >= classes) {
        bail!("cross_entropy: target {bad} out of range for {classes} classes")
    }
    Ok((t, classes))
}

/// Max and `sum(exp(x - max))` of one row.
fn max_sum(x: &[f32]) -> (f32, f32) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (max, x.iter().map(|v| (v - max).exp()).sum())
}

struct CrossEntropy;

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "dapt-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1)?;
        let (t, classes) = targets(l1, s2, l2)?;
        // f64 sum over rows: hundreds of per-row losses of similar size.
        let total: f64 = x
            .par_chunks(classes)
            .zip(t.par_iter())
            .with_min_len(rows_per_task(classes))
            .map(|(x, &t)| {
                let (max, sum) = max_sum(x);
                f64::from(max + sum.ln() - x[t as usize])
            })
            .sum();
        let mean = (total / t.len().max(1) as f64) as f32;
        Ok((CpuStorage::F32(vec![mean]), Shape::from(())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = logits.apply_op3_no_bwd(targets, &grad.contiguous()?, &CrossEntropyGrad)?;
        Ok((Some(d), None))
    }
}

/// `d logits = (softmax(logits) - onehot(target)) * g / rows`, `g` the scalar gradient.
struct CrossEntropyGrad;

impl CustomOp3 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "dapt-cross-entropy-grad"
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
        let x = f32s(s1, l1)?;
        let (t, classes) = targets(l1, s2, l2)?;
        let g = f32s(s3, l3)?[0] / t.len().max(1) as f32;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(classes)
            .zip(x.par_chunks(classes).zip(t.par_iter()))
            .with_min_len(rows_per_task(classes))
            .for_each(|(o, (x, &t))| {
                let (max, sum) = max_sum(x);
                let scale = g / sum;
                for (o, &x) in o.iter_mut().zip(x) {
                    *o = (x - max).exp() * scale;
                }
                o[t as usize] -= g;
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}
