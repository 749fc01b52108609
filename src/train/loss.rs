//! Losses: class-weighted, label-smoothed cross-entropy for the pair classifier.

use anyhow::Result;
use candle_core::{DType, Tensor, D};

use crate::error::InputError;

/// Parse `--class-weight` values such as `1:1.3` (one weight per class, in class order).
pub fn parse_class_weight(s: &str) -> Result<Vec<f64>, InputError> {
    let weights: Vec<f64> = s
        .split(':')
        .map(|w| w.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            InputError(format!(
                "--class-weight {s:?}: expected numbers separated by ':', e.g. 1:1.3"
            ))
        })?;
    if weights.len() < 2 || weights.iter().any(|w| !w.is_finite() || *w <= 0.0) {
        return Err(InputError(format!(
            "--class-weight {s:?}: need one positive weight per class (at least two), e.g. 1:1.3"
        )));
    }
    Ok(weights)
}

/// Mean cross-entropy of `logits` `[N, C]` against class ids `labels` `[N]` (u32), with
/// the semantics of PyTorch's `CrossEntropyLoss(weight, label_smoothing)`: each example's
/// loss is scaled by its class weight and the mean divides by the sum of those weights;
/// with smoothing `e`, `(1 - e) * nll + e / C * sum_c w_c * -log p_c` (same divisor).
pub fn cross_entropy(
    logits: &Tensor,
    labels: &Tensor,
    class_weight: Option<&[f64]>,
    label_smoothing: f64,
) -> candle_core::Result<Tensor> {
    let (_, num_classes) = logits.dims2()?;
    let dtype = logits.dtype();
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let weight = match class_weight {
        Some(w) => Tensor::new(w, logits.device())?.to_dtype(dtype)?,
        None => Tensor::ones(num_classes, dtype, logits.device())?,
    };
    let labels = labels.to_dtype(DType::U32)?;
    let w_y = weight.index_select(&labels, 0)?;
    let picked = logp.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?;
    let denom = w_y.sum_all()?;
    let nll = (picked * &w_y)?.sum_all()?.neg()?.broadcast_div(&denom)?;
    if label_smoothing == 0.0 {
        return Ok(nll);
    }
    let smooth = logp
        .broadcast_mul(&weight.unsqueeze(0)?)?
        .sum_all()?
        .neg()?
        .broadcast_div(&denom)?;
    (nll * (1.0 - label_smoothing))? + (smooth * (label_smoothing / num_classes as f64))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_weight_parsing() {
        assert_eq!(parse_class_weight("1:1.3").unwrap(), vec![1.0, 1.3]);
        assert_eq!(parse_class_weight("0.5:2:1").unwrap(), vec![0.5, 2.0, 1.0]);
        assert!(parse_class_weight("1").is_err());
        assert!(parse_class_weight("1:x").is_err());
        assert!(parse_class_weight("1:-2").is_err());
    }
}
