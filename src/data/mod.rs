//! Data: memory-mapped shards of token ids, masking and MLM batch collation.

pub mod batching;
pub mod collate;
pub mod doc;
pub mod mask;
pub mod rng;
pub mod span;
pub mod special;
