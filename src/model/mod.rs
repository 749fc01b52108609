//! The BERT encoder: configuration, layers, heads, checkpoint I/O and embedding alignment.
//!
//! `bert` (the masked LM), `electra` (discriminator, generator, classifier head) and
//! `classifier` (the sequence classifier of either family) are the models, built with
//! `build`; no family imports another. `encoder`, `mlm_head` and `pair_head` (with
//! `pooling`) are their parts; `ops` the fused kernels they use (with their own
//! backward); `unpad` the encoder's padding-free token layout; `dropout` the seeded
//! train/eval mode; `precision` f32 or bf16 mixed precision; `checkpoint` save, verify
//! and load; `align` embedding rows for a new vocabulary.

pub mod align;
pub mod bert;
pub mod build;
pub mod checkpoint;
pub mod classifier;
pub mod config;
pub mod dropout;
pub mod electra;
pub mod encoder;
pub mod init_from;
pub mod linear;
pub mod mlm_head;
pub mod ops;
pub mod pair_head;
pub mod params;
pub mod pooling;
pub mod precision;
pub mod rtd;
pub mod unpad;

pub use config::BertConfig;
pub use precision::Precision;
