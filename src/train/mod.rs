//! Training: shared options, loss, metrics, progress and logging; MLM pretraining;
//! fine-tuning (with its techniques) and prediction of pair classifiers.

pub mod average;
pub mod checkpoints;
pub mod distill;
pub mod ensemble;
pub mod finetune;
pub mod log;
pub mod loss;
pub mod metrics;
pub mod options;
pub mod pair_batch;
pub mod pair_model;
pub mod predict;
pub mod pretrain;
pub mod probs;
pub mod progress;
pub mod pseudo;
pub mod soft;
pub mod stack;
pub mod techniques;
pub mod tensorboard;
pub mod trainer;
pub mod uda;
