//! Planning an epoch: shuffled documents, optionally packed and grouped by length, cut
//! into batches of sequences.

use rand::seq::SliceRandom;

use super::doc::{DocSource, DocStore};
use super::rng::{keyed_rng, Purpose};
use crate::error::InputError;

/// What the planner needs to know of a document (8 bytes: the planner keeps one per
/// training document in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocInfo {
    /// Number of tokens, without special tokens.
    pub len: u32,
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
                    len: d.len() as u32,
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
/// indices of its documents. Stored flat (about 8 bytes per document rather than a
/// vector per sequence), so that the plan of a large corpus stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochPlan {
    /// Document indices of every sequence, one sequence after another.
    docs: Vec<u32>,
    /// End of each sequence in `docs`.
    seq_ends: Vec<u32>,
    /// The batches, in training order, as ranges `[start, end)` of sequences.
    batches: Vec<(u32, u32)>,
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
        if u32::try_from(docs.len()).is_err() {
            return Err(InputError(format!(
                "{} documents: at most {} fit one training set",
                docs.len(),
                u32::MAX
            )));
        }
        let mut rng = keyed_rng(seed, epoch, 0, Purpose::Epoch);
        let mut order: Vec<u32> = (0..docs.len() as u32).collect();
        order.shuffle(&mut rng);
        let mut plan = if cfg.pack {
            pack(docs, &order, cfg.max_len)
        } else {
            EpochPlan {
                seq_ends: (1..=order.len() as u32).collect(),
                docs: order,
                batches: Vec::new(),
            }
        };
        if cfg.group_by_length {
            plan.sort_windows(docs, cfg.group_window * cfg.batch_size, cfg.max_len);
        }
        let num_seqs = plan.seq_ends.len() as u32;
        let step = cfg.batch_size as u32;
        plan.batches = (0..num_seqs)
            .step_by(cfg.batch_size)
            .map(|start| (start, (start + step).min(num_seqs)))
            .filter(|(start, end)| end - start == step || !cfg.drop_last)
            .collect();
        if cfg.group_by_length {
            // Sorted windows would otherwise feed lengths in a sawtooth order.
            plan.batches.shuffle(&mut rng);
        }
        Ok(plan)
    }

    /// Number of batches.
    pub fn num_batches(&self) -> usize {
        self.batches.len()
    }

    /// The sequences of batch `b`, each the indices of its documents.
    pub fn batch(&self, b: usize) -> Vec<Vec<usize>> {
        let (start, end) = self.batches[b];
        (start..end).map(|q| self.seq(q as usize)).collect()
    }

    /// Sequence `q` (in stored order): the indices of its documents.
    fn seq(&self, q: usize) -> Vec<usize> {
        let start = if q == 0 { 0 } else { self.seq_ends[q - 1] };
        self.docs[start as usize..self.seq_ends[q] as usize]
            .iter()
            .map(|&d| d as usize)
            .collect()
    }

    /// Sort the sequences by collated length within consecutive windows of `window`
    /// sequences (stable, so equal lengths keep their shuffled order).
    fn sort_windows(&mut self, docs: &[DocInfo], window: usize, max_len: usize) {
        let n = self.seq_ends.len();
        let mut sorted = EpochPlan {
            docs: Vec::with_capacity(self.docs.len()),
            seq_ends: Vec::with_capacity(n),
            batches: Vec::new(),
        };
        for w in (0..n).step_by(window) {
            let mut seqs: Vec<Vec<usize>> = (w..(w + window).min(n)).map(|q| self.seq(q)).collect();
            seqs.sort_by_key(|s| seq_len(docs, s, max_len));
            for s in seqs {
                sorted.docs.extend(s.iter().map(|&d| d as u32));
                sorted.seq_ends.push(sorted.docs.len() as u32);
            }
        }
        *self = sorted;
    }
}

/// Tokens of a sequence once collated: `[CLS]`, each text and its `[SEP]` (three special
/// tokens for a pair), at most `max_len`.
pub fn seq_len(docs: &[DocInfo], seq: &[usize], max_len: usize) -> usize {
    let specials = match seq {
        [d] if docs[*d].is_pair => 3,
        _ => 1 + seq.len(),
    };
    let tokens: usize = seq.iter().map(|&d| docs[d].len as usize).sum();
    (tokens + specials).min(max_len)
}

/// Greedy packing in the given order: single texts join the open sequence while it stays
/// within `max_len`; pairs are emitted alone.
fn pack(docs: &[DocInfo], order: &[u32], max_len: usize) -> EpochPlan {
    let mut plan = EpochPlan {
        docs: Vec::with_capacity(order.len()),
        seq_ends: Vec::new(),
        batches: Vec::new(),
    };
    let emit = |plan: &mut EpochPlan, seq: &[u32]| {
        plan.docs.extend_from_slice(seq);
        plan.seq_ends.push(plan.docs.len() as u32);
    };
    let mut open: Vec<u32> = Vec::new();
    let mut used = 1; // [CLS]
    for &d in order {
        let info = docs[d as usize];
        if info.is_pair {
            emit(&mut plan, &[d]);
            continue;
        }
        let cost = info.len as usize + 1;
        if !open.is_empty() && used + cost > max_len {
            emit(&mut plan, &open);
            open.clear();
            used = 1;
        }
        open.push(d);
        used += cost;
    }
    if !open.is_empty() {
        emit(&mut plan, &open);
    }
    plan
}
