//! The gradients of one micro-batch: the loss (cross-entropy, or R-Drop's), its backward
//! pass, and the adversarial passes when `--adversarial` is set.

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::model::bert::SequenceClassifier;
use crate::model::dropout::Mode;
use crate::optim::NamedParam;
use crate::train::loss::cross_entropy;
use crate::train::pair_batch::PairTensors;
use crate::train::techniques::{rdrop_loss, Adversarial};

/// What the loss of a micro-batch is made of.
pub struct LossSpec<'a> {
    /// Class weights of the cross-entropy.
    pub class_weight: Option<&'a [f64]>,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f64,
    /// R-Drop's α (two passes), or one pass when `None`.
    pub rdrop: Option<f64>,
}

impl LossSpec<'_> {
    /// The loss of `model` on `batch` with labels `ys`; dropout masks come from `mode`.
    pub fn loss(
        &self,
        model: &SequenceClassifier,
        batch: &PairTensors,
        ys: &Tensor,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let mut logits = || {
            model.forward(
                &batch.ids,
                &batch.types,
                batch.matches.as_ref(),
                &batch.mask,
                mode,
            )
        };
        let ce = |l: &Tensor| cross_entropy(l, ys, self.class_weight, self.label_smoothing);
        Ok(match self.rdrop {
            None => ce(&logits()?)?,
            Some(alpha) => {
                let first = logits()?;
                rdrop_loss(&first, &logits()?, alpha, ce)?
            }
        })
    }
}

/// The loss value and parameter gradients of one micro-batch. With an attack, the
/// gradients of the loss at the adversarial point of `embeddings` are added and the
/// embeddings restored; every pass draws its own dropout masks from `mode`.
pub fn micro_batch_grads(
    model: &SequenceClassifier,
    batch: &PairTensors,
    ys: &Tensor,
    spec: &LossSpec,
    attack: Option<(&Adversarial, &Var)>,
    params: &[NamedParam],
    mode: &mut Mode,
) -> Result<(f64, GradStore)> {
    let loss = spec.loss(model, batch, ys, mode)?;
    let value = loss.to_scalar::<f32>()? as f64;
    let mut grads = loss.backward()?;
    if let Some((adv, embeddings)) = attack {
        if value.is_finite() {
            adv.apply(embeddings, params, &mut grads, || {
                spec.loss(model, batch, ys, mode)
            })?;
        }
    }
    Ok((value, grads))
}
