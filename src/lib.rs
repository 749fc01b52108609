//! dapt: domain-adaptive masked-language-model pretraining of BERT-style encoders and
//! fine-tuning them on sentence-pair matching.
//!
//! Layers, top to bottom (dependencies point downwards):
//! `commands` → `train` → `model` / `optim` / `data` → `text`.

pub mod commands;
pub mod data;
pub mod dist;
pub mod error;
pub mod fsutil;
pub mod lock;
pub mod malloc;
pub mod model;
pub mod optim;
pub mod report;
pub mod room;
pub mod text;
pub mod threads;
pub mod train;
