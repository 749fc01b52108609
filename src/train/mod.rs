//! Training: shared options, loss, metrics, progress and logging.

pub mod checkpoints;
pub mod log;
pub mod loss;
pub mod metrics;
pub mod options;
pub mod pretrain;
pub mod progress;
