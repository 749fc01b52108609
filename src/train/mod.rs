//! Training: the one [`trainer::Trainer`] and the loops that drive it (MLM and RTD
//! pretraining, fine-tuning folds, distillation, pseudo-label rounds), the techniques,
//! shared options, losses and the metrics log.

pub mod checkpoints;
pub mod distill;
pub mod finetune;
pub mod log;
pub mod loss;
pub mod options;
pub mod pretrain;
pub mod run;
pub mod soft;
pub mod tasks;
pub mod techniques;
pub mod tensorboard;
pub mod trainer;
