//! Embedding alignment for a new vocabulary (`--init-from DIR --align-embeddings`).
//!
//! A pretrained checkpoint meets a vocabulary built from the user's corpus. Rows of the
//! word-embedding matrix (and of the MLM output bias) are carried over by rule:
//! - `special`: `[PAD] [UNK] [CLS] [SEP] [MASK]`, matched by string;
//! - `shared`: those and every token present in both vocabularies; a token the checkpoint
//!   lacks but its WordPiece splits into known pieces (a word added by `dapt vocab
//!   --extend`) gets the mean of its pieces' rows, the usual initialisation for added
//!   vocabulary (Sachidananda et al. 2021, adaptive tokenization; Koto et al. 2021,
//!   IndoBERTweet);
//! - `frequency`: those, then the i-th most frequent ordinary token of the new
//!   vocabulary takes the row of the i-th most frequent ordinary token of the pretrained
//!   one — the trick used on desensitized corpora, whose ids mean nothing to the
//!   pretrained model but whose frequency profile matches natural text;
//! - `none`: no row (the transformer layers alone, a baseline).
//!
//! Every other row is drawn from N(0, initializer_range), as BERT initialises.

use candle_core::{Device, Tensor};
use clap::ValueEnum;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::text::vocab::SPECIAL_TOKENS;

/// Which rows of a pretrained embedding matrix a new vocabulary inherits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlignEmbeddings {
    /// None: every word-embedding row random (the transformer layers alone; the
    /// baseline that shows what the inherited rows are worth).
    None,
    /// Only the five BERT special tokens.
    Special,
    /// Special tokens and every token in both vocabularies.
    Shared,
    /// Special tokens, then ordinary tokens matched by frequency rank.
    Frequency,
}

/// Where one row of the new matrix comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowSource {
    /// A copy of this row of the pretrained matrix.
    Copy(usize),
    /// The mean of these rows (the token's WordPiece pieces in the pretrained vocabulary).
    Mean(Vec<usize>),
    /// Drawn at random.
    Random,
}

/// How many rows each rule filled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AlignReport {
    /// Rows copied for special tokens.
    pub special: usize,
    /// Rows copied for tokens in both vocabularies.
    pub shared: usize,
    /// Rows averaged from the pieces the checkpoint's tokenizer splits a token into.
    pub pieces: usize,
    /// Rows copied by frequency rank.
    pub frequency: usize,
    /// Rows initialised at random.
    pub random: usize,
}

/// Bracketed tokens (`[CLS]`, `[unused7]`, `[RARE0]`) are never "ordinary" words.
fn is_ordinary(token: &str) -> bool {
    !(token.starts_with('[') && token.ends_with(']'))
}

/// Ordinary token ids, most frequent first: by `counts` when given (ties by id), else in
/// vocabulary order.
fn by_frequency(tokens: &[String], counts: Option<&[u64]>) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..tokens.len())
        .filter(|&i| is_ordinary(&tokens[i]))
        .collect();
    if let Some(c) = counts {
        ids.sort_by_key(|&i| (std::cmp::Reverse(c[i]), i));
    }
    ids
}

/// The old-vocabulary ids a token splits into with the checkpoint's tokenizer, or `None`
/// when it cannot (an unknown piece).
pub type SplitFn<'a> = &'a dyn Fn(&str) -> Option<Vec<usize>>;

/// For each token of `new`, where its row comes from. Under `shared`, `split` (the
/// checkpoint's WordPiece) gives tokens absent from `old` the mean of their pieces.
pub fn row_map(
    old: &[String],
    old_counts: Option<&[u64]>,
    new: &[String],
    new_counts: Option<&[u64]>,
    rule: AlignEmbeddings,
    split: Option<SplitFn>,
) -> (Vec<RowSource>, AlignReport) {
    let old_index: std::collections::HashMap<&str, usize> = old
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let copy = |t: &str| {
        old_index
            .get(t)
            .map_or(RowSource::Random, |&o| RowSource::Copy(o))
    };
    let mut map = vec![RowSource::Random; new.len()];
    let mut report = AlignReport::default();
    for (i, t) in new.iter().enumerate() {
        if rule == AlignEmbeddings::None {
            continue;
        }
        if SPECIAL_TOKENS.contains(&t.as_str()) {
            map[i] = copy(t);
            report.special += (map[i] != RowSource::Random) as usize;
        } else if rule == AlignEmbeddings::Shared {
            map[i] = copy(t);
            if map[i] != RowSource::Random {
                report.shared += 1;
            } else if let Some(pieces) = split.filter(|_| is_ordinary(t)).and_then(|f| f(t)) {
                if !pieces.is_empty() {
                    map[i] = RowSource::Mean(pieces);
                    report.pieces += 1;
                }
            }
        }
    }
    if rule == AlignEmbeddings::Frequency {
        let ranked_old = by_frequency(old, old_counts);
        for (n, o) in by_frequency(new, new_counts).into_iter().zip(ranked_old) {
            map[n] = RowSource::Copy(o);
            report.frequency += 1;
        }
    }
    report.random = map.iter().filter(|m| **m == RowSource::Random).count();
    (map, report)
}

/// Rows of `old` (`[V_old, ...]` or `[V_old]`) rearranged by `map`; random rows drawn
/// from N(0, std) with `seed` (zeros when `std` is 0, as for an output bias).
pub fn remap_rows(
    old: &Tensor,
    map: &[RowSource],
    std: f64,
    seed: u64,
) -> candle_core::Result<Tensor> {
    let dims = old.dims().to_vec();
    let row: usize = dims[1..].iter().product();
    let old_rows: Vec<f32> = old
        .flatten_all()?
        .to_dtype(candle_core::DType::F32)?
        .to_vec1()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0, std.max(f64::MIN_POSITIVE)).expect("finite std");
    let mut out = Vec::with_capacity(map.len() * row);
    for m in map {
        match m {
            RowSource::Copy(o) => out.extend_from_slice(&old_rows[o * row..(o + 1) * row]),
            RowSource::Mean(pieces) => {
                let at = out.len();
                out.resize(at + row, 0.0);
                for o in pieces {
                    for (x, y) in out[at..].iter_mut().zip(&old_rows[o * row..(o + 1) * row]) {
                        *x += y;
                    }
                }
                out[at..].iter_mut().for_each(|x| *x /= pieces.len() as f32);
            }
            RowSource::Random if std == 0.0 => out.extend(std::iter::repeat_n(0.0, row)),
            RowSource::Random => out.extend((0..row).map(|_| normal.sample(&mut rng) as f32)),
        }
    }
    let mut shape = dims;
    shape[0] = map.len();
    Tensor::from_vec(out, shape, &Device::Cpu)?
        .to_dtype(old.dtype())?
        .to_device(old.device())
}

#[cfg(test)]
mod tests {
    use super::*;
    use RowSource::{Copy, Random};

    fn v(tokens: &[&str]) -> Vec<String> {
        tokens.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn rules_by_hand() {
        // A BERT-like pretrained vocabulary: specials scattered, an [unused] slot.
        let old = v(&[
            "[PAD]",
            "[unused0]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "[MASK]",
            "the",
            "of",
            "and",
            "to",
        ]);
        let new = v(&[
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[RARE0]", "12", "and", "29", "7",
        ]);
        let (m, r) = row_map(&old, None, &new, None, AlignEmbeddings::Special, None);
        assert_eq!(
            m,
            [
                Copy(0),
                Copy(2),
                Copy(3),
                Copy(4),
                Copy(5),
                Random,
                Random,
                Random,
                Random,
                Random
            ]
        );
        assert_eq!(
            r,
            AlignReport {
                special: 5,
                shared: 0,
                pieces: 0,
                frequency: 0,
                random: 5
            }
        );
        let (m, r) = row_map(&old, None, &new, None, AlignEmbeddings::Shared, None);
        assert_eq!(m[7], Copy(8));
        assert_eq!((r.shared, r.random), (1, 4));
        // Frequency: new ordinary tokens in vocab order (12, and, 29, 7) take the rows of
        // the old ones in vocab order (the, of, and, to); [RARE0] stays random.
        let (m, r) = row_map(&old, None, &new, None, AlignEmbeddings::Frequency, None);
        assert_eq!(&m[5..], [Random, Copy(6), Copy(7), Copy(8), Copy(9)]);
        assert_eq!(
            r,
            AlignReport {
                special: 5,
                shared: 0,
                pieces: 0,
                frequency: 4,
                random: 1
            }
        );
        // With counts: "to" is the most frequent old word, "7" the most frequent new one.
        let old_counts = [0, 0, 0, 0, 0, 0, 50, 40, 30, 90];
        let new_counts = [0, 0, 0, 0, 0, 0, 5, 4, 3, 9];
        let (m, _) = row_map(
            &old,
            Some(&old_counts),
            &new,
            Some(&new_counts),
            AlignEmbeddings::Frequency,
            None,
        );
        assert_eq!(&m[6..], [Copy(6), Copy(7), Copy(8), Copy(9)]);
        let new_counts = [0, 0, 0, 0, 0, 0, 1, 4, 3, 9];
        let (m, _) = row_map(
            &old,
            Some(&old_counts),
            &new,
            Some(&new_counts),
            AlignEmbeddings::Frequency,
            None,
        );
        // new ranks: 7 (9), and (4), 29 (3), 12 (1); old ranks: to, the, of, and.
        assert_eq!(&m[6..], [Copy(8), Copy(6), Copy(7), Copy(9)]);
    }

    #[test]
    fn rows_are_copied_exactly_and_the_rest_is_random() {
        let old = Tensor::new(&[[0f32, 0.], [1., 1.], [2., 2.]], &Device::Cpu).unwrap();
        let map = [Copy(2), Random, Copy(0)];
        let new: Vec<Vec<f32>> = remap_rows(&old, &map, 0.02, 1).unwrap().to_vec2().unwrap();
        assert_eq!(new[0], [2.0, 2.0]);
        assert_eq!(new[2], [0.0, 0.0]);
        assert!(new[1].iter().all(|x| x.abs() < 0.2 && *x != 0.0));
        let bias = Tensor::new(&[5f32, 6., 7.], &Device::Cpu).unwrap();
        let b: Vec<f32> = remap_rows(&bias, &map, 0.0, 1).unwrap().to_vec1().unwrap();
        assert_eq!(b, [7.0, 0.0, 5.0]);
    }

    /// `shared` with a splitter: a token the checkpoint lacks takes the mean of its
    /// pieces' rows; one with an unknown piece, and bracketed tokens, stay random.
    #[test]
    fn unknown_words_take_the_mean_of_their_pieces() {
        let old = v(&[
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "play", "##ed", "x",
        ]);
        let new = v(&[
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[RARE0]", "x", "played", "zzz",
        ]);
        let split = |t: &str| match t {
            "played" => Some(vec![5, 6]),
            "[RARE0]" => Some(vec![7]),
            _ => None,
        };
        let (m, r) = row_map(
            &old,
            None,
            &new,
            None,
            AlignEmbeddings::Shared,
            Some(&split),
        );
        assert_eq!(
            &m[5..],
            [Random, Copy(7), RowSource::Mean(vec![5, 6]), Random]
        );
        assert_eq!((r.special, r.shared, r.pieces, r.random), (5, 1, 1, 2));
        // Other rules never average.
        let (_, r) = row_map(
            &old,
            None,
            &new,
            None,
            AlignEmbeddings::Special,
            Some(&split),
        );
        assert_eq!(r.pieces, 0);
        let emb = Tensor::new(&[[1f32, 2.], [3., 5.], [4., 8.]], &Device::Cpu).unwrap();
        let map = [RowSource::Mean(vec![1, 2]), Copy(0)];
        let rows: Vec<Vec<f32>> = remap_rows(&emb, &map, 0.02, 1).unwrap().to_vec2().unwrap();
        assert_eq!(rows, [[3.5, 6.5], [1.0, 2.0]]);
    }
}
