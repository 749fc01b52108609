//! Soft labels (Hinton et al. 2015, <https://arxiv.org/abs/1503.02531>): the objective
//! `α·CE(hard rows) + (1−α)·T²·KL(teacher_T ‖ student_T)(soft rows)`, a term dropped when
//! no row of the micro-batch has its kind of target (`--soft-labels`, `dapt distill`).

use candle_core::Tensor;

use super::Technique;
use crate::train::soft::SoftLossArgs;
use crate::train::tasks::pair::Targets;

/// The distillation objective with its α and temperature.
pub struct SoftLabels {
    alpha: f64,
    temperature: f64,
}

impl SoftLabels {
    /// The objective of `--distill-alpha` and `--temperature`.
    pub fn new(args: &SoftLossArgs) -> Self {
        SoftLabels {
            alpha: args.distill_alpha,
            temperature: args.temperature,
        }
    }
}

impl Technique for SoftLabels {
    fn flag(&self) -> &'static str {
        "--soft-labels"
    }

    fn objective(
        &self,
        hard: &Option<Tensor>,
        logits: &Tensor,
        targets: &Targets,
    ) -> candle_core::Result<Option<Tensor>> {
        let soft = match &targets.soft {
            Some(s) => Some((s.kl(logits, self.temperature)? * (1.0 - self.alpha))?),
            None => None,
        };
        let loss = match (hard, soft) {
            (Some(h), Some(s)) => ((h * self.alpha)? + s)?,
            (Some(h), None) => (h * self.alpha)?,
            (None, Some(s)) => s,
            // Every row dropped (TSA): a zero that keeps the graph.
            (None, None) => (logits.sum_all()? * 0.0)?,
        };
        Ok(Some(loss))
    }
}
