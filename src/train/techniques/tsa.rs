//! Training signal annealing (Xie et al. 2020, UDA, <https://arxiv.org/abs/1904.12848>):
//! labelled rows whose correct-class probability is above a threshold that rises over
//! training leave the cross-entropy, so few labels are not memorised early (`--tsa`).

use candle_core::Tensor;

use super::uda::data::{tsa_keep, Tsa};
use super::Technique;

/// TSA with its schedule and this step's threshold.
pub struct Annealing {
    schedule: Tsa,
    classes: usize,
    threshold: f64,
}

impl Annealing {
    /// `schedule` over a task of `classes` classes.
    pub fn new(schedule: Tsa, classes: usize) -> Self {
        Annealing {
            schedule,
            classes,
            threshold: schedule.threshold(0.0, classes),
        }
    }
}

impl Technique for Annealing {
    fn flag(&self) -> &'static str {
        "--tsa"
    }

    fn refuses_data_parallel(&self) -> Option<&'static str> {
        Some("its threshold drops rows from each rank's loss separately")
    }

    fn begin_step(&mut self, step: u64, total: u64) {
        self.threshold = self
            .schedule
            .threshold(step as f64 / total as f64, self.classes);
    }

    fn keep_rows(&self, logits: &Tensor, labels: &Tensor) -> candle_core::Result<Option<Vec<u32>>> {
        tsa_keep(logits, &labels.to_vec1::<u32>()?, self.threshold).map(Some)
    }
}
