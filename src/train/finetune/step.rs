//! The gradients of one fine-tuning micro-batch: the task's loss turned into the
//! objective and the labelled loss by the techniques' hooks, their extra loss terms, the
//! backward pass, and their extra gradient passes ([`Technique`] says in which order).

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::Tensor;

use crate::data::pair_batch::PairTensors;
use crate::model::classifier::SequenceClassifier;
use crate::model::dropout::Mode;
use crate::optim::NamedParam;
use crate::train::tasks::pair::{MicroBatch, Targets};
use crate::train::tasks::Task;
use crate::train::techniques::Technique;

/// What the loss of a micro-batch is made of: the task's loss and the techniques.
pub struct Objective<'a> {
    /// The task, whose loss on the hard labels the techniques build on.
    pub task: &'a dyn Task,
    /// The techniques, in registration order.
    pub techniques: &'a [Box<dyn Technique + 'a>],
}

impl Objective<'_> {
    /// The objective on one pass's logits: the task's loss on the hard rows the
    /// techniques keep, as a technique combines it with its own terms (soft labels); a
    /// zero that keeps the graph when nothing is left, so the gradients are zeros.
    pub fn objective(&self, logits: &Tensor, targets: &Targets) -> candle_core::Result<Tensor> {
        let keep = |l: &Tensor, ys: &Tensor| -> candle_core::Result<Option<Vec<u32>>> {
            for t in self.techniques {
                if let Some(kept) = t.keep_rows(l, ys)? {
                    return Ok(Some(kept));
                }
            }
            Ok(None)
        };
        let hard = match &targets.hard {
            Some(h) => self.task.hard_loss(logits, h, &keep)?,
            None => None,
        };
        for t in self.techniques {
            if let Some(o) = t.objective(&hard, logits, targets)? {
                return Ok(o);
            }
        }
        match hard {
            Some(h) => Ok(h),
            None => logits.sum_all()? * 0.0,
        }
    }

    /// The loss of `model` on a micro-batch: the labelled loss (one pass, or the passes
    /// of a technique such as R-Drop) plus the techniques' extra terms (UDA); dropout
    /// masks come from `mode`.
    pub fn loss(
        &self,
        model: &SequenceClassifier,
        micro: &MicroBatch,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let mut forward =
            |t: &PairTensors| model.forward(&t.ids, &t.types, t.matches.as_ref(), &t.mask, mode);
        let objective = |l: &Tensor| self.objective(l, &micro.targets);
        let mut labelled = None;
        for t in self.techniques {
            labelled = t.passes(&mut || forward(&micro.inputs), &objective)?;
            if labelled.is_some() {
                break;
            }
        }
        let mut loss = match labelled {
            Some(l) => l,
            None => objective(&forward(&micro.inputs)?)?,
        };
        for t in self.techniques {
            if let Some(extra) = t.extra_loss(&mut forward, micro)? {
                loss = (loss + extra)?;
            }
        }
        Ok(loss)
    }
}

/// The loss value and parameter gradients of one micro-batch, the gradients scaled by
/// `share` (this rank's part of a data-parallel batch; 1 in one process), plus the
/// techniques' extra gradient passes (adversarial training) when the loss is finite;
/// every pass draws its own dropout masks from `mode`.
pub fn micro_batch_grads(
    model: &SequenceClassifier,
    micro: &MicroBatch,
    objective: &Objective,
    params: &[NamedParam],
    mode: &mut Mode,
    share: f64,
) -> Result<(f64, GradStore)> {
    let loss = objective.loss(model, micro, mode)?;
    let value = loss.to_scalar::<f32>()? as f64;
    let mut grads = (loss * share)?.backward()?;
    if value.is_finite() {
        for t in objective.techniques {
            t.extra_grads(model, params, &mut grads, &mut || {
                objective.loss(model, micro, mode)
            })?;
        }
    }
    Ok((value, grads))
}
