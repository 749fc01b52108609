//! AdamW (Loshchilov & Hutter 2019, <https://arxiv.org/abs/1711.05101>): Adam with weight
//! decay decoupled from the gradient, parameter groups by [`decays`], and a switch for
//! bias correction.

use std::cell::RefCell;
use std::collections::HashMap;

use anyhow::{Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

use super::groups::decays;
use super::kernels::{self, AdamWKernel, AdamWScalars};
use super::{NamedParam, Optimizer};
use crate::bad_input;

/// AdamW settings. Defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 0.01,
/// correct_bias true (torch.optim.AdamW's defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamWConfig {
    /// Decay rates of the first and second moment estimates.
    pub betas: (f64, f64),
    /// Added to the denominator for numerical stability.
    pub eps: f64,
    /// Decoupled weight decay, applied as `p *= 1 - lr * weight_decay` before the update, to
    /// parameters for which [`decays`] holds.
    pub weight_decay: f64,
    /// Divide the moments by `1 - beta^t` (Adam's bias correction), exactly as
    /// torch.optim.AdamW does (eps added after dividing by `sqrt(1 - beta2^t)`). `false` is
    /// BERT's original recipe (old `transformers.AdamW(correct_bias=False)`):
    /// `p -= lr * m / (sqrt(v) + eps)`.
    pub correct_bias: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
            correct_bias: true,
        }
    }
}

/// First and second moment estimates of one parameter.
enum Moments {
    /// For f32 CPU parameters: host buffers updated by the fused kernel.
    Host { m: Vec<f32>, v: Vec<f32> },
    /// Everywhere else: tensors on the parameter's device.
    Tensors { m: Tensor, v: Tensor },
}

impl Moments {
    fn zeros(var: &Var, host: bool) -> Result<Self> {
        Ok(if host {
            let n = var.elem_count();
            Moments::Host {
                m: vec![0.0; n],
                v: vec![0.0; n],
            }
        } else {
            Moments::Tensors {
                m: var.as_tensor().zeros_like()?,
                v: var.as_tensor().zeros_like()?,
            }
        })
    }
}

struct ParamState {
    step: u64,
    moments: Option<Moments>,
}

/// AdamW over named parameters; see [`AdamWConfig`].
pub struct AdamW {
    params: Vec<NamedParam>,
    config: AdamWConfig,
    state: Vec<ParamState>,
    lr_scale: Vec<f64>,
    cpu_kernel: bool,
}

impl AdamW {
    /// An optimizer over `params` (names must be unique). Fails on out-of-range settings.
    pub fn new(params: Vec<NamedParam>, config: AdamWConfig) -> Result<Self> {
        let (b1, b2) = config.betas;
        if !(0.0..1.0).contains(&b1) || !(0.0..1.0).contains(&b2) {
            bad_input!("AdamW betas ({b1}, {b2}) must each be in [0, 1); 0.9 and 0.999 are usual")
        }
        if !(config.eps > 0.0 && config.eps.is_finite()) {
            bad_input!(
                "AdamW eps {} must be a positive number such as 1e-8",
                config.eps
            )
        }
        if !(config.weight_decay >= 0.0 && config.weight_decay.is_finite()) {
            bad_input!(
                "weight_decay {} must be 0 or more; 0.01 is usual",
                config.weight_decay
            )
        }
        check_unique(&params)?;
        let state = params
            .iter()
            .map(|_| ParamState {
                step: 0,
                moments: None,
            })
            .collect();
        let lr_scale = vec![1.0; params.len()];
        Ok(AdamW {
            params,
            config,
            state,
            lr_scale,
            cpu_kernel: true,
        })
    }

    /// Use the fused CPU kernel where it applies (the default). `false` runs the plain
    /// tensor-op path that other devices use, so tests can check it on the CPU.
    pub fn with_cpu_kernel(mut self, on: bool) -> Self {
        self.cpu_kernel = on;
        self
    }

    /// Per-parameter factors on the learning rate, by name (as a parameter group's own
    /// `lr` in PyTorch: the weight decay uses the scaled rate too).
    pub fn with_lr_scale(mut self, scale: impl Fn(&str) -> f64) -> Self {
        self.lr_scale = self.params.iter().map(|(n, _)| scale(n)).collect();
        self
    }

    /// The settings in use.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    fn host(&self, var: &Var) -> bool {
        self.cpu_kernel && kernels::applies(var.as_tensor())
    }
}

impl Optimizer for AdamW {
    fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        // Check every gradient first, so that a bad one leaves all parameters untouched.
        for (name, var) in &self.params {
            if let Some(grad) = grads.get(var.as_tensor()) {
                if grad.shape() != var.shape() {
                    anyhow::bail!(
                        "gradient of {name} has shape {:?}, the parameter {:?}",
                        grad.dims(),
                        var.dims()
                    )
                }
            }
        }
        let (b1, b2) = self.config.betas;
        for i in 0..self.params.len() {
            let (name, var) = &self.params[i];
            let Some(grad) = grads.get(var.as_tensor()) else {
                continue;
            };
            let host = self.host(var);
            let lr = lr * self.lr_scale[i];
            let st = &mut self.state[i];
            st.step += 1;
            // Scalars in f64, as torch computes them in Python floats.
            let t = st.step as f64;
            let (bc1, bc2_sqrt) = if self.config.correct_bias {
                (1.0 - b1.powf(t), (1.0 - b2.powf(t)).sqrt())
            } else {
                (1.0, 1.0)
            };
            let step_size = lr / bc1;
            let decay = if decays(name) {
                1.0 - lr * self.config.weight_decay
            } else {
                1.0
            };
            let moments = match &mut st.moments {
                Some(m) => m,
                slot @ None => slot.insert(Moments::zeros(var, host)?),
            };
            match moments {
                Moments::Host { m, v } => {
                    let kernel = AdamWKernel {
                        s: AdamWScalars {
                            beta2: b2 as f32,
                            one_minus_beta1: (1.0 - b1) as f32,
                            one_minus_beta2: (1.0 - b2) as f32,
                            decay: decay as f32,
                            neg_step_size: -step_size as f32,
                            bias_correction2_sqrt: bc2_sqrt as f32,
                            eps: self.config.eps as f32,
                        },
                        exp_avg: RefCell::new(m.as_mut_slice()),
                        exp_avg_sq: RefCell::new(v.as_mut_slice()),
                    };
                    let grad = grad.to_dtype(DType::F32)?.contiguous()?;
                    var.as_tensor().inplace_op2(&grad, &kernel)?;
                }
                Moments::Tensors { m, v } => {
                    let p = var.as_tensor();
                    let g = grad.to_dtype(p.dtype())?;
                    *m = (&*m + ((&g - &*m)? * (1.0 - b1))?)?;
                    *v = ((&*v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                    let denom = ((v.sqrt()? / bc2_sqrt)? + self.config.eps)?;
                    let update = (m.div(&denom)? * step_size)?;
                    var.set(&(p.affine(decay, 0.0)? - update)?)?;
                }
            }
        }
        Ok(())
    }

    fn params(&self) -> &[NamedParam] {
        &self.params
    }

    fn kind(&self) -> String {
        "adamw".into()
    }

    fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for ((name, var), st) in self.params.iter().zip(&self.state) {
            let Some(moments) = &st.moments else {
                continue;
            };
            let (m, v) = match moments {
                Moments::Host { m, v } => (
                    Tensor::from_slice(m, var.shape(), &Device::Cpu)?,
                    Tensor::from_slice(v, var.shape(), &Device::Cpu)?,
                ),
                Moments::Tensors { m, v } => {
                    (m.to_device(&Device::Cpu)?, v.to_device(&Device::Cpu)?)
                }
            };
            let step = Tensor::new(st.step as i64, &Device::Cpu)?;
            out.push((format!("adamw.step.{name}"), step));
            out.push((format!("adamw.exp_avg.{name}"), m));
            out.push((format!("adamw.exp_avg_sq.{name}"), v));
        }
        Ok(out)
    }

    fn load_state(&mut self, tensors: &mut HashMap<String, Tensor>) -> Result<()> {
        for i in 0..self.params.len() {
            let host = self.host(&self.params[i].1);
            let (name, var) = &self.params[i];
            let step = tensors.remove(&format!("adamw.step.{name}"));
            let m = tensors.remove(&format!("adamw.exp_avg.{name}"));
            let v = tensors.remove(&format!("adamw.exp_avg_sq.{name}"));
            self.state[i] = match (step, m, v) {
                (None, None, None) => ParamState {
                    step: 0,
                    moments: None,
                },
                (Some(step), Some(m), Some(v)) => {
                    let step = step
                        .to_dtype(DType::I64)?
                        .to_scalar::<i64>()
                        .with_context(|| format!("adamw.step.{name}"))?;
                    for (what, t) in [("exp_avg", &m), ("exp_avg_sq", &v)] {
                        if t.shape() != var.shape() {
                            bad_input!(
                                "saved adamw.{what}.{name} has shape {:?} but the parameter has {:?}: \
                                 the optimizer state belongs to a different model",
                                t.dims(),
                                var.dims()
                            )
                        }
                    }
                    let moments = if host {
                        Moments::Host {
                            m: kernels::to_host(&m.to_dtype(DType::F32)?)?,
                            v: kernels::to_host(&v.to_dtype(DType::F32)?)?,
                        }
                    } else {
                        let on = |t: Tensor| t.to_dtype(var.dtype())?.to_device(var.device());
                        Moments::Tensors {
                            m: on(m)?,
                            v: on(v)?,
                        }
                    };
                    ParamState {
                        step: u64::try_from(step).context("negative adamw step")?,
                        moments: Some(moments),
                    }
                }
                _ => bad_input!(
                    "optimizer state for {name} is incomplete: it needs adamw.step, adamw.exp_avg \
                     and adamw.exp_avg_sq together"
                ),
            };
        }
        Ok(())
    }
}

/// Fails when two parameters share a name: state is keyed by name.
pub(crate) fn check_unique(params: &[NamedParam]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (name, _) in params {
        if !seen.insert(name.as_str()) {
            anyhow::bail!("parameter name {name} appears twice; optimizer state is keyed by name")
        }
    }
    Ok(())
}
