//! Gradient accumulation over micro-batches.

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::Tensor;

use super::NamedParam;

/// Sums the parameter gradients of several micro-batches and hands back their mean.
///
/// With each micro-batch loss a mean over equally many examples, the mean of N micro-batch
/// gradients is the gradient of the mean loss over all N micro-batches: one large batch.
/// Only the parameters' gradients are kept, not those of activations in the store.
pub struct GradAccumulator {
    params: Vec<Tensor>,
    sums: Vec<Option<Tensor>>,
    micro_batches: usize,
}

impl GradAccumulator {
    /// An empty accumulator for `params`.
    pub fn new(params: &[NamedParam]) -> Self {
        GradAccumulator {
            params: params.iter().map(|(_, v)| v.as_tensor().clone()).collect(),
            sums: vec![None; params.len()],
            micro_batches: 0,
        }
    }

    /// Add one micro-batch's gradients (from `loss.backward()`).
    pub fn add(&mut self, grads: &GradStore) -> Result<()> {
        for (p, sum) in self.params.iter().zip(&mut self.sums) {
            if let Some(g) = grads.get(p) {
                *sum = Some(match sum.take() {
                    None => g.clone(),
                    Some(s) => (s + g)?,
                });
            }
        }
        self.micro_batches += 1;
        Ok(())
    }

    /// Micro-batches added since the last [`GradAccumulator::take_mean`].
    pub fn micro_batches(&self) -> usize {
        self.micro_batches
    }

    /// The mean gradient over the micro-batches added so far (a parameter missing from some
    /// micro-batches counts 0 there); the accumulator starts empty again.
    pub fn take_mean(&mut self) -> Result<GradStore> {
        let n = self.micro_batches.max(1) as f64;
        let mut out = GradStore::default();
        for (p, sum) in self.params.iter().zip(&mut self.sums) {
            if let Some(s) = sum.take() {
                out.insert(p, if n == 1.0 { s } else { (s / n)? });
            }
        }
        self.micro_batches = 0;
        Ok(out)
    }
}
