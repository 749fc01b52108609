//! Exponential moving average of the weights (Polyak averaging; the `EMA` class of the
//! open Kaggle and GAIIC solutions): after every optimizer step
//! `shadow ← decay·shadow + (1 − decay)·param`, starting from the initial weights.

use std::collections::HashMap;

use anyhow::Result;
use candle_core::Tensor;

use super::{restore_tensors, Technique};
use crate::optim::NamedParam;

/// The moving average of every parameter, in parameter order.
pub struct Ema {
    decay: f64,
    shadow: Vec<Tensor>,
}

impl Ema {
    /// An average with `decay` in (0, 1); it starts at the parameters' values when
    /// training starts ([`Technique::start`]).
    pub fn new(decay: f64) -> Self {
        Self {
            decay,
            shadow: Vec::new(),
        }
    }
}

impl Technique for Ema {
    fn flag(&self) -> &'static str {
        "--ema"
    }

    fn start(&mut self, params: &[NamedParam]) -> Result<()> {
        self.shadow = params
            .iter()
            .map(|(_, v)| v.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?;
        Ok(())
    }

    fn after_step(&mut self, params: &[NamedParam]) -> Result<()> {
        for (s, (_, v)) in self.shadow.iter_mut().zip(params) {
            *s = ((&*s * self.decay)? + (v.as_tensor() * (1.0 - self.decay))?)?;
        }
        Ok(())
    }

    fn eval_weights(&self) -> Result<Option<Vec<Tensor>>> {
        Ok(Some(self.shadow.clone()))
    }

    fn state_tensors(&self, params: &[NamedParam]) -> Result<Vec<(String, Tensor)>> {
        Ok(params
            .iter()
            .zip(&self.shadow)
            .map(|((name, _), t)| (format!("ema.{name}"), t.clone()))
            .collect())
    }

    fn load_state(
        &mut self,
        params: &[NamedParam],
        tensors: &mut HashMap<String, Tensor>,
    ) -> Result<()> {
        self.shadow = restore_tensors("ema", params, tensors)?;
        Ok(())
    }
}
