//! Data: memory-mapped shards of token ids, and encoding corpora into them.

pub mod encode;
pub mod shard;
