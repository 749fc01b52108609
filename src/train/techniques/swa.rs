//! Stochastic weight averaging over evaluation points (Izmailov et al. 2018,
//! <https://arxiv.org/abs/1803.05407>): the weights at the last N evaluation points of a
//! fold, averaged with equal weight; evaluation and `best` use the average.

use std::collections::{HashMap, VecDeque};

use anyhow::Result;
use candle_core::Tensor;

use super::{restore_tensors, Technique};
use crate::optim::NamedParam;

/// The last `n` snapshots of the weights, oldest first.
pub struct Swa {
    n: usize,
    window: VecDeque<Vec<Tensor>>,
}

impl Swa {
    /// An average over the last `n` (at least 1) evaluation points.
    pub fn new(n: usize) -> Self {
        Self {
            n: n.max(1),
            window: VecDeque::new(),
        }
    }
}

impl Technique for Swa {
    fn flag(&self) -> &'static str {
        "--swa"
    }

    fn at_eval(&mut self, params: &[NamedParam]) -> Result<()> {
        let snapshot = params
            .iter()
            .map(|(_, v)| v.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?;
        self.window.push_back(snapshot);
        if self.window.len() > self.n {
            self.window.pop_front();
        }
        Ok(())
    }

    fn eval_weights(&self) -> Result<Option<Vec<Tensor>>> {
        let Some(first) = self.window.front() else {
            return Ok(None);
        };
        let k = self.window.len() as f64;
        let mut out = Vec::with_capacity(first.len());
        for i in 0..first.len() {
            let mut sum = first[i].clone();
            for snap in self.window.iter().skip(1) {
                sum = (sum + &snap[i])?;
            }
            out.push((sum / k)?);
        }
        Ok(Some(out))
    }

    fn state_tensors(&self, params: &[NamedParam]) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for (j, snap) in self.window.iter().enumerate() {
            for ((name, _), t) in params.iter().zip(snap) {
                out.push((format!("swa.{j}.{name}"), t.clone()));
            }
        }
        Ok(out)
    }

    fn load_state(
        &mut self,
        params: &[NamedParam],
        tensors: &mut HashMap<String, Tensor>,
    ) -> Result<()> {
        self.window.clear();
        for j in 0.. {
            let first = format!("swa.{j}.{}", params[0].0);
            if !tensors.contains_key(&first) {
                break;
            }
            self.window
                .push_back(restore_tensors(&format!("swa.{j}"), params, tensors)?);
        }
        if self.window.len() > self.n {
            crate::bad_input!(
                "saved SWA state holds {} snapshots but --swa is {}: resume with the same --swa",
                self.window.len(),
                self.n
            );
        }
        Ok(())
    }
}
