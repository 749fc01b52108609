//! Soft targets (knowledge distillation, Hinton et al. 2015,
//! <https://arxiv.org/abs/1503.02531>): a teacher's class probabilities, softened by a
//! temperature T, that the student matches by KL divergence next to the hard labels:
//! `α·CE(hard) + (1−α)·T²·KL(teacher_T ‖ student_T)`. The T² keeps the soft term's
//! gradients at the hard term's scale as T changes.

use anyhow::Result;
use candle_core::{Device, Tensor, D};
use clap::Args;

use crate::bad_input;

/// The flags of the soft-target loss (`dapt finetune --soft-labels`, `dapt distill`).
#[derive(Args, Debug, Clone)]
pub struct SoftLossArgs {
    /// Weight α of the hard-label cross-entropy; the soft term gets 1−α (pairs without a
    /// hard label contribute the soft term only)
    #[arg(
        long,
        default_value_t = 0.5,
        value_name = "ALPHA",
        help_heading = "Distillation"
    )]
    pub distill_alpha: f64,
    /// Temperature T that softens teacher and student distributions in the soft term
    #[arg(
        long,
        default_value_t = 2.0,
        value_name = "T",
        help_heading = "Distillation"
    )]
    pub temperature: f64,
}

impl Default for SoftLossArgs {
    fn default() -> Self {
        SoftLossArgs {
            distill_alpha: 0.5,
            temperature: 2.0,
        }
    }
}

impl SoftLossArgs {
    /// Refuse α outside [0, 1] and T ≤ 0 (exit 2).
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.distill_alpha) {
            bad_input!(
                "--distill-alpha {} must be in [0, 1] (1: hard labels only, 0: soft labels only)",
                self.distill_alpha
            );
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            bad_input!(
                "--temperature {} must be positive, e.g. 2",
                self.temperature
            );
        }
        Ok(())
    }
}

/// Teacher probabilities softened by temperature `t`: `softmax(ln p / t)`, which is
/// `p^(1/t)` renormalised; zeros stay zero.
pub fn tempered(p: &[f64], t: f64) -> Vec<f64> {
    let powered: Vec<f64> = p.iter().map(|&x| x.powf(1.0 / t)).collect();
    let sum: f64 = powered.iter().sum();
    powered.into_iter().map(|x| x / sum).collect()
}

/// Soft targets for some rows of a batch.
pub struct SoftTargets {
    /// The rows (u32 indices into the batch).
    rows: Tensor,
    /// Their tempered teacher distributions `[rows, classes]`.
    probs: Tensor,
    /// `Σ_rows Σ_c t·ln t` (0·ln 0 = 0): the KL's constant part, kept so the loss is the
    /// divergence itself (0 when the student matches).
    sum_t_ln_t: f64,
    count: usize,
}

impl SoftTargets {
    /// Targets for `rows` of a batch from their tempered teacher distributions.
    pub fn new(rows: &[u32], tempered: &[Vec<f64>], device: &Device) -> Result<SoftTargets> {
        let classes = tempered.first().map_or(0, Vec::len);
        let flat: Vec<f64> = tempered.iter().flatten().copied().collect();
        let sum_t_ln_t = tempered
            .iter()
            .flatten()
            .filter(|&&x| x > 0.0)
            .map(|&x| x * x.ln())
            .sum();
        Ok(SoftTargets {
            rows: Tensor::new(rows, device)?,
            probs: Tensor::from_vec(flat, (rows.len(), classes), device)?,
            sum_t_ln_t,
            count: rows.len(),
        })
    }

    /// `T²·KL(t ‖ softmax(z/T))` of the target rows of `logits`, summed over classes
    /// and averaged over those rows (PyTorch's `kl_div(..., reduction="batchmean")`, times T²).
    pub fn kl(&self, logits: &Tensor, temperature: f64) -> candle_core::Result<Tensor> {
        let z = (logits.index_select(&self.rows, 0)? / temperature)?;
        let log_s = candle_nn::ops::log_softmax(&z, D::Minus1)?;
        let cross = (log_s * self.probs.to_dtype(logits.dtype())?)?.sum_all()?;
        let n = self.count as f64;
        let t2 = temperature * temperature;
        // (Σ t ln t − Σ t ln s) / n, times T².
        (cross.neg()? + self.sum_t_ln_t)? * (t2 / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tempering_by_hand() {
        assert_eq!(tempered(&[0.2, 0.8], 1.0), vec![0.2, 0.8]);
        // T = 2: sqrt(0.2) = 0.4472, sqrt(0.8) = 0.8944, sum 1.3416.
        let t = tempered(&[0.2, 0.8], 2.0);
        assert!((t[0] - 1.0 / 3.0).abs() < 1e-12 && (t[1] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(tempered(&[0.0, 1.0], 3.0), vec![0.0, 1.0]);
    }

    #[test]
    fn kl_is_zero_when_the_student_matches() {
        // Student logits ln(0.2), ln(0.8) at T = 1 reproduce the teacher exactly.
        let dev = Device::Cpu;
        let logits = Tensor::new(&[[0.2f32.ln(), 0.8f32.ln()], [5.0, 5.0]], &dev).unwrap();
        let t = SoftTargets::new(&[0], &[vec![0.2, 0.8]], &dev).unwrap();
        let kl = t.kl(&logits, 1.0).unwrap().to_scalar::<f32>().unwrap();
        assert!(kl.abs() < 1e-6, "{kl}");
    }

    #[test]
    fn flags_are_checked() {
        let ok = SoftLossArgs::default();
        assert!(ok.validate().is_ok());
        assert!(SoftLossArgs {
            distill_alpha: 1.5,
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(SoftLossArgs {
            temperature: 0.0,
            ..ok
        }
        .validate()
        .is_err());
    }
}
