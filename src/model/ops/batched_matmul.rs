//! Batched matrix product `op(a) · op(b)` over leading batch dims, where `op` optionally
//! transposes the last two dims: attention's `q · kᵀ` and `probs · v`.
//!
//! candle's CPU matmul runs the batch items one after another, each a small GEMM (32 x 32
//! x 64 for `small`) that it hands to all rayon threads: the threads are woken for every
//! item and share almost no work, so attention gained nothing from a second core. Here
//! each item is one single-threaded GEMM and the items are spread over the threads.
//! Transposes are read through strides, never copied; the backward is four more
//! products of the same op.

use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use super::{f32s, fused, mul};

/// `op(a) · op(b)` for `a (..., m, k)` (`(..., k, m)` when `ta`) and `b (..., k, n)`
/// (`(..., n, k)` when `tb`) with the same leading dims.
pub fn batched_matmul(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    if !fused(&[a, b]) {
        let a = if ta { a.t()? } else { a.clone() };
        let b = if tb { b.t()? } else { b.clone() };
        return a.matmul(&b);
    }
    a.contiguous()?
        .apply_op2(&b.contiguous()?, BatchedMatMul { ta, tb })
}

/// `op(x) · op(y)` as [`batched_matmul`] without recording a backward: the products
/// inside backward passes (contiguous CPU f32 operands).
pub(super) fn product(x: &Tensor, y: &Tensor, tx: bool, ty: bool) -> Result<Tensor> {
    x.apply_op2_no_bwd(y, &BatchedMatMul { ta: tx, tb: ty })
}

struct BatchedMatMul {
    ta: bool,
    tb: bool,
}

/// `(batch, m, k, n)` of the product, checking the operands agree.
fn dims(op: &BatchedMatMul, a: &Layout, b: &Layout) -> Result<(usize, usize, usize, usize)> {
    let (ad, bd) = (a.dims(), b.dims());
    let r = ad.len();
    if r < 2 || bd.len() != r || ad[..r - 2] != bd[..r - 2] {
        bail!("batched_matmul: shapes {ad:?} and {bd:?} do not fit")
    }
    let (m, k) = if op.ta {
        (ad[r - 1], ad[r - 2])
    } else {
        (ad[r - 2], ad[r - 1])
    };
    let (k2, n) = if op.tb {
        (bd[r - 1], bd[r - 2])
    } else {
        (bd[r - 2], bd[r - 1])
    };
    if k != k2 {
        bail!("batched_matmul: inner dims {k} and {k2} differ ({ad:?}, {bd:?})")
    }
    Ok((ad[..r - 2].iter().product(), m, k, n))
}

impl CustomOp2 for BatchedMatMul {
    fn name(&self) -> &'static str {
        "dapt-batched-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (f32s(s1, l1)?, f32s(s2, l2)?);
        let (batch, m, k, n) = dims(self, l1, l2)?;
        // (row stride, column stride) of op(a) (m x k) and op(b) (k x n) in storage.
        let (a_rs, a_cs) = if self.ta { (1, m) } else { (k, 1) };
        let (b_rs, b_cs) = if self.tb { (1, k) } else { (n, 1) };
        // One item: it gets every thread (the dense layers' backward); several: one
        // thread each.
        let threads = rayon::current_num_threads();
        let parallelism = if batch == 1 && threads > 1 {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        // Not zeroed first: gemm writes every element (read_dst false, k = 0 included).
        let mut c = Vec::<f32>::with_capacity(batch * m * n);
        if m * n > 0 {
            let spare = &mut c.spare_capacity_mut()[..batch * m * n];
            spare.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| {
                let (a, b) = (&a[i * m * k..], &b[i * k * n..]);
                // SAFETY: item i of a and b spans m*k and k*n elements from these
                // offsets, read with the strides of its stored layout; c is m x n.
                unsafe {
                    mul(
                        (m, n, k),
                        (c.as_mut_ptr().cast::<f32>(), n, 1),
                        (a.as_ptr(), a_rs, a_cs),
                        (b.as_ptr(), b_rs, b_cs),
                        1.0,
                        parallelism,
                    )
                };
            });
        }
        // SAFETY: every item's m x n block was written above (none when m * n == 0).
        unsafe { c.set_len(batch * m * n) };
        let mut shape = l1.dims().to_vec();
        let r = shape.len();
        (shape[r - 2], shape[r - 1]) = (m, n);
        Ok((CpuStorage::F32(c), Shape::from(shape)))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad.contiguous()?;
        let (a, b) = (a.detach(), b.detach());
        let mm = product;
        // C = op(A) op(B): d op(A) = G op(B)ᵀ, d op(B) = op(A)ᵀ G; a transposed operand
        // gets the transpose of its op's gradient.
        let da = if self.ta {
            mm(&b, &g, self.tb, true)?
        } else {
            mm(&g, &b, false, !self.tb)?
        };
        let db = if self.tb {
            mm(&g, &a, true, self.ta)?
        } else {
            mm(&a, &g, !self.ta, false)?
        };
        Ok((Some(da), Some(db)))
    }
}
