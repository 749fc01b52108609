//! The BERT encoder: configuration, layers, heads, checkpoint I/O and embedding alignment.
//!
//! Exists so far: `config`, the eval-mode `encoder`, `mlm_head`, `pair_head`, seeded
//! `dropout` (not yet wired into the layers) and `params`; no checkpoint I/O yet.

pub mod config;
pub mod dropout;
pub mod encoder;
pub mod mlm_head;
pub mod pair_head;
pub mod params;

pub use config::BertConfig;
