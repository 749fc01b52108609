//! dapt: domain-adaptive masked-language-model pretraining of BERT-style encoders and
//! fine-tuning them on sentence-pair matching.
//!
//! Layers, top to bottom (dependencies point downwards):
//! `commands` → `train` / `infer` / `report` → `model` / `optim` / `data` / `dist` →
//! `text` → the base (`error`, `fsutil`, `lock`, `room`, `progress`, `metrics`, ...).

pub mod commands;
pub mod data;
pub mod dist;
pub mod error;
pub mod fsutil;
pub mod infer;
pub mod lock;
pub mod malloc;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod progress;
pub mod report;
pub mod room;
pub mod text;
pub mod threads;
pub mod train;
