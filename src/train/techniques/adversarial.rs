//! Adversarial training on the word embeddings: FGM (Miyato et al. 2017,
//! <https://arxiv.org/abs/1605.07725>) and PGD (Madry et al. 2018,
//! <https://arxiv.org/abs/1706.06083>), in the form the open GAIIC and Kaggle pair-matching
//! solutions use: the perturbation is applied to the whole embedding matrix, the
//! adversarial loss's gradients are added to the clean ones, and the matrix is restored
//! before the optimizer step, so no perturbation ever reaches a checkpoint.

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use clap::ValueEnum;
use serde::Serialize;

use super::{add_grads, Technique};
use crate::model::classifier::SequenceClassifier;
use crate::optim::NamedParam;

/// The attack (`--adversarial`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdversarialKind {
    /// Fast gradient method: one step `r = ε·g/‖g‖₂`, one extra forward and backward.
    Fgm,
    /// Projected gradient descent: `--adv-steps` steps of `--adv-alpha` inside the ε-ball.
    Pgd,
}

/// An attack with its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Adversarial {
    /// FGM or PGD.
    pub kind: AdversarialKind,
    /// Radius ε of the perturbation (FGM: its norm; PGD: the ball it is projected into).
    pub epsilon: f64,
    /// PGD steps K (each one forward and backward).
    pub steps: usize,
    /// PGD step size α.
    pub alpha: f64,
}

/// The Frobenius norm of `t`.
fn norm(t: &Tensor) -> Result<f64> {
    Ok(t.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()? as f64)
}

impl Adversarial {
    /// Forward and backward passes one micro-batch costs, the clean one included.
    pub fn passes(&self) -> usize {
        match self.kind {
            AdversarialKind::Fgm => 2,
            AdversarialKind::Pgd => self.steps + 1,
        }
    }

    /// Adds to `grads` (the clean loss's gradients of `params`) the gradients of the loss
    /// at the adversarial point of `embeddings`, which `loss` computes at the matrix's
    /// current values. The matrix holds its original values again when this returns,
    /// whether it succeeds or fails.
    pub fn apply(
        &self,
        embeddings: &Var,
        params: &[NamedParam],
        grads: &mut GradStore,
        mut loss: impl FnMut() -> Result<Tensor>,
    ) -> Result<()> {
        let Some(clean) = grads.get(embeddings.as_tensor()).cloned() else {
            anyhow::bail!("adversarial training: the loss has no gradient on the word embeddings");
        };
        let backup = embeddings.as_tensor().copy()?;
        let result = self.attack(embeddings, &backup, clean, &mut loss);
        embeddings.set(&backup)?;
        add_grads(grads, &result?, params)
    }

    /// The gradients at the final adversarial point (the matrix left perturbed).
    fn attack(
        &self,
        emb: &Var,
        backup: &Tensor,
        mut g: Tensor,
        loss: &mut impl FnMut() -> Result<Tensor>,
    ) -> Result<GradStore> {
        let steps = match self.kind {
            AdversarialKind::Fgm => 1,
            AdversarialKind::Pgd => self.steps,
        };
        for t in 0..steps {
            // As the reference code: a zero or NaN gradient norm leaves the point as it is
            // (the extra pass still runs).
            let n = norm(&g)?;
            if n != 0.0 && n.is_finite() {
                match self.kind {
                    AdversarialKind::Fgm => emb.set(&(backup + (g * (self.epsilon / n))?)?)?,
                    AdversarialKind::Pgd => {
                        let moved = (emb.as_tensor() + (g * (self.alpha / n))?)?;
                        let mut r = (moved - backup)?;
                        let rn = norm(&r)?;
                        if rn > self.epsilon {
                            r = (r * (self.epsilon / rn))?;
                        }
                        emb.set(&(backup + r)?)?;
                    }
                }
            }
            let grads = loss()?.backward()?;
            if t + 1 == steps {
                return Ok(grads);
            }
            g = match grads.get(emb.as_tensor()) {
                Some(g) => g.clone(),
                None => anyhow::bail!("adversarial training: no gradient on the word embeddings"),
            };
        }
        unreachable!("at least one attack step")
    }
}

impl Technique for Adversarial {
    fn flag(&self) -> &'static str {
        "--adversarial"
    }

    fn refuses_data_parallel(&self) -> Option<&'static str> {
        Some("each rank would perturb by its own gradient")
    }

    fn extra_grads(
        &self,
        model: &SequenceClassifier,
        params: &[NamedParam],
        grads: &mut GradStore,
        loss: &mut dyn FnMut() -> Result<Tensor>,
    ) -> Result<()> {
        self.apply(&model.word_embeddings()?, params, grads, loss)
    }
}
