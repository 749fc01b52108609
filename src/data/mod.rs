//! Data: memory-mapped shards of token ids, encoding corpora into them, masking, MLM
//! batch collation, pair readers, folds, augmentation and word-overlap baselines.

pub mod append;
pub mod augment;
pub mod batching;
pub mod collate;
pub mod doc;
pub mod encode;
pub mod folds;
pub mod labels;
pub mod mask;
pub mod matching;
pub mod overlap;
pub mod pair_batch;
pub mod pairs;
pub mod rng;
pub mod shard;
pub mod shards;
pub mod soft_labels;
pub mod span;
pub mod special;
pub mod task;
pub mod uda_augment;
pub mod union_find;
