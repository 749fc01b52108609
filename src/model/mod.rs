//! The BERT encoder: configuration, layers, heads, checkpoint I/O and embedding alignment.
//!
//! Exists so far: `config`, the eval-mode `encoder`, `mlm_head`, `pair_head`, seeded
//! `dropout` (not yet wired into the layers), `params` and `checkpoint` (save, verify,
//! load) and `align` (embedding rows for a new vocabulary); no model wrapper yet.

pub mod align;
pub mod checkpoint;
pub mod config;
pub mod dropout;
pub mod encoder;
pub mod mlm_head;
pub mod pair_head;
pub mod params;

pub use config::BertConfig;
