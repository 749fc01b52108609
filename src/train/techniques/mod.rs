//! Fine-tuning techniques called at fixed points: loss terms (R-Drop), extra gradient
//! passes (adversarial training), after the optimizer step and at evaluation (weight
//! averaging, through [`Technique`], which the trainer calls). Each lives in its own file
//! with its own state.
//!
//! Pooling, classifier dropout, multi-sample dropout (the model's pair head) and layer-wise
//! learning-rate decay (the optimizer) are set up from the same flags ([`TechniqueArgs`]).

pub mod adversarial;
pub mod args;
pub mod ema;
pub mod rdrop;
pub mod swa;

use std::collections::HashMap;

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::Tensor;

use crate::optim::NamedParam;
pub use adversarial::{Adversarial, AdversarialKind};
pub use args::TechniqueArgs;
pub use ema::Ema;
pub use rdrop::rdrop_loss;
pub use swa::Swa;

/// A fine-tuning technique as the trainer sees it: hooks it calls after each optimizer
/// step and at each evaluation point, weights that evaluation uses in place of the
/// trained ones (weight averaging), and state a training checkpoint keeps.
pub trait Technique {
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
