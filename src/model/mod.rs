//! The BERT encoder: configuration, layers, heads, checkpoint I/O and embedding alignment.
//!
//! Only the configuration exists so far; see `config`.

pub mod config;

pub use config::BertConfig;
