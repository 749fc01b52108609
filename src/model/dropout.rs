//! Seeded dropout: masks come from a `ChaCha8Rng` the trainer seeds per step, so a resumed
//! run draws exactly the masks of an uninterrupted one (candle's own RNG is not seedable
//! per call on every device).

use candle_core::{DType, Result, Tensor};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;

/// Zeroes each element of `x` with probability `p` and scales the rest by `1 / (1 - p)`.
/// The mask is drawn on the host from `rng` and moved to `x`'s device.
pub fn dropout(x: &Tensor, p: f64, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if p == 0.0 {
        return Ok(x.clone());
    }
    let mask = keep_mask(x.elem_count(), p, rng);
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    super::ops::scale_by_mask(x, &mask)
}

/// `n` dropout multipliers: 0 with probability `p`, else `1 / (1 - p)`.
fn keep_mask(n: usize, p: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let keep = (1.0 / (1.0 - p)) as f32;
    // One u32 per element against a fixed threshold: exact rate p up to 2^-32, and
    // several times faster than drawing an f64 per element.
    let threshold = (p * 4_294_967_296.0) as u64;
    (0..n)
        .map(|_| {
            if (rng.next_u32() as u64) < threshold {
                0.0
            } else {
                keep
            }
        })
        .collect()
}

/// Training or evaluation mode of one forward pass. Training applies dropout with masks
/// from the pass's own random stream; evaluation is deterministic. The mode also carries
/// the dtype the encoder's and MLM head's matrix products run in ([`Mode::compute`]).
pub struct Mode {
    rng: Option<ChaCha8Rng>,
    compute: DType,
}

impl Mode {
    /// Evaluation: no dropout, f32 products.
    pub fn eval() -> Self {
        Self {
            rng: None,
            compute: DType::F32,
        }
    }

    /// Training: dropout masks drawn from `rng` (seed it per step for exact resume), f32
    /// products.
    pub fn train(rng: ChaCha8Rng) -> Self {
        Self {
            rng: Some(rng),
            compute: DType::F32,
        }
    }

    /// This mode with matrix products in `dtype` (bf16 for mixed precision; see
    /// [`crate::model::Precision`]).
    pub fn with_compute(self, dtype: DType) -> Self {
        Self {
            compute: dtype,
            ..self
        }
    }

    /// The dtype of the matrix products.
    pub fn compute(&self) -> DType {
        self.compute
    }

    /// Whether dropout is on.
    pub fn is_train(&self) -> bool {
        self.rng.is_some()
    }

    /// `x` with dropout `p` in training mode, `x` itself in evaluation mode.
    pub fn dropout(&mut self, x: &Tensor, p: f64) -> Result<Tensor> {
        match &mut self.rng {
            Some(rng) => dropout(x, p, rng),
            None => Ok(x.clone()),
        }
    }

    /// The multipliers [`Mode::dropout`] would apply to `n` elements (the same draws),
    /// for an op that applies them itself; `None` in evaluation mode or when `p` is 0.
    pub fn dropout_mask(&mut self, n: usize, p: f64) -> Option<Vec<f32>> {
        match &mut self.rng {
            Some(rng) if p != 0.0 => Some(keep_mask(n, p, rng)),
            _ => None,
        }
    }
}
