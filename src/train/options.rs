//! Flags shared by `pretrain` and `finetune`: the optimizer, its schedule and the device.

use anyhow::Result;
use candle_core::Device;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::bad_input;
use crate::optim::{
    warmup_steps, AdamW, AdamWConfig, Lookahead, LookaheadConfig, NamedParam, Optimizer, Restarts,
    Schedule,
};

/// Which optimizer updates the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// AdamW with Hugging Face's no-decay groups (biases, LayerNorm).
    Adamw,
    /// Lookahead (Zhang et al. 2019) around AdamW.
    Lookahead,
}

/// The learning-rate curve after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// Linear decay to 0 (BERT, transformers' default).
    Linear,
    /// Half a cosine down to 0.
    Cosine,
    /// Cosine annealing with warm restarts (SGDR).
    CosineRestarts,
    /// Constant after warmup.
    Constant,
}

/// Optimizer, schedule, clipping and accumulation flags.
#[derive(Args, Debug, Clone)]
pub struct OptimArgs {
    /// Optimizer: adamw, or lookahead wrapped around AdamW
    #[arg(long, value_enum, default_value = "adamw")]
    pub optimizer: OptimizerKind,
    /// Peak learning rate (reached at the end of warmup)
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f64,
    /// Decoupled weight decay (not applied to biases and LayerNorm)
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// AdamW beta1
    #[arg(long, default_value_t = 0.9)]
    pub adam_beta1: f64,
    /// AdamW beta2
    #[arg(long, default_value_t = 0.999)]
    pub adam_beta2: f64,
    /// AdamW epsilon
    #[arg(long, default_value_t = 1e-8)]
    pub adam_eps: f64,
    /// Lookahead: inner steps between synchronisations
    #[arg(long, default_value_t = 5)]
    pub lookahead_k: u64,
    /// Lookahead: how far slow weights move towards the fast ones
    #[arg(long, default_value_t = 0.5)]
    pub lookahead_alpha: f64,
    /// Learning-rate curve after warmup
    #[arg(long, value_enum, default_value = "linear")]
    pub schedule: ScheduleKind,
    /// Fraction of all optimizer steps spent warming up linearly from 0
    #[arg(long, default_value_t = 0.06)]
    pub warmup_ratio: f64,
    /// cosine-restarts: length of the first cycle as a fraction of the post-warmup steps
    #[arg(long, default_value_t = 0.25)]
    pub restart_cycle_ratio: f64,
    /// cosine-restarts: each cycle is this many times as long as the one before
    #[arg(long, default_value_t = 1)]
    pub restart_cycle_mult: u32,
    /// Clip the global gradient norm to this (0: no clipping)
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// Micro-batches whose gradients are averaged per optimizer step
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
}

impl OptimArgs {
    /// Refuse a zero `--grad-accum` and a `--warmup-ratio` outside [0, 1) (exit 2).
    pub fn validate(&self) -> Result<()> {
        if self.grad_accum == 0 {
            bad_input!("--grad-accum must be at least 1");
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            bad_input!(
                "--warmup-ratio {} must be in [0, 1), e.g. 0.06",
                self.warmup_ratio
            );
        }
        Ok(())
    }

    /// The optimizer over `params`, each at `--lr` times `lr_scale(name)`.
    pub fn optimizer(
        &self,
        params: Vec<NamedParam>,
        lr_scale: impl Fn(&str) -> f64,
    ) -> Result<Box<dyn Optimizer>> {
        let adamw = AdamW::new(
            params,
            AdamWConfig {
                betas: (self.adam_beta1, self.adam_beta2),
                eps: self.adam_eps,
                weight_decay: self.weight_decay,
                correct_bias: true,
            },
        )?
        .with_lr_scale(lr_scale);
        Ok(match self.optimizer {
            OptimizerKind::Adamw => Box::new(adamw),
            OptimizerKind::Lookahead => Box::new(Lookahead::new(
                adamw,
                LookaheadConfig {
                    lookahead_k: self.lookahead_k,
                    lookahead_alpha: self.lookahead_alpha,
                },
            )?),
        })
    }

    /// The schedule for a run of `total_steps` optimizer steps (flags checked by
    /// [`OptimArgs::validate`]).
    pub fn schedule(&self, total_steps: u64) -> Result<Schedule> {
        let warmup = warmup_steps(total_steps, self.warmup_ratio);
        match self.schedule {
            ScheduleKind::Linear => Schedule::linear(self.lr, warmup, total_steps),
            ScheduleKind::Cosine => Schedule::cosine(self.lr, warmup, total_steps),
            ScheduleKind::Constant => Schedule::constant(self.lr, warmup),
            ScheduleKind::CosineRestarts => Schedule::cosine_restarts(
                self.lr,
                warmup,
                total_steps,
                Restarts {
                    first_cycle_ratio: self.restart_cycle_ratio,
                    cycle_mult: self.restart_cycle_mult,
                    gamma: 1.0,
                    min_lr: 0.0,
                },
            ),
        }
    }
}

/// The device named by `--device`: `cpu`, `cuda` (GPU 0, or under a launcher the GPU of
/// the local rank) or `cuda:N` (needs the `cuda` feature).
pub fn parse_device(name: &str) -> Result<Device> {
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match name.strip_prefix("cuda") {
        // Under a launcher, each process takes the GPU of its local rank.
        Some("") => crate::dist::launch::local_rank(),
        Some(rest) => match rest.strip_prefix(':').and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => bad_input!("--device {name}: expected cpu, cuda or cuda:N"),
        },
        None => bad_input!("--device {name}: expected cpu, cuda or cuda:N"),
    };
    if !candle_core::utils::cuda_is_available() {
        bad_input!(
            "--device {name}: this dapt was built without CUDA; rebuild with `cargo build --release --features cuda`"
        );
    }
    match Device::new_cuda(ordinal) {
        Ok(device) => Ok(device),
        Err(e) => bad_input!(
            "--device {name}: cannot open CUDA device {ordinal} ({e}); check `nvidia-smi`, or train with --device cpu"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_device;

    #[test]
    fn devices_parse_or_explain() {
        assert!(parse_device("cpu").unwrap().is_cpu());
        let err = parse_device("gpu0").unwrap_err().to_string();
        assert!(err.contains("cpu, cuda or cuda:N"), "{err}");
        assert!(parse_device("cuda:x").is_err());
    }
}
