//! Dense layers (`y = x Wᵀ + b`) with HF parameter names, computed by the fused
//! [`ops::dense`] (one GEMM per direction over all positions).

use candle_core::{Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use super::ops;

/// A dense layer with parameters `weight (out, in)` and `bias (out,)`.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

/// A dense layer `in_dim -> out_dim` under `vb` (`weight`, `bias`), with candle-nn's
/// default initialisation (dapt re-initialises as transformers does in
/// [`crate::model::build::init_weights`]).
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get_with_hints(
        (out_dim, in_dim),
        "weight",
        candle_nn::init::DEFAULT_KAIMING_NORMAL,
    )?;
    let bound = 1.0 / (in_dim as f64).sqrt();
    let bias = vb.get_with_hints(
        out_dim,
        "bias",
        Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    Ok(Linear { weight, bias })
}

impl Module for Linear {
    /// Computed in `x`'s dtype: under bf16 mixed precision the f32 weights are cast on
    /// use, so their gradients reach the f32 master copies.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        ops::dense(
            x,
            &self.weight.to_dtype(dtype)?,
            &self.bias.to_dtype(dtype)?,
        )
    }
}
