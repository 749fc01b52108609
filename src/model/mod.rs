//! The BERT encoder: configuration, layers, heads, checkpoint I/O and embedding alignment.
//!
//! Exists so far: `config`, the eval-mode `encoder` and the `mlm_head` (no dropout, no
//! pair head, no checkpoint I/O yet).

pub mod config;
pub mod encoder;
pub mod mlm_head;

pub use config::BertConfig;
