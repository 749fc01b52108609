//! Fine-tuning techniques as plug-ins: each implements the [`Technique`] hooks it needs
//! (loss terms, extra passes, after the optimizer step, at evaluation, checkpoint state)
//! in its own file, and [`build`] registers it. The fine-tuning step and the trainer call
//! the hooks without naming any technique.
//!
//! Pooling, classifier dropout and layer-wise learning-rate decay are set up from the same
//! flags ([`TechniqueArgs`]) by the model and the optimizer.

pub mod adversarial;
pub mod args;
pub mod ema;
pub mod msd;
pub mod rdrop;
pub mod soft_labels;
pub mod swa;
pub mod tsa;
pub mod uda;

use std::collections::HashMap;

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor};

use crate::data::pair_batch::{PairEncoder, PairTensors};
use crate::dist::Collective;
use crate::model::classifier::SequenceClassifier;
use crate::optim::NamedParam;
use crate::train::soft::SoftLossArgs;
use crate::train::tasks::pair::{MicroBatch, Targets};
pub use adversarial::{Adversarial, AdversarialKind};
pub use args::TechniqueArgs;
pub use ema::Ema;
pub use msd::MultiSampleDropout;
pub use rdrop::{rdrop_loss, RDrop};
pub use soft_labels::SoftLabels;
pub use swa::Swa;
pub use tsa::Annealing;
use uda::data::{UdaArgs, UdaData};
pub use uda::Uda;

/// A fine-tuning technique: hooks the fine-tuning step and the trainer call at fixed
/// points, each a no-op by default. A technique implements the ones it needs, in its own
/// file, and is registered once in [`build`].
///
/// The loss of a micro-batch is put together as: the task's loss on the hard rows that
/// the first [`Technique::keep_rows`] with an answer keeps, turned into the objective by
/// the first [`Technique::objective`] that has one; the labelled loss from the forward passes of
/// the first [`Technique::passes`] that takes them over (else one pass); plus every
/// [`Technique::extra_loss`]. After its backward pass, [`Technique::extra_grads`] adds
/// gradients of further passes.
pub trait Technique {
    /// The flag that turns it on, for messages (`--rdrop`).
    fn flag(&self) -> &'static str;

    /// Why it cannot train data-parallel, if it cannot.
    fn refuses_data_parallel(&self) -> Option<&'static str> {
        None
    }

    /// The classifier it trains, built from the plain one.
    fn configure(&self, model: SequenceClassifier) -> SequenceClassifier {
        model
    }

    /// Called once when training starts, with the parameters at their starting values.
    fn start(&mut self, _params: &[NamedParam]) -> Result<()> {
        Ok(())
    }

    /// Called before optimizer step `step` (0-based) of `total`.
    fn begin_step(&mut self, _step: u64, _total: u64) {}

    /// Which of a pass's labelled rows (`logits`, `labels`) enter the task's loss
    /// (`None`: every row).
    fn keep_rows(
        &self,
        _logits: &Tensor,
        _labels: &Tensor,
    ) -> candle_core::Result<Option<Vec<u32>>> {
        Ok(None)
    }

    /// The objective of one pass's `logits` given the task's loss on its hard rows
    /// (`None` when no row has one); `None`: the task's loss as it is.
    fn objective(
        &self,
        _hard: &Option<Tensor>,
        _logits: &Tensor,
        _targets: &Targets,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(None)
    }

    /// The labelled loss from passes of `forward` (each with its own dropout masks) and
    /// `objective` on logits; `None`: one pass.
    fn passes(
        &self,
        _forward: &mut dyn FnMut() -> Result<Tensor>,
        _objective: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) -> Result<Option<Tensor>> {
        Ok(None)
    }

    /// Unlabelled pairs and their augmented copies for a micro-batch, drawn with `key`
    /// (seed, micro-batch, fold).
    fn unlabelled(
        &self,
        _key: (u64, u64, u64),
        _match_embedding: bool,
        _device: &Device,
    ) -> Result<Option<(PairTensors, PairTensors)>> {
        Ok(None)
    }

    /// A term added to the labelled loss, from passes of `forward` over `micro`'s inputs.
    fn extra_loss(
        &self,
        _forward: &mut dyn FnMut(&PairTensors) -> Result<Tensor>,
        _micro: &MicroBatch,
    ) -> Result<Option<Tensor>> {
        Ok(None)
    }

    /// Add to `grads` (of `params`) the gradients of further passes of `loss`.
    fn extra_grads(
        &self,
        _model: &SequenceClassifier,
        _params: &[NamedParam],
        _grads: &mut GradStore,
        _loss: &mut dyn FnMut() -> Result<Tensor>,
    ) -> Result<()> {
        Ok(())
    }

    /// Called after every optimizer step.
    fn after_step(&mut self, _params: &[NamedParam]) -> Result<()> {
        Ok(())
    }

    /// Called at every evaluation point, before evaluating.
    fn at_eval(&mut self, _params: &[NamedParam]) -> Result<()> {
        Ok(())
    }

    /// Weights in parameter order that evaluation and the saved best use instead of the
    /// trained weights, which keep training unchanged (`None`: the trained weights).
    fn eval_weights(&self) -> Result<Option<Vec<Tensor>>> {
        Ok(None)
    }

    /// The state as named tensors, for a training checkpoint.
    fn state_tensors(&self, _params: &[NamedParam]) -> Result<Vec<(String, Tensor)>> {
        Ok(Vec::new())
    }

    /// Restore what [`Technique::state_tensors`] saved, removing the entries it used.
    fn load_state(
        &mut self,
        _params: &[NamedParam],
        _tensors: &mut HashMap<String, Tensor>,
    ) -> Result<()> {
        Ok(())
    }
}

/// What techniques are built from besides their own flags.
pub struct Inputs<'a> {
    /// Classes of the task.
    pub num_classes: usize,
    /// The distillation loss's α and T when soft labels are given.
    pub soft_loss: Option<&'a SoftLossArgs>,
    /// UDA's flags (and TSA's), its unlabelled pairs when `--uda` is given, and the
    /// encoder of their augmented copies.
    pub uda: (&'a UdaArgs, Option<&'a UdaData>, &'a PairEncoder<'a>),
}

/// Every technique the flags turn on, in the order their hooks run. Registering a
/// technique is one line here.
pub fn build<'a>(t: &TechniqueArgs, inputs: Inputs<'a>) -> Result<Vec<Box<dyn Technique + 'a>>> {
    let (uda_args, uda_data, encoder) = inputs.uda;
    let mut all: Vec<Box<dyn Technique + 'a>> = Vec::new();
    let mut add = |on: Option<Box<dyn Technique + 'a>>| all.extend(on);
    add(MultiSampleDropout::of(t.multi_sample_dropout).map(|m| Box::new(m) as _));
    add(uda_args
        .tsa
        .map(|s| Box::new(Annealing::new(s, inputs.num_classes)) as _));
    add(inputs.soft_loss.map(|a| Box::new(SoftLabels::new(a)) as _));
    add(t.rdrop.map(|alpha| Box::new(RDrop { alpha }) as _));
    add(uda_data.map(|d| Box::new(Uda::new(uda_args, d, encoder)) as _));
    add(t.attack().map(|a| Box::new(a) as _));
    add(match (t.ema, t.swa) {
        (Some(decay), _) => Some(Box::new(Ema::new(decay))),
        (None, Some(n)) => Some(Box::new(Swa::new(n))),
        (None, None) => None,
    });
    Ok(all)
}

/// Refuse, in a data-parallel `group`, the techniques that cannot train data-parallel
/// (exit 2 naming the flag and why).
pub fn refuse_data_parallel(
    group: &dyn Collective,
    techniques: &[Box<dyn Technique + '_>],
) -> Result<()> {
    for t in techniques {
        if let Some(why) = t.refuses_data_parallel() {
            crate::dist::refuse_in_group(group, t.flag(), why)?;
        }
    }
    Ok(())
}

/// Adds the gradients of `params` in `from` to those in `into`.
pub fn add_grads(into: &mut GradStore, from: &GradStore, params: &[NamedParam]) -> Result<()> {
    for (_, var) in params {
        let p = var.as_tensor();
        if let Some(g) = from.get(p) {
            let sum = match into.get(p) {
                Some(s) => (s + g)?,
                None => g.clone(),
            };
            into.insert(p, sum);
        }
    }
    Ok(())
}

/// Runs `f` with `params` holding `weights` (in parameter order), then puts the
/// parameters' own values back, whether `f` succeeds or not.
pub fn with_weights<T>(
    params: &[NamedParam],
    weights: &[Tensor],
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let backup: Vec<Tensor> = params
        .iter()
        .map(|(_, v)| v.as_tensor().copy())
        .collect::<candle_core::Result<_>>()?;
    for ((_, v), w) in params.iter().zip(weights) {
        v.set(w)?;
    }
    let out = f();
    for ((_, v), b) in params.iter().zip(&backup) {
        v.set(b)?;
    }
    out
}

/// The tensors `{prefix}.{name}` of every parameter from saved state, checked against
/// the parameters' shapes and moved to their devices.
fn restore_tensors(
    prefix: &str,
    params: &[NamedParam],
    tensors: &mut HashMap<String, Tensor>,
) -> Result<Vec<Tensor>> {
    params
        .iter()
        .map(|(name, var)| {
            let key = format!("{prefix}.{name}");
            let Some(t) = tensors.remove(&key) else {
                crate::bad_input!("saved state lacks {key}: it belongs to another model or run")
            };
            if t.shape() != var.shape() {
                crate::bad_input!(
                    "saved {key} has shape {:?} but the parameter has {:?}",
                    t.dims(),
                    var.dims()
                )
            }
            Ok(t.to_dtype(var.dtype())?.to_device(var.device())?)
        })
        .collect()
}
