//! Seeded dropout: masks come from a `ChaCha8Rng` the caller seeds per step, so a resumed
//! run draws exactly the masks of an uninterrupted one (candle's own RNG is not seedable
//! per call on every device).

use candle_core::{Result, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Zeroes each element of `x` with probability `p` and scales the rest by `1 / (1 - p)`.
/// The mask is drawn on the host from `rng` and moved to `x`'s device.
pub fn dropout(x: &Tensor, p: f64, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if p == 0.0 {
        return Ok(x.clone());
    }
    let keep = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| if rng.random::<f64>() < p { 0.0 } else { keep })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    x.mul(&mask)
}
