//! Optimizers: AdamW with Hugging Face parameter groups, Lookahead, learning-rate schedules,
//! global-norm gradient clipping, gradient accumulation, and state that saves to
//! `optimizer.safetensors` and restores exactly.
//!
//! The training loop uses them in this order, once per optimizer step:
//!
//! ```text
//! for each of N micro-batches: accum.add(&loss.backward()?)?
//! let mut grads = accum.take_mean()?;
//! clip_grad_norm(&mut grads, opt.params(), max_norm)?;
//! opt.step(&grads, schedule.lr(step))?;
//! step += 1;  // and every so often: save_state(dir.join(STATE_FILE), &opt, &schedule, step)
//! ```

mod accum;
mod adamw;
mod clip;
mod groups;
mod kernels;
mod layer_decay;
mod lookahead;
mod schedule;
mod state;

use std::collections::HashMap;

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

pub use accum::GradAccumulator;
pub use adamw::{AdamW, AdamWConfig};
pub use clip::clip_grad_norm;
pub use groups::decays;
pub use layer_decay::layer_lr_scale;
pub use lookahead::{Lookahead, LookaheadConfig};
pub use schedule::{warmup_steps, Decay, Restarts, Schedule};
pub use state::{apply_state, load_state, read_state, save_state, Resume, STATE_FILE};

/// A parameter with its Hugging Face name (`bert.encoder.layer.0.output.dense.weight`).
pub type NamedParam = (String, Var);

/// An optimizer over a fixed list of named parameters.
pub trait Optimizer {
    /// Update every parameter that has a gradient in `grads`, at learning rate `lr`.
    /// Parameters without a gradient are left alone (and their step count does not advance),
    /// as in PyTorch.
    fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()>;

    /// The parameters being optimised.
    fn params(&self) -> &[NamedParam];

    /// The algorithm, as recorded in the state file: `adamw`, `lookahead(adamw)`.
    fn kind(&self) -> String;

    /// The full state as named tensors (on the CPU), keyed by parameter name.
    fn state_tensors(&self) -> Result<Vec<(String, Tensor)>>;

    /// Restore state written by [`Optimizer::state_tensors`], removing from `tensors` the
    /// entries it used. Parameters with no saved entry start fresh.
    fn load_state(&mut self, tensors: &mut HashMap<String, Tensor>) -> Result<()>;
}

impl<O: Optimizer + ?Sized> Optimizer for Box<O> {
    fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        (**self).step(grads, lr)
    }
    fn params(&self) -> &[NamedParam] {
        (**self).params()
    }
    fn kind(&self) -> String {
        (**self).kind()
    }
    fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        (**self).state_tensors()
    }
    fn load_state(&mut self, tensors: &mut HashMap<String, Tensor>) -> Result<()> {
        (**self).load_state(tensors)
    }
}
