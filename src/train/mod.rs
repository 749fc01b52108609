//! Training: the shared loop, evaluation, metrics, progress and logging.

pub mod metrics;
pub mod progress;
