//! The same functions as the fused kernels, composed from differentiable candle ops: what
//! runs off the CPU (CUDA) or for non-f32 tensors, and the reference in the tests.

use candle_core::{Result, Tensor, D};

/// `softmax(scores * scale + bias)` over the last dimension; `bias` is `(batch, keys)`,
/// broadcast over the middle dimensions of `scores`.
pub fn masked_softmax(scores: &Tensor, bias: &Tensor, scale: f64) -> Result<Tensor> {
    let (batch, keys) = bias.dims2()?;
    let mut shape = vec![1; scores.rank()];
    shape[0] = batch;
    shape[scores.rank() - 1] = keys;
    let x = (scores * scale)?.broadcast_add(&bias.reshape(shape)?)?;
    candle_nn::ops::softmax(&x, D::Minus1)
}

/// LayerNorm over the last dimension (candle-nn's fused one has no backward).
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed.broadcast_mul(weight)?.broadcast_add(bias)
}

/// Mean cross-entropy of `logits (rows, classes)` against `targets (rows,)`.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    candle_nn::loss::cross_entropy(logits, targets)
}

/// `x · weightᵀ + bias` for `x (..., in)`, `weight (out, in)`, `bias (out,)`.
pub fn dense(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.broadcast_matmul(&weight.t()?)?.broadcast_add(bias)
}
