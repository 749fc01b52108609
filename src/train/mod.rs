//! Training: the shared loop, evaluation, metrics, progress and logging.

pub mod loss;
pub mod metrics;
pub mod progress;
