//! The gradients of one micro-batch: the loss (cross-entropy, with soft targets the
//! distillation objective, either inside R-Drop's), its backward pass, and the
//! adversarial passes when `--adversarial` is set.

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};

use crate::data::pair_batch::PairTensors;
use crate::model::classifier::SequenceClassifier;
use crate::model::dropout::Mode;
use crate::optim::NamedParam;
use crate::train::loss::cross_entropy;
use crate::train::soft::{SoftLossArgs, SoftTargets};
use crate::train::techniques::{rdrop_loss, Adversarial};
use crate::train::uda::{consistency, tsa_keep, UdaArgs};

/// What one training example is trained towards: its class, its teacher's tempered
/// distribution, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The hard label.
    pub label: Option<usize>,
    /// The teacher's distribution at the distillation temperature.
    pub soft: Option<Vec<f64>>,
}

impl Target {
    /// A hard label only.
    pub fn hard(label: usize) -> Target {
        Target {
            label: Some(label),
            soft: None,
        }
    }
}

/// The targets of a micro-batch's rows.
pub struct Targets {
    /// Class ids (u32) of the rows that have one, and which rows those are (`None`: every
    /// row, in order).
    pub hard: Option<(Tensor, Option<Tensor>)>,
    /// The teacher distributions of the rows that have one.
    pub soft: Option<SoftTargets>,
}

impl Targets {
    /// The targets of `rows`, in batch order.
    pub fn of(rows: &[&Target], device: &Device) -> Result<Targets> {
        let hard_rows: Vec<u32> = (0..rows.len() as u32)
            .filter(|&i| rows[i as usize].label.is_some())
            .collect();
        let ys: Vec<u32> = rows
            .iter()
            .filter_map(|t| t.label.map(|l| l as u32))
            .collect();
        let hard = match hard_rows.len() {
            0 => None,
            n if n == rows.len() => Some((Tensor::new(ys.as_slice(), device)?, None)),
            _ => Some((
                Tensor::new(ys.as_slice(), device)?,
                Some(Tensor::new(hard_rows.as_slice(), device)?),
            )),
        };
        let soft_rows: Vec<u32> = (0..rows.len() as u32)
            .filter(|&i| rows[i as usize].soft.is_some())
            .collect();
        let soft = if soft_rows.is_empty() {
            None
        } else {
            let dists: Vec<Vec<f64>> = rows.iter().filter_map(|t| t.soft.clone()).collect();
            Some(SoftTargets::new(&soft_rows, &dists, device)?)
        };
        Ok(Targets { hard, soft })
    }
}

/// What the loss of a micro-batch is made of.
pub struct LossSpec<'a> {
    /// Class weights of the cross-entropy.
    pub class_weight: Option<&'a [f64]>,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f64,
    /// R-Drop's α (two passes), or one pass when `None`.
    pub rdrop: Option<f64>,
    /// The soft-target objective's α and T (`--soft-labels`); `None`: the cross-entropy
    /// of the hard labels alone.
    pub soft_loss: Option<&'a SoftLossArgs>,
    /// This step's TSA threshold (`--tsa`): labelled rows whose correct-class probability
    /// is above it leave the cross-entropy.
    pub tsa: Option<f64>,
    /// UDA's λ, τ and β when `--uda` is on.
    pub uda: Option<&'a UdaArgs>,
}

impl LossSpec<'_> {
    /// The objective on one pass's logits: the hard labels' cross-entropy, or
    /// `α·CE(hard rows) + (1−α)·T²·KL(soft rows)`, a term dropped when no row has its kind.
    pub fn objective(&self, logits: &Tensor, targets: &Targets) -> candle_core::Result<Tensor> {
        let ce = |(ys, rows): &(Tensor, Option<Tensor>)| -> candle_core::Result<Option<Tensor>> {
            let l = match rows {
                None => logits.clone(),
                Some(r) => logits.index_select(r, 0)?,
            };
            let (l, ys) = match self.tsa {
                None => (l, ys.clone()),
                Some(threshold) => {
                    let keep = tsa_keep(&l, &ys.to_vec1::<u32>()?, threshold)?;
                    if keep.is_empty() {
                        return Ok(None);
                    }
                    let keep = Tensor::new(keep.as_slice(), logits.device())?;
                    (l.index_select(&keep, 0)?, ys.index_select(&keep, 0)?)
                }
            };
            cross_entropy(&l, &ys, self.class_weight, self.label_smoothing).map(Some)
        };
        let hard = targets.hard.as_ref().map(ce).transpose()?.flatten();
        // Every row dropped (TSA): a zero that keeps the graph, so gradients are zeros.
        let nothing = || logits.sum_all()? * 0.0;
        let Some(d) = self.soft_loss else {
            return hard.map_or_else(nothing, Ok);
        };
        let soft = match &targets.soft {
            Some(s) => Some((s.kl(logits, d.temperature)? * (1.0 - d.distill_alpha))?),
            None => None,
        };
        match (hard, soft) {
            (Some(h), Some(s)) => (h * d.distill_alpha)? + s,
            (Some(h), None) => h * d.distill_alpha,
            (None, Some(s)) => Ok(s),
            (None, None) => nothing(),
        }
    }

    /// The loss of `model` on a micro-batch: the objective on its labelled rows and, with
    /// UDA, λ times the consistency term on its unlabelled pairs; dropout masks come
    /// from `mode`.
    pub fn loss(
        &self,
        model: &SequenceClassifier,
        micro: &MicroBatch,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let forward = |t: &PairTensors, mode: &mut Mode| {
            model.forward(&t.ids, &t.types, t.matches.as_ref(), &t.mask, mode)
        };
        let objective = |l: &Tensor| self.objective(l, &micro.targets);
        let labelled = match self.rdrop {
            None => objective(&forward(&micro.inputs, mode)?)?,
            Some(alpha) => {
                let first = forward(&micro.inputs, mode)?;
                rdrop_loss(&first, &forward(&micro.inputs, mode)?, alpha, objective)?
            }
        };
        match (self.uda, &micro.unlabelled) {
            (Some(u), Some((original, augmented))) => {
                // The target pass needs no gradient: its logits are detached.
                let z = forward(original, mode)?.detach();
                let (c, _) = consistency(
                    &z,
                    &forward(augmented, mode)?,
                    u.uda_temperature,
                    u.uda_confidence,
                )?;
                Ok((labelled + (c * u.uda_weight)?)?)
            }
            _ => Ok(labelled),
        }
    }
}

/// One micro-batch: the labelled inputs with their targets and, with UDA, a batch of
/// unlabelled pairs with their augmented copies.
pub struct MicroBatch {
    /// The labelled (or soft-labelled) pairs.
    pub inputs: PairTensors,
    /// Their targets.
    pub targets: Targets,
    /// Unlabelled pairs and their augmented copies, row for row.
    pub unlabelled: Option<(PairTensors, PairTensors)>,
}

/// The loss value and parameter gradients of one micro-batch, the gradients scaled by
/// `share` (this rank's part of a data-parallel batch; 1 in one process). With an
/// attack, the gradients of the loss at the adversarial point of `embeddings` are added
/// and the embeddings restored; every pass draws its own dropout masks from `mode`.
pub fn micro_batch_grads(
    model: &SequenceClassifier,
    micro: &MicroBatch,
    spec: &LossSpec,
    attack: Option<(&Adversarial, &Var)>,
    params: &[NamedParam],
    mode: &mut Mode,
    share: f64,
) -> Result<(f64, GradStore)> {
    let loss = spec.loss(model, micro, mode)?;
    let value = loss.to_scalar::<f32>()? as f64;
    let mut grads = (loss * share)?.backward()?;
    if let Some((adv, embeddings)) = attack {
        if value.is_finite() {
            adv.apply(embeddings, params, &mut grads, || {
                spec.loss(model, micro, mode)
            })?;
        }
    }
    Ok((value, grads))
}
