//! The MLM batch collator: documents → `[CLS] a [SEP] (b [SEP])` sequences, truncated,
//! pair-swapped, masked and padded into one batch.

use candle_core::{Device, Tensor};
use rand::Rng;
use rayon::prelude::*;

use super::doc::{DocSource, DocStore};
use super::mask::Masker;
use super::matching::match_flags;
use super::rng::{keyed_rng, Purpose};
use super::special::SpecialTokens;
use crate::error::InputError;

/// Label of a position that is not predicted (ignored by the loss, as in PyTorch/HF).
pub const IGNORE_LABEL: i64 = -100;

/// Fewest tokens a sequence may have: `[CLS] a [SEP] b [SEP]` with one token per text.
pub const MIN_MAX_LEN: usize = 5;

/// One padded batch, row-major `[batch_size, seq_len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Number of sequences.
    pub batch_size: usize,
    /// Length of every row (the longest sequence; shorter ones are padded with `[PAD]`).
    pub seq_len: usize,
    /// Token ids after masking.
    pub input_ids: Vec<u32>,
    /// 0 for `[CLS] a [SEP]` (and packed or single texts), 1 for `b [SEP]`; 0 on padding.
    pub token_type_ids: Vec<u32>,
    /// 1 on real tokens, 0 on padding.
    pub attention_mask: Vec<u32>,
    /// Original id at chosen positions, [`IGNORE_LABEL`] elsewhere.
    pub labels: Vec<i64>,
    /// Flat indices (`row * seq_len + col`) of the chosen positions, ascending.
    pub masked_positions: Vec<u32>,
    /// Original ids at `masked_positions`, in the same order.
    pub masked_labels: Vec<u32>,
    /// Exact-match flags after masking, 0 on padding ([`Collator::with_match_flags`]).
    pub match_flags: Option<Vec<u32>>,
}

/// A [`Batch`] as candle tensors on one device.
#[derive(Debug, Clone)]
pub struct BatchTensors {
    /// `[batch, seq]` u32.
    pub input_ids: Tensor,
    /// `[batch, seq]` u32.
    pub token_type_ids: Tensor,
    /// `[batch, seq]` u32.
    pub attention_mask: Tensor,
    /// `[batch, seq]` i64, -100 where not predicted.
    pub labels: Tensor,
    /// `[num_masked]` u32 flat indices into `batch * seq`.
    pub masked_positions: Tensor,
    /// `[num_masked]` u32 target ids.
    pub masked_labels: Tensor,
    /// `[batch, seq]` u32 exact-match flags, when collated with them.
    pub match_flags: Option<Tensor>,
}

impl Batch {
    /// `(batch_size, seq_len)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.batch_size, self.seq_len)
    }

    /// The batch as tensors on `device`.
    pub fn to_tensors(&self, device: &Device) -> candle_core::Result<BatchTensors> {
        let shape = (self.batch_size, self.seq_len);
        Ok(BatchTensors {
            input_ids: Tensor::from_slice(&self.input_ids, shape, device)?,
            token_type_ids: Tensor::from_slice(&self.token_type_ids, shape, device)?,
            attention_mask: Tensor::from_slice(&self.attention_mask, shape, device)?,
            labels: Tensor::from_slice(&self.labels, shape, device)?,
            masked_positions: Tensor::from_slice(
                &self.masked_positions,
                self.masked_positions.len(),
                device,
            )?,
            masked_labels: Tensor::from_slice(
                &self.masked_labels,
                self.masked_labels.len(),
                device,
            )?,
            match_flags: self
                .match_flags
                .as_ref()
                .map(|f| Tensor::from_slice(f, shape, device))
                .transpose()?,
        })
    }
}

/// Token counts `(a, b)` kept of a pair of `len_a` and `len_b` tokens with room for
/// `budget` tokens, as Hugging Face tokenizers' `longest_first` truncation: when only
/// the longer text must shrink it keeps `budget - shorter`; when both must, the first
/// shorter-or-equal text keeps `budget / 2` and the other `budget - budget / 2`.
pub fn longest_first(len_a: usize, len_b: usize, budget: usize) -> (usize, usize) {
    if len_a + len_b <= budget {
        return (len_a, len_b);
    }
    let swap = len_a > len_b;
    let (short, long) = if swap { (len_b, len_a) } else { (len_a, len_b) };
    let (mut n1, mut n2) = (short, (budget.saturating_sub(short)).max(short));
    if n1 + n2 > budget {
        n1 = budget / 2;
        n2 = n1 + budget % 2;
    }
    n2 = n2.min(long);
    if swap {
        (n2, n1)
    } else {
        (n1, n2)
    }
}

/// One sequence before padding.
struct Row {
    ids: Vec<u32>,
    types: Vec<u32>,
    labels: Vec<i64>,
    positions: Vec<usize>,
    /// Empty unless the collator makes match flags.
    matches: Vec<u32>,
}

/// Builds masked, padded batches; see [`Collator::collate`].
#[derive(Debug, Clone)]
pub struct Collator {
    max_len: usize,
    swap_prob: f64,
    masker: Masker,
    match_flags: bool,
}

impl Collator {
    /// A collator making sequences of at most `max_len` tokens, swapping the texts of a
    /// pair with `swap_prob` each time it is drawn, masking with `masker`.
    pub fn new(max_len: usize, swap_prob: f64, masker: Masker) -> Result<Self, InputError> {
        if max_len < MIN_MAX_LEN {
            return Err(InputError(format!(
                "max_len: {max_len} is too small; a pair needs at least {MIN_MAX_LEN} tokens"
            )));
        }
        if !(0.0..=1.0).contains(&swap_prob) {
            return Err(InputError(format!(
                "swap_prob: {swap_prob} must be in [0, 1]"
            )));
        }
        Ok(Collator {
            max_len,
            swap_prob,
            masker,
            match_flags: false,
        })
    }

    /// Also make the exact-match flags of every pair document (`--match-embedding`),
    /// computed after masking; single texts get none set.
    pub fn with_match_flags(mut self, on: bool) -> Self {
        self.match_flags = on;
        self
    }

    /// The discriminator's input of replaced-token detection: `batch` with `samples[i]`
    /// at its `i`-th masked position (the original everywhere else), and its exact-match
    /// flags recomputed for the new tokens when it has them.
    pub fn replaced(&self, batch: &Batch, samples: &[u32]) -> Batch {
        assert_eq!(samples.len(), batch.masked_positions.len());
        let mut out = batch.clone();
        for (&p, &id) in batch.masked_positions.iter().zip(samples) {
            out.input_ids[p as usize] = id;
        }
        if let Some(flags) = &mut out.match_flags {
            let is_text = |id: u32| self.masker.special().is_maskable(id);
            for r in 0..out.batch_size {
                let row = r * out.seq_len..(r + 1) * out.seq_len;
                let len = out.attention_mask[row.clone()]
                    .iter()
                    .filter(|&&m| m == 1)
                    .count();
                let real = row.start..row.start + len;
                let f = match_flags(
                    &out.input_ids[real.clone()],
                    &out.token_type_ids[real.clone()],
                    is_text,
                );
                flags[real].copy_from_slice(&f);
            }
        }
        out
    }

    /// Longest sequence, special tokens included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Collate one batch: each entry of `seqs` lists the documents of one sequence (one
    /// document, or several short single texts when packed).
    ///
    /// - one pair: `[CLS] a [SEP] b [SEP]`, a and b swapped with `swap_prob`, then
    ///   truncated to `max_len` longest-first ([`longest_first`]); token type 1 on `b [SEP]`.
    /// - single texts: `[CLS] d1 [SEP] d2 [SEP] ...`, token type 0, cut at `max_len`
    ///   (a pair packed with others is read as one text).
    ///
    /// Row `i` draws its swap and mask from its own stream keyed by `(seed, step, i)`, so
    /// a batch is fresh at every step (dynamic masking) and identical whatever the number
    /// of threads.
    pub fn collate<S, I>(&self, store: &S, seqs: &[I], seed: u64, step: u64) -> Batch
    where
        S: DocStore + ?Sized,
        I: AsRef<[usize]> + Sync,
    {
        self.collate_rows(store, seqs, seed, step, 0)
    }

    /// [`Collator::collate`] of rows `first_row..` of a larger batch: row `i` here draws
    /// from the stream of row `first_row + i`. The ranks of a data-parallel run, each
    /// collating its slice of one global batch, so draw exactly the swaps and masks one
    /// process collating the whole batch would.
    pub fn collate_rows<S, I>(
        &self,
        store: &S,
        seqs: &[I],
        seed: u64,
        step: u64,
        first_row: usize,
    ) -> Batch
    where
        S: DocStore + ?Sized,
        I: AsRef<[usize]> + Sync,
    {
        let rows: Vec<Row> = seqs
            .par_iter()
            .enumerate()
            .map(|(i, seq)| {
                let docs: Vec<S::Doc<'_>> = seq.as_ref().iter().map(|&d| store.doc(d)).collect();
                let row = (first_row + i) as u64;
                let mut rng = keyed_rng(seed, step, row, Purpose::Sequence);
                self.build_row(&docs, &mut rng)
            })
            .collect();
        assemble(&rows, self.match_flags)
    }

    fn build_row<D: DocSource, R: Rng + ?Sized>(&self, docs: &[D], rng: &mut R) -> Row {
        let mut ids = Vec::with_capacity(self.max_len);
        let mut types = Vec::with_capacity(self.max_len);
        let mut ws = Vec::with_capacity(self.max_len);
        let mut push = |id: u32, ty: u32, start: bool| {
            ids.push(id);
            types.push(ty);
            ws.push(start);
        };
        push(SpecialTokens::CLS, 0, false);
        match docs {
            [d] if d.split().is_some() => {
                let k = d.split().unwrap_or(0).min(d.len());
                let (mut a, mut b) = (0..k, k..d.len());
                if rng.random::<f64>() < self.swap_prob {
                    std::mem::swap(&mut a, &mut b);
                }
                let (na, nb) = longest_first(a.len(), b.len(), self.max_len - 3);
                for (range, n, ty) in [(a, na, 0), (b, nb, 1)] {
                    for i in range.start..range.start + n {
                        push(d.id(i), ty, d.is_word_start(i));
                    }
                    push(SpecialTokens::SEP, ty, false);
                }
            }
            _ => {
                let mut used = 1;
                for d in docs {
                    // Room for the text and its [SEP]; a text that gets no token is left out.
                    let room = self.max_len - used;
                    if room < if d.is_empty() { 1 } else { 2 } {
                        break;
                    }
                    let n = d.len().min(room - 1);
                    for i in 0..n {
                        push(d.id(i), 0, d.is_word_start(i));
                    }
                    push(SpecialTokens::SEP, 0, false);
                    used += n + 1;
                }
            }
        }
        let mut labels = vec![IGNORE_LABEL; ids.len()];
        let is_text = |id: u32| self.masker.special().is_maskable(id);
        // Shared tokens of a pair, before masking, for --mask-shared-boost.
        let shared: Option<Vec<bool>> =
            (self.masker.config().mask_shared_boost != 1.0 && types.contains(&1)).then(|| {
                match_flags(&ids, &types, is_text)
                    .iter()
                    .map(|&f| f == 1)
                    .collect()
            });
        let positions = self
            .masker
            .mask(&mut ids, &ws, shared.as_deref(), &mut labels, rng)
            .positions;
        let matches = if self.match_flags {
            match_flags(&ids, &types, is_text)
        } else {
            Vec::new()
        };
        Row {
            ids,
            types,
            labels,
            positions,
            matches,
        }
    }
}

/// Pad rows to the longest and lay them out row-major (with their match flags when
/// `match_flags`).
fn assemble(rows: &[Row], match_flags: bool) -> Batch {
    let seq_len = rows.iter().map(|r| r.ids.len()).max().unwrap_or(0);
    let n = rows.len() * seq_len;
    let mut batch = Batch {
        batch_size: rows.len(),
        seq_len,
        input_ids: vec![SpecialTokens::PAD; n],
        token_type_ids: vec![0; n],
        attention_mask: vec![0; n],
        labels: vec![IGNORE_LABEL; n],
        masked_positions: Vec::new(),
        masked_labels: Vec::new(),
        match_flags: match_flags.then(|| vec![0; n]),
    };
    for (r, row) in rows.iter().enumerate() {
        let at = r * seq_len;
        let len = row.ids.len();
        batch.input_ids[at..at + len].copy_from_slice(&row.ids);
        batch.token_type_ids[at..at + len].copy_from_slice(&row.types);
        batch.attention_mask[at..at + len].fill(1);
        batch.labels[at..at + len].copy_from_slice(&row.labels);
        if let Some(flags) = &mut batch.match_flags {
            flags[at..at + len].copy_from_slice(&row.matches);
        }
        for &p in &row.positions {
            batch.masked_positions.push((at + p) as u32);
            batch.masked_labels.push(row.labels[p] as u32);
        }
    }
    batch
}
