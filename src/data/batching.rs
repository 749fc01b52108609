//! Planning an epoch: shuffled documents, optionally packed and grouped by length, cut
//! into batches of sequences.

use rand::seq::SliceRandom;

use super::doc::{DocSource, DocStore};
use super::rng::{keyed_rng, Purpose};
use crate::error::InputError;

/// What the planner needs to know of a document to pack it or group it by length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocInfo {
    /// Number of tokens, without special tokens.
    pub len: u32,
    /// Whether it is a pair of texts (pairs are never packed).
    pub is_pair: bool,
}

impl DocInfo {
    /// The info of one document.
    pub fn of(doc: &impl DocSource) -> DocInfo {
        DocInfo {
            len: doc.len() as u32,
            is_pair: doc.split().is_some(),
        }
    }

    /// The info of document `i` of a store (read on demand: the planner keeps no copy
    /// of a large corpus's lengths).
    pub fn in_store<S: DocStore + ?Sized>(store: &S) -> impl Fn(usize) -> DocInfo + '_ {
        |i| DocInfo::of(&store.doc(i))
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
/// indices of its documents. Stored flat (4 bytes per document, plus 4 per sequence when
/// packed, rather than a vector per sequence), so that the plan of a large corpus stays
/// small.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochPlan {
    /// Document indices of every sequence, one sequence after another.
    docs: Vec<u32>,
    /// End of each sequence in `docs`; `None` when every sequence is one document.
    seq_ends: Option<Vec<u32>>,
    /// The batches, in training order, as ranges `[start, end)` of sequences.
    batches: Vec<(u32, u32)>,
}

impl EpochPlan {
    /// Plan epoch `epoch` of documents `0..num_docs` (`info` gives their lengths; read
    /// only to pack or group by length): documents shuffled by a stream keyed by
    /// `(seed, epoch)`, so the plan, and a data cursor `(epoch, batch)` into it, is
    /// reproducible.
    pub fn new(
        num_docs: usize,
        info: impl Fn(usize) -> DocInfo,
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
        if u32::try_from(num_docs).is_err() {
            return Err(InputError(format!(
                "{num_docs} documents: at most {} fit one training set",
                u32::MAX
            )));
        }
        let mut rng = keyed_rng(seed, epoch, 0, Purpose::Epoch);
        let mut order: Vec<u32> = (0..num_docs as u32).collect();
        order.shuffle(&mut rng);
        let mut plan = if cfg.pack {
            pack(&info, &order, cfg.max_len)
        } else {
            EpochPlan {
                docs: order,
                seq_ends: None,
                batches: Vec::new(),
            }
        };
        if cfg.group_by_length {
            plan.sort_windows(&info, cfg.group_window * cfg.batch_size, cfg.max_len);
        }
        let num_seqs = plan.num_seqs() as u32;
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

    fn num_seqs(&self) -> usize {
        self.seq_ends.as_ref().map_or(self.docs.len(), Vec::len)
    }

    /// Sequence `q` (in stored order): the indices of its documents.
    fn seq(&self, q: usize) -> Vec<usize> {
        let docs = match &self.seq_ends {
            None => &self.docs[q..=q],
            Some(ends) => {
                let start = if q == 0 { 0 } else { ends[q - 1] };
                &self.docs[start as usize..ends[q] as usize]
            }
        };
        docs.iter().map(|&d| d as usize).collect()
    }

    /// Sort the sequences by collated length within consecutive windows of `window`
    /// sequences (stable, so equal lengths keep their shuffled order).
    fn sort_windows(&mut self, info: &impl Fn(usize) -> DocInfo, window: usize, max_len: usize) {
        let n = self.num_seqs();
        let mut docs = Vec::with_capacity(self.docs.len());
        let mut ends = self.seq_ends.as_ref().map(|_| Vec::with_capacity(n));
        for w in (0..n).step_by(window) {
            let mut seqs: Vec<Vec<usize>> = (w..(w + window).min(n)).map(|q| self.seq(q)).collect();
            seqs.sort_by_key(|s| seq_len(info, s, max_len));
            for s in seqs {
                docs.extend(s.iter().map(|&d| d as u32));
                if let Some(ends) = &mut ends {
                    ends.push(docs.len() as u32);
                }
            }
        }
        self.docs = docs;
        self.seq_ends = ends;
    }
}

/// Tokens of a sequence once collated: `[CLS]`, each text and its `[SEP]` (three special
/// tokens for a pair), at most `max_len`.
pub fn seq_len(info: &impl Fn(usize) -> DocInfo, seq: &[usize], max_len: usize) -> usize {
    let specials = match seq {
        [d] if info(*d).is_pair => 3,
        _ => 1 + seq.len(),
    };
    let tokens: usize = seq.iter().map(|&d| info(d).len as usize).sum();
    (tokens + specials).min(max_len)
}

/// Greedy packing in the given order: single texts join the open sequence while it stays
/// within `max_len`; pairs are emitted alone.
fn pack(info: &impl Fn(usize) -> DocInfo, order: &[u32], max_len: usize) -> EpochPlan {
    let mut docs = Vec::with_capacity(order.len());
    let mut ends = Vec::new();
    let mut emit = |seq: &[u32]| {
        docs.extend_from_slice(seq);
        ends.push(docs.len() as u32);
    };
    let mut open: Vec<u32> = Vec::new();
    let mut used = 1; // [CLS]
    for &d in order {
        let doc = info(d as usize);
        if doc.is_pair {
            emit(&[d]);
            continue;
        }
        let cost = doc.len as usize + 1;
        if !open.is_empty() && used + cost > max_len {
            emit(&open);
            open.clear();
            used = 1;
        }
        open.push(d);
        used += cost;
    }
    if !open.is_empty() {
        emit(&open);
    }
    EpochPlan {
        docs,
        seq_ends: Some(ends),
        batches: Vec::new(),
    }
}
