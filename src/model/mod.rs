//! The BERT encoder: configuration, layers, heads, checkpoint I/O and embedding alignment.
//!
//! Exists so far: `config`, the eval-mode `encoder`, `mlm_head` and `pair_head` (no
//! dropout, no checkpoint I/O yet).

pub mod config;
pub mod encoder;
pub mod mlm_head;
pub mod pair_head;

pub use config::BertConfig;
