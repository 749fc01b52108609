//! Keyed random streams, so data draws never depend on thread scheduling.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a random stream is used for; part of its key, so two uses never share numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Pair swap and masking of one sequence of a batch.
    Sequence = 1,
    /// Shuffling documents and batches for one epoch.
    Epoch = 2,
    /// Dropout masks of one micro-batch.
    Dropout = 3,
    /// Choosing the held-out documents.
    Holdout = 4,
    /// Masks of the fixed evaluation batches.
    Eval = 5,
    /// The generator's sampled replacements of one micro-batch (replaced-token detection).
    Replace = 6,
    /// The unlabelled pairs of one micro-batch and their augmentation (UDA).
    Uda = 7,
}

/// An independent ChaCha8 stream for `(seed, counter, index, purpose)`.
///
/// The four values are the 256-bit ChaCha key itself (not a hash of them), so distinct
/// keys give unrelated streams and no two can collide. For a batch sequence the counter
/// is the training step and the index the row in the batch: each row gets its own stream,
/// so the batch is the same whatever the number of rayon threads.
pub fn keyed_rng(seed: u64, counter: u64, index: u64, purpose: Purpose) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    for (chunk, v) in key
        .chunks_exact_mut(8)
        .zip([seed, counter, index, purpose as u64])
    {
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}
