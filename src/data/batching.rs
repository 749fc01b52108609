//! Planning an epoch: shuffled documents, optionally packed and grouped by length, cut
//! into batches of sequences.

use rand::seq::SliceRandom;

use super::doc::{DocSource, DocStore};
use super::rng::{keyed_rng, Purpose};
use crate::error::InputError;

/// What the planner needs to know of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocInfo {
    /// Number of tokens, without special tokens.
    pub len: usize,
    /// Whether it is a pair of texts (pairs are never packed).
    pub is_pair: bool,
}

impl DocInfo {
    /// The infos of every document of a store, in order.
    pub fn of_store<S: DocStore + ?Sized>(store: &S) -> Vec<DocInfo> {
        (0..store.num_docs())
            .map(|i| {
                let d = store.doc(i);
                DocInfo {
                    len: d.len(),
                    is_pair: d.split().is_some(),
                }
            })
            .collect()
    }
}

/// Batching settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchingConfig {
    /// Sequences per batch.
    pub batch_size: usize,
    /// Longest sequence, special tokens included (as the collator's `max_len`).
    pub max_len: usize,
    /// Pack consecutive short single texts into one sequence `[CLS] d1 [SEP] d2 [SEP] ..`
    /// (RoBERTa's FULL-SENTENCES); pairs always stay alone.
    pub pack: bool,
    /// Group sequences of similar length into batches, so padding is small.
    pub group_by_length: bool,
    /// Batches per length-grouping window: sequences are sorted by length within windows
    /// of `group_window * batch_size` shuffled sequences, so batches stay random across
    /// windows.
    pub group_window: usize,
    /// Leave out the last, smaller batch.
    pub drop_last: bool,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        BatchingConfig {
            batch_size: 32,
            max_len: 128,
            pack: false,
            group_by_length: false,
            group_window: 100,
            drop_last: false,
        }
    }
}

/// The batches of one epoch: for each batch, its sequences; for each sequence, the
/// indices of its documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochPlan {
    /// Batches → sequences → document indices.
    pub batches: Vec<Vec<Vec<usize>>>,
}

impl EpochPlan {
    /// Plan epoch `epoch`: documents shuffled by a stream keyed by `(seed, epoch)`, so the
    /// plan, and a data cursor `(epoch, batch)` into it, is reproducible.
    pub fn new(
        docs: &[DocInfo],
        cfg: &BatchingConfig,
        seed: u64,
        epoch: u64,
    ) -> Result<Self, InputError> {
        if cfg.batch_size == 0 || cfg.group_window == 0 {
            return Err(InputError(format!(
                "batch_size ({}) and group_window ({}) must be at least 1",
                cfg.batch_size, cfg.group_window
            )));
        }
        let mut rng = keyed_rng(seed, epoch, 0, Purpose::Epoch);
        let mut order: Vec<usize> = (0..docs.len()).collect();
        order.shuffle(&mut rng);
        let mut seqs = if cfg.pack {
            pack(docs, &order, cfg.max_len)
        } else {
            order.into_iter().map(|d| vec![d]).collect()
        };
        if cfg.group_by_length {
            let window = cfg.group_window * cfg.batch_size;
            for chunk in seqs.chunks_mut(window) {
                chunk.sort_by_key(|s| seq_len(docs, s, cfg.max_len));
            }
        }
        let mut batches: Vec<Vec<Vec<usize>>> =
            Vec::with_capacity(seqs.len().div_ceil(cfg.batch_size));
        let mut it = seqs.into_iter().peekable();
        while it.peek().is_some() {
            let batch: Vec<Vec<usize>> = it.by_ref().take(cfg.batch_size).collect();
            if batch.len() == cfg.batch_size || !cfg.drop_last {
                batches.push(batch);
            }
        }
        if cfg.group_by_length {
            // Sorted windows would otherwise feed lengths in a sawtooth order.
            batches.shuffle(&mut rng);
        }
        Ok(EpochPlan { batches })
    }

    /// Number of batches.
    pub fn num_batches(&self) -> usize {
        self.batches.len()
    }
}

/// Tokens of a sequence once collated: `[CLS]`, each text and its `[SEP]` (three special
/// tokens for a pair), at most `max_len`.
pub fn seq_len(docs: &[DocInfo], seq: &[usize], max_len: usize) -> usize {
    let specials = match seq {
        [d] if docs[*d].is_pair => 3,
        _ => 1 + seq.len(),
    };
    let tokens: usize = seq.iter().map(|&d| docs[d].len).sum();
    (tokens + specials).min(max_len)
}

/// Greedy packing in the given order: single texts join the open sequence while it stays
/// within `max_len`; pairs are emitted alone.
fn pack(docs: &[DocInfo], order: &[usize], max_len: usize) -> Vec<Vec<usize>> {
    let mut seqs = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut used = 1; // [CLS]
    for &d in order {
        if docs[d].is_pair {
            seqs.push(vec![d]);
            continue;
        }
        let cost = docs[d].len + 1;
        if !open.is_empty() && used + cost > max_len {
            seqs.push(std::mem::take(&mut open));
            used = 1;
        }
        open.push(d);
        used += cost;
    }
    if !open.is_empty() {
        seqs.push(open);
    }
    seqs
}
