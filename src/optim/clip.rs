//! Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_.

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::DType;

use super::kernels;
use super::NamedParam;
use crate::bad_input;

/// Scale the gradients of `params` in `grads` so that their global L2 norm is at most
/// `max_norm`, and return the norm before clipping.
///
/// As in PyTorch, the scale is `max_norm / (norm + 1e-6)` when that is below 1; gradients of
/// other tensors in the store (activations) are ignored. A non-finite norm is returned as is
/// (the gradients then become non-finite too): the caller decides whether to skip the step.
pub fn clip_grad_norm(grads: &mut GradStore, params: &[NamedParam], max_norm: f64) -> Result<f64> {
    if max_norm.is_nan() || max_norm <= 0.0 {
        bad_input!("max gradient norm {max_norm} must be above 0; 1.0 is usual")
    }
    let mut sum = 0.0f64;
    for (_, var) in params {
        let Some(g) = grads.get(var.as_tensor()) else {
            continue;
        };
        // Accumulate in f64: a float32 running sum over ~10^8 squares loses digits.
        sum += if kernels::applies(g) {
            kernels::sum_squares(g)?
        } else {
            g.to_dtype(DType::F64)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f64>()?
        };
    }
    let norm = sum.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 || !norm.is_finite() {
        for (_, var) in params {
            if let Some(g) = grads.get(var.as_tensor()) {
                let scaled = (g * coef)?;
                grads.insert(var.as_tensor(), scaled);
            }
        }
    }
    Ok(norm)
}
