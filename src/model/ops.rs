//! Fused CPU kernels with their own backward, for the element-wise and row-wise parts of
//! BERT that candle composes from many single-threaded passes: dense layers, attention's
//! batched products, self-attention as a whole, masked attention softmax, LayerNorm, GELU (erf form), dropout masks and cross-entropy.
//!
//! Each op is a candle `CustomOp` whose forward is one pass over the rows (parallel with
//! rayon) and whose `bwd` is another single-pass kernel, so autograd works through them.
//! Off the CPU (or for non-f32 tensors) every function falls back to the composed,
//! device-generic version in [`composed`], which is also what the kernels are tested
//! against.

mod attention;
mod batched_matmul;
pub mod composed;
mod cross_entropy;
mod dense;
mod gelu;
mod layer_norm;
mod scale_by_mask;
mod softmax;
mod vector;

use candle_core::{bail, CpuStorage, DType, Layout, Result, Tensor};

pub use attention::{self_attention, Spans};
pub use batched_matmul::batched_matmul;
pub use cross_entropy::cross_entropy;
pub use dense::dense;
pub use gelu::gelu_erf;
pub use layer_norm::layer_norm;
pub use scale_by_mask::scale_by_mask;
pub use softmax::masked_softmax;

/// Whether the fused kernels apply: every tensor on the CPU, the float ones f32.
pub(crate) fn fused(floats: &[&Tensor]) -> bool {
    floats
        .iter()
        .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

/// The elements of a contiguous f32 CPU tensor.
fn f32s<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&storage.as_slice::<f32>()?[start..end]),
        None => bail!("fused op: input is not contiguous"),
    }
}

/// `dst (m x n) = beta * lhs (m x k) · rhs (k x n)`, every operand given by its pointer,
/// row stride and column stride; dst is written, not read (so it need not be zeroed).
///
/// SAFETY: the three strided matrices lie inside their buffers.
unsafe fn mul(
    (m, n, k): (usize, usize, usize),
    dst: (*mut f32, usize, usize),
    lhs: (*const f32, usize, usize),
    rhs: (*const f32, usize, usize),
    beta: f32,
    parallelism: gemm::Parallelism,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst.0,
        dst.2 as isize,
        dst.1 as isize,
        false,
        lhs.0,
        lhs.2 as isize,
        lhs.1 as isize,
        rhs.0,
        rhs.2 as isize,
        rhs.1 as isize,
        0.0,
        beta,
        false,
        false,
        false,
        parallelism,
    )
}

/// Rows per rayon task for rows of `len` elements: tasks of at least ~8k elements, so
/// short rows (attention's 32 keys) do not drown in scheduling overhead.
fn rows_per_task(len: usize) -> usize {
    (8192 / len.max(1)).max(1)
}
