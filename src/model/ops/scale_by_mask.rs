//! `x * mask` for a constant mask (dropout's keep-and-rescale factors): one autograd node
//! whose backward is `grad * mask` for `x` only. candle's `mul` would also compute, zero
//! and accumulate a gradient for the mask.

use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{f32s, fused};

/// Elements per rayon task.
const CHUNK: usize = 16 * 1024;

/// `x * mask` (same shape), with no gradient for `mask`.
pub fn scale_by_mask(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    if !fused(&[x, mask]) {
        return x.mul(&mask.detach());
    }
    x.contiguous()?.apply_op2(&mask.contiguous()?, ScaleByMask)
}

/// The element-wise product of two contiguous f32 buffers of one shape.
fn product(s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<Vec<f32>> {
    let (x, m) = (f32s(s1, l1)?, f32s(s2, l2)?);
    if l1.dims() != l2.dims() {
        bail!(
            "scale_by_mask: shapes {:?} and {:?} differ",
            l1.dims(),
            l2.dims()
        )
    }
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(m.par_chunks(CHUNK)))
        .for_each(|(o, (x, m))| {
            for ((o, x), m) in o.iter_mut().zip(x).zip(m) {
                *o = x * m;
            }
        });
    Ok(out)
}

struct ScaleByMask;

impl CustomOp2 for ScaleByMask {
    fn name(&self) -> &'static str {
        "dapt-scale-by-mask"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        Ok((
            CpuStorage::F32(product(s1, l1, s2, l2)?),
            l1.shape().clone(),
        ))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        mask: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((
            Some(grad.contiguous()?.apply_op2_no_bwd(mask, &ScaleByMask)?),
            None,
        ))
    }
}
