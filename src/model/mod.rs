//! The BERT encoder: configuration, layers, heads, checkpoint I/O and embedding alignment.
//!
//! Exists so far: `config` and the eval-mode `encoder` forward (no dropout, no heads yet).

pub mod config;
pub mod encoder;

pub use config::BertConfig;
