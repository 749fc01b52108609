//! Dense layer `x · Wᵀ + b` as one op over all positions.
//!
//! Forward is one GEMM into an output preloaded with the bias; backward is one GEMM each
//! for the input and weight gradients and a parallel column sum for the bias. candle-nn's
//! `Linear` instead multiplies by the weight broadcast over the batch, whose backward
//! builds a `(batch, out, in)` gradient and sums it with a strided reduction; and as a
//! single autograd node this op also spares candle's per-node gradient bookkeeping (a
//! zeroed buffer and an add for every intermediate tensor).

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use super::batched_matmul::product;
use super::{composed, f32s, fused, rows_per_task};

/// `x · weightᵀ + bias` for `x (..., in)`, `weight (out, in)`, `bias (out,)`.
pub fn dense(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if !fused(&[x, weight, bias]) {
        return composed::dense(x, weight, bias);
    }
    x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, Dense)
}

/// `(rows, in, out)` of a dense layer's operands, checking they agree.
fn dims(x: &Layout, weight: &Layout, bias: &Layout) -> Result<(usize, usize, usize)> {
    let (out, inp) = weight.shape().dims2()?;
    if x.dims().last() != Some(&inp) || bias.shape().dims() != [out] {
        bail!(
            "dense: input {:?}, weight ({out}, {inp}) and bias {:?} do not fit",
            x.dims(),
            bias.dims()
        )
    }
    Ok((x.shape().elem_count() / inp.max(1), inp, out))
}

struct Dense;

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        "dapt-dense"
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
        let (rows, inp, out) = dims(l1, l2, l3)?;
        let mut y = Vec::with_capacity(rows * out);
        for _ in 0..rows {
            y.extend_from_slice(b);
        }
        let threads = rayon::current_num_threads();
        let parallelism = if threads > 1 {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        // SAFETY: y is rows x out (row stride out), x is rows x inp (row stride inp) and
        // Wᵀ is read from w (out x inp, row-major) as inp x out with row stride 1 and
        // column stride inp: every index gemm touches lies inside the three buffers.
        unsafe {
            gemm(
                rows,
                out,
                inp,
                y.as_mut_ptr(),
                1,
                out as isize,
                true,
                x.as_ptr(),
                1,
                inp as isize,
                w.as_ptr(),
                inp as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
        let mut shape = l1.dims().to_vec();
        *shape.last_mut().expect("checked by dims") = out;
        Ok((CpuStorage::F32(y), Shape::from(shape)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (out, inp) = weight.dims2()?;
        let rows = x.elem_count() / inp.max(1);
        let g = grad.contiguous()?.reshape((rows, out))?;
        // Write-only products (candle's matmul zero-fills its output first).
        let dx = product(&g, &weight.detach(), false, false)?.reshape(x.shape())?;
        let dw = product(&g, &x.detach().reshape((rows, inp))?, true, false)?;
        let db = g.apply_op1_no_bwd(&ColumnSum)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// Sums of the columns of a `(rows, cols)` matrix: the bias gradient.
struct ColumnSum;

impl CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "dapt-column-sum"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = f32s(storage, layout)?;
        let (_, cols) = layout.shape().dims2()?;
        // Fixed blocks of rows, partial sums added in block order: the result does not
        // depend on how rayon schedules the blocks (runs must be reproducible).
        let partials: Vec<Vec<f32>> = g
            .par_chunks(cols * rows_per_task(cols))
            .map(|block| {
                let mut acc = vec![0f32; cols];
                for row in block.chunks(cols) {
                    acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
                }
                acc
            })
            .collect();
        let mut sums = vec![0f32; cols];
        for p in &partials {
            sums.iter_mut().zip(p).for_each(|(s, v)| *s += v);
        }
        Ok((CpuStorage::F32(sums), Shape::from(cols)))
    }
}
