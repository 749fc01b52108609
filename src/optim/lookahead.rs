//! Lookahead (Zhang et al. 2019, <https://arxiv.org/abs/1907.08610>): the inner optimizer
//! moves fast weights; every k of its steps the slow weights move a fraction alpha towards
//! them and the fast weights restart from the slow ones.

use std::cell::RefCell;
use std::collections::HashMap;

use anyhow::{Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

use super::kernels::{self, LookaheadKernel};
use super::{NamedParam, Optimizer};
use crate::bad_input;

/// Lookahead settings. Defaults: k = 5, alpha = 0.5 (the paper's).
#[derive(Clone, Debug, PartialEq)]
pub struct LookaheadConfig {
    /// Inner steps between synchronisations.
    pub lookahead_k: u64,
    /// How far the slow weights move towards the fast ones at each synchronisation.
    pub lookahead_alpha: f64,
}

impl Default for LookaheadConfig {
    fn default() -> Self {
        LookaheadConfig {
            lookahead_k: 5,
            lookahead_alpha: 0.5,
        }
    }
}

/// Slow weights of one parameter: host buffer for f32 CPU parameters, else a tensor.
enum Slow {
    Host(Vec<f32>),
    Tensor(Tensor),
}

/// Lookahead around any inner optimizer; the inner optimizer's state is kept across
/// synchronisations.
pub struct Lookahead<O: Optimizer> {
    inner: O,
    config: LookaheadConfig,
    /// Inner steps taken so far.
    steps: u64,
    slow: Vec<Slow>,
}

impl<O: Optimizer> Lookahead<O> {
    /// Wrap `inner`; the slow weights start as a copy of the current parameters.
    pub fn new(inner: O, config: LookaheadConfig) -> Result<Self> {
        if config.lookahead_k == 0 {
            bad_input!("lookahead_k must be at least 1; 5 is usual")
        }
        let a = config.lookahead_alpha;
        if !(a > 0.0 && a <= 1.0) {
            bad_input!("lookahead_alpha {a} must be in (0, 1]; 0.5 is usual")
        }
        let slow = inner
            .params()
            .iter()
            .map(|(_, var)| copy_of(var))
            .collect::<Result<_>>()?;
        Ok(Lookahead {
            inner,
            config,
            steps: 0,
            slow,
        })
    }

    /// Keep the slow weights as tensors even for f32 CPU parameters (the default uses a fused
    /// CPU kernel), so tests can check on the CPU the path that other devices take.
    pub fn with_cpu_kernel(mut self, on: bool) -> Result<Self> {
        if !on {
            for ((_, var), slow) in self.inner.params().iter().zip(&mut self.slow) {
                if let Slow::Host(s) = slow {
                    *slow = Slow::Tensor(Tensor::from_slice(s, var.shape(), var.device())?);
                }
            }
        }
        Ok(self)
    }

    /// The wrapped optimizer.
    pub fn inner(&self) -> &O {
        &self.inner
    }

    fn synchronise(&mut self) -> Result<()> {
        let alpha = self.config.lookahead_alpha;
        for ((_, var), slow) in self.inner.params().iter().zip(&mut self.slow) {
            match slow {
                Slow::Host(s) => {
                    let kernel = LookaheadKernel {
                        alpha: alpha as f32,
                        slow: RefCell::new(s.as_mut_slice()),
                    };
                    var.as_tensor().inplace_op1(&kernel)?;
                }
                Slow::Tensor(s) => {
                    *s = (&*s + ((var.as_tensor() - &*s)? * alpha)?)?;
                    var.set(s)?;
                }
            }
        }
        Ok(())
    }
}

/// A copy of the parameter's current values that later in-place updates do not touch.
fn copy_of(var: &Var) -> Result<Slow> {
    Ok(if kernels::applies(var.as_tensor()) {
        Slow::Host(kernels::to_host(var.as_tensor())?)
    } else {
        Slow::Tensor(var.as_tensor().copy()?)
    })
}

impl<O: Optimizer> Optimizer for Lookahead<O> {
    fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.inner.step(grads, lr)?;
        self.steps += 1;
        if self.steps.is_multiple_of(self.config.lookahead_k) {
            self.synchronise()?;
        }
        Ok(())
    }

    fn params(&self) -> &[NamedParam] {
        self.inner.params()
    }

    fn kind(&self) -> String {
        format!("lookahead({})", self.inner.kind())
    }

    fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = self.inner.state_tensors()?;
        out.push((
            "lookahead.steps".into(),
            Tensor::new(self.steps as i64, &Device::Cpu)?,
        ));
        for ((name, var), slow) in self.inner.params().iter().zip(&self.slow) {
            let t = match slow {
                Slow::Host(s) => Tensor::from_slice(s, var.shape(), &Device::Cpu)?,
                Slow::Tensor(t) => t.to_device(&Device::Cpu)?,
            };
            out.push((format!("lookahead.slow.{name}"), t));
        }
        Ok(out)
    }

    fn load_state(&mut self, tensors: &mut HashMap<String, Tensor>) -> Result<()> {
        self.inner.load_state(tensors)?;
        let Some(steps) = tensors.remove("lookahead.steps") else {
            bad_input!(
                "the optimizer state has no lookahead.steps: it was not written by Lookahead"
            )
        };
        let steps = steps.to_dtype(DType::I64)?.to_scalar::<i64>()?;
        self.steps = u64::try_from(steps).context("negative lookahead.steps")?;
        for ((name, var), slow) in self.inner.params().iter().zip(&mut self.slow) {
            let key = format!("lookahead.slow.{name}");
            let Some(t) = tensors.remove(&key) else {
                bad_input!("the optimizer state has no {key}: it belongs to a different model")
            };
            if t.shape() != var.shape() {
                bad_input!(
                    "saved {key} has shape {:?} but the parameter has {:?}: the optimizer state \
                     belongs to a different model",
                    t.dims(),
                    var.dims()
                )
            }
            *slow = match slow {
                Slow::Host(_) => Slow::Host(kernels::to_host(&t.to_dtype(DType::F32)?)?),
                Slow::Tensor(_) => Slow::Tensor(t.to_dtype(var.dtype())?.to_device(var.device())?),
            };
        }
        Ok(())
    }
}
