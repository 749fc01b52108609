//! R-Drop (Liang et al. 2021, <https://arxiv.org/abs/2106.14448>): two forward passes with
//! independent dropout masks; the loss is the mean of their cross-entropies plus α times
//! the symmetric KL divergence of their class distributions.

use candle_core::{Result, Tensor, D};

use super::Technique;

/// R-Drop with its weight α (`--rdrop`).
pub struct RDrop {
    /// Weight of the symmetric KL term.
    pub alpha: f64,
}

impl Technique for RDrop {
    fn flag(&self) -> &'static str {
        "--rdrop"
    }

    fn passes(
        &self,
        forward: &mut dyn FnMut() -> anyhow::Result<Tensor>,
        objective: &dyn Fn(&Tensor) -> Result<Tensor>,
    ) -> anyhow::Result<Option<Tensor>> {
        let first = forward()?;
        Ok(Some(rdrop_loss(
            &first,
            &forward()?,
            self.alpha,
            objective,
        )?))
    }
}

/// `(CE(l₁) + CE(l₂)) / 2 + α · (KL(p₁‖p₂) + KL(p₂‖p₁)) / 2`, the KL terms summed over
/// classes and averaged over the batch (so α does not depend on the batch size); `ce`
/// is the cross-entropy of one pass's logits. Gradients flow through both distributions,
/// as in the paper's code.
pub fn rdrop_loss(
    logits1: &Tensor,
    logits2: &Tensor,
    alpha: f64,
    ce: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let ce = ((ce(logits1)? + ce(logits2)?)? * 0.5)?;
    let lp1 = candle_nn::ops::log_softmax(logits1, D::Minus1)?;
    let lp2 = candle_nn::ops::log_softmax(logits2, D::Minus1)?;
    // KL(p₁‖p₂) + KL(p₂‖p₁) = Σ (p₁ − p₂)(log p₁ − log p₂).
    let sym = ((lp1.exp()? - lp2.exp()?)? * (lp1 - lp2)?)?;
    let batch = logits1.dim(0)? as f64;
    ce + (sym.sum_all()? * (0.5 * alpha / batch))?
}
