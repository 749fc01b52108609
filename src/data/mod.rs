//! Data: memory-mapped shards of token ids, and encoding corpora into them.

pub mod augment;
pub mod encode;
pub mod folds;
pub mod pairs;
pub mod shard;
pub mod union_find;
