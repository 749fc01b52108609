//! Training: shared options, loss, metrics, progress and logging.

pub mod log;
pub mod loss;
pub mod metrics;
pub mod options;
pub mod progress;
