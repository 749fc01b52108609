//! Learning-rate schedules: the learning rate as a function of the optimizer step.
//!
//! Each matches its usual reference at every step: transformers' `get_constant_schedule`
//! (`_with_warmup`), `get_linear_schedule_with_warmup`, `get_cosine_schedule_with_warmup`,
//! and torch's `CosineAnnealingWarmRestarts` (extended with a per-cycle peak decay). The
//! arithmetic is written in the same order as theirs so the f64 results agree.

use std::f64::consts::PI;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::bad_input;

/// What the learning rate does after warmup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decay {
    /// Stays at the peak.
    Constant,
    /// Falls linearly to 0 at `total_steps`.
    Linear,
    /// Half a cosine down to 0 at `total_steps` (like transformers, it rises again after).
    Cosine,
    /// Cosine cycles from the cycle's peak down to `min_lr`, restarting at the peak
    /// (Loshchilov & Hutter 2017, SGDR): cycle c lasts `first_cycle_steps * cycle_mult^c`
    /// steps and peaks at `peak_lr * gamma^c`.
    CosineRestarts {
        /// Length of the first cycle, in steps.
        first_cycle_steps: u64,
        /// Each cycle is this many times as long as the one before.
        cycle_mult: u32,
        /// Each cycle's peak is this fraction of the one before.
        gamma: f64,
        /// The learning rate at the bottom of every cycle.
        min_lr: f64,
    },
}

/// Settings of [`Schedule::cosine_restarts`].
#[derive(Clone, Debug, PartialEq)]
pub struct Restarts {
    /// Length of the first cycle as a fraction of the steps after warmup.
    pub first_cycle_ratio: f64,
    /// Each cycle is this many times as long as the one before (an integer, as in torch).
    pub cycle_mult: u32,
    /// Each cycle's peak is this fraction of the one before (1 = torch's behaviour).
    pub gamma: f64,
    /// The learning rate at the bottom of every cycle.
    pub min_lr: f64,
}

/// A learning-rate schedule: linear warmup from 0 over `warmup_steps`, then `decay`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The learning rate at the end of warmup.
    pub peak_lr: f64,
    /// Steps of linear warmup from 0.
    pub warmup_steps: u64,
    /// Planned optimizer steps in all.
    pub total_steps: u64,
    /// The shape after warmup.
    pub decay: Decay,
    /// The step the schedule starts at (a run continuing another's step counter,
    /// `pretrain --continue-from`): step `start_step + i` gets the learning rate of step
    /// `i`, and `total_steps` counts from 0.
    #[serde(default)]
    pub start_step: u64,
}

/// Warmup steps for a warmup ratio, rounded up as Hugging Face's TrainingArguments does.
pub fn warmup_steps(total_steps: u64, warmup_ratio: f64) -> u64 {
    (warmup_ratio * total_steps as f64).ceil() as u64
}

impl Schedule {
    /// Warmup, then the peak learning rate for ever.
    pub fn constant(peak_lr: f64, warmup_steps: u64) -> Result<Self> {
        Self::build(peak_lr, warmup_steps, warmup_steps, Decay::Constant)
    }

    /// Warmup, then linear decay to 0 at `total_steps`.
    pub fn linear(peak_lr: f64, warmup_steps: u64, total_steps: u64) -> Result<Self> {
        Self::build(peak_lr, warmup_steps, total_steps, Decay::Linear)
    }

    /// Warmup, then half a cosine down to 0 at `total_steps`.
    pub fn cosine(peak_lr: f64, warmup_steps: u64, total_steps: u64) -> Result<Self> {
        Self::build(peak_lr, warmup_steps, total_steps, Decay::Cosine)
    }

    /// Warmup, then cosine annealing with warm restarts; see [`Decay::CosineRestarts`]. The
    /// first cycle lasts `ceil(first_cycle_ratio * (total_steps - warmup_steps))` steps.
    pub fn cosine_restarts(
        peak_lr: f64,
        warmup_steps: u64,
        total_steps: u64,
        r: Restarts,
    ) -> Result<Self> {
        if !(r.first_cycle_ratio > 0.0 && r.first_cycle_ratio.is_finite()) {
            bad_input!(
                "first cycle ratio {} must be above 0, e.g. 0.25 for four equal cycles",
                r.first_cycle_ratio
            )
        }
        if r.cycle_mult == 0 {
            bad_input!("cycle multiplier must be at least 1 (1 = equal cycles)")
        }
        if !(r.gamma > 0.0 && r.gamma <= 1.0) {
            bad_input!("gamma {} must be in (0, 1] (1 = no peak decay)", r.gamma)
        }
        if !(r.min_lr >= 0.0 && r.min_lr <= peak_lr) {
            bad_input!(
                "min_lr {} must be between 0 and the peak lr {peak_lr}",
                r.min_lr
            )
        }
        let decay_steps = total_steps.saturating_sub(warmup_steps) as f64;
        let first_cycle_steps = ((r.first_cycle_ratio * decay_steps).ceil() as u64).max(1);
        let decay = Decay::CosineRestarts {
            first_cycle_steps,
            cycle_mult: r.cycle_mult,
            gamma: r.gamma,
            min_lr: r.min_lr,
        };
        Self::build(peak_lr, warmup_steps, total_steps, decay)
    }

    fn build(peak_lr: f64, warmup_steps: u64, total_steps: u64, decay: Decay) -> Result<Self> {
        if !(peak_lr >= 0.0 && peak_lr.is_finite()) {
            bad_input!("learning rate {peak_lr} must be a number of 0 or more, e.g. 5e-5")
        }
        if warmup_steps > total_steps {
            bad_input!("warmup steps ({warmup_steps}) exceed the total steps ({total_steps})")
        }
        Ok(Schedule {
            peak_lr,
            warmup_steps,
            total_steps,
            decay,
            start_step: 0,
        })
    }

    /// The same schedule run from step `step` of a continued step counter.
    pub fn starting_at(mut self, step: u64) -> Self {
        self.total_steps += step - self.start_step;
        self.start_step = step;
        self
    }

    /// The learning rate for optimizer step `step` (0 for the first step).
    pub fn lr(&self, step: u64) -> f64 {
        let step = step.saturating_sub(self.start_step);
        let total = self.total_steps - self.start_step;
        let (peak, warmup) = (self.peak_lr, self.warmup_steps);
        if step < warmup {
            return peak * (step as f64 / warmup.max(1) as f64);
        }
        let decay_steps = (total as i64 - warmup as i64).max(1) as f64;
        match &self.decay {
            Decay::Constant => peak,
            Decay::Linear => {
                peak * f64::max(0.0, (total as i64 - step as i64) as f64 / decay_steps)
            }
            Decay::Cosine => {
                let progress = (step - warmup) as f64 / decay_steps;
                // transformers: 0.5 * (1 + cos(pi * num_cycles * 2 * progress)), num_cycles 0.5.
                peak * f64::max(0.0, 0.5 * (1.0 + (PI * 0.5 * 2.0 * progress).cos()))
            }
            Decay::CosineRestarts {
                first_cycle_steps,
                cycle_mult,
                gamma,
                min_lr,
            } => {
                let (cycle, t_cur, t_i) =
                    cycle_position(step - warmup, *first_cycle_steps, *cycle_mult);
                let top = peak * gamma.powf(cycle as f64);
                min_lr + (top - min_lr) * (1.0 + (PI * t_cur as f64 / t_i as f64).cos()) / 2.0
            }
        }
    }
}

/// For `s` steps into the cycles: (cycle index, steps into that cycle, its length).
fn cycle_position(s: u64, first: u64, mult: u32) -> (u64, u64, u64) {
    if mult == 1 {
        return (s / first, s % first, first);
    }
    let (mut s, mut len, mut cycle) = (s, first, 0);
    while s >= len {
        s -= len;
        len = len.saturating_mul(u64::from(mult));
        cycle += 1;
    }
    (cycle, s, len)
}
