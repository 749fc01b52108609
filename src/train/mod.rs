//! Training: shared options, loss, metrics, progress and logging; fine-tuning and
//! prediction of pair classifiers.

pub mod ensemble;
pub mod finetune;
pub mod log;
pub mod loss;
pub mod metrics;
pub mod options;
pub mod pair_batch;
pub mod pair_model;
pub mod probs;
pub mod progress;
