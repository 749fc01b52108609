//! Embedding alignment for a new vocabulary (`--init-from DIR --align-embeddings`).
//!
//! A pretrained checkpoint meets a vocabulary built from the user's corpus. Rows of the
//! word-embedding matrix (and of the MLM output bias) are carried over by rule:
//! - `special`: `[PAD] [UNK] [CLS] [SEP] [MASK]`, matched by string;
//! - `shared`: those and every token present in both vocabularies;
//! - `frequency`: those, then the i-th most frequent ordinary token of the new
//!   vocabulary takes the row of the i-th most frequent ordinary token of the pretrained
//!   one — the trick used on desensitized corpora, whose ids mean nothing to the
//!   pretrained model but whose frequency profile matches natural text.
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
    /// Only the five BERT special tokens.
    Special,
    /// Special tokens and every token in both vocabularies.
    Shared,
    /// Special tokens, then ordinary tokens matched by frequency rank.
    Frequency,
}

/// How many rows each rule filled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AlignReport {
    /// Rows copied for special tokens.
    pub special: usize,
    /// Rows copied for tokens in both vocabularies.
    pub shared: usize,
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

/// For each token of `new`, the row of `old` it inherits (`None`: random).
pub fn row_map(
    old: &[String],
    old_counts: Option<&[u64]>,
    new: &[String],
    new_counts: Option<&[u64]>,
    rule: AlignEmbeddings,
) -> (Vec<Option<usize>>, AlignReport) {
    let old_index: std::collections::HashMap<&str, usize> = old
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut map = vec![None; new.len()];
    let mut report = AlignReport::default();
    for (i, t) in new.iter().enumerate() {
        if SPECIAL_TOKENS.contains(&t.as_str()) {
            map[i] = old_index.get(t.as_str()).copied();
            report.special += map[i].is_some() as usize;
        } else if rule == AlignEmbeddings::Shared {
            map[i] = old_index.get(t.as_str()).copied();
            report.shared += map[i].is_some() as usize;
        }
    }
    if rule == AlignEmbeddings::Frequency {
        let ranked_old = by_frequency(old, old_counts);
        for (n, o) in by_frequency(new, new_counts).into_iter().zip(ranked_old) {
            map[n] = Some(o);
            report.frequency += 1;
        }
    }
    report.random = map.iter().filter(|m| m.is_none()).count();
    (map, report)
}

/// Rows of `old` (`[V_old, ...]` or `[V_old]`) rearranged by `map`; unmapped rows drawn
/// from N(0, std) with `seed` (zeros when `std` is 0, as for an output bias).
pub fn remap_rows(
    old: &Tensor,
    map: &[Option<usize>],
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
            Some(o) => out.extend_from_slice(&old_rows[o * row..(o + 1) * row]),
            None if std == 0.0 => out.extend(std::iter::repeat_n(0.0, row)),
            None => out.extend((0..row).map(|_| normal.sample(&mut rng) as f32)),
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
        let (m, r) = row_map(&old, None, &new, None, AlignEmbeddings::Special);
        assert_eq!(
            m,
            [
                Some(0),
                Some(2),
                Some(3),
                Some(4),
                Some(5),
                None,
                None,
                None,
                None,
                None
            ]
        );
        assert_eq!(
            r,
            AlignReport {
                special: 5,
                shared: 0,
                frequency: 0,
                random: 5
            }
        );
        let (m, r) = row_map(&old, None, &new, None, AlignEmbeddings::Shared);
        assert_eq!(m[7], Some(8));
        assert_eq!((r.shared, r.random), (1, 4));
        // Frequency: new ordinary tokens in vocab order (12, and, 29, 7) take the rows of
        // the old ones in vocab order (the, of, and, to); [RARE0] stays random.
        let (m, r) = row_map(&old, None, &new, None, AlignEmbeddings::Frequency);
        assert_eq!(&m[5..], [None, Some(6), Some(7), Some(8), Some(9)]);
        assert_eq!(
            r,
            AlignReport {
                special: 5,
                shared: 0,
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
        );
        assert_eq!(&m[6..], [Some(6), Some(7), Some(8), Some(9)]);
        let new_counts = [0, 0, 0, 0, 0, 0, 1, 4, 3, 9];
        let (m, _) = row_map(
            &old,
            Some(&old_counts),
            &new,
            Some(&new_counts),
            AlignEmbeddings::Frequency,
        );
        // new ranks: 7 (9), and (4), 29 (3), 12 (1); old ranks: to, the, of, and.
        assert_eq!(&m[6..], [Some(8), Some(6), Some(7), Some(9)]);
    }

    #[test]
    fn rows_are_copied_exactly_and_the_rest_is_random() {
        let old = Tensor::new(&[[0f32, 0.], [1., 1.], [2., 2.]], &Device::Cpu).unwrap();
        let map = [Some(2), None, Some(0)];
        let new: Vec<Vec<f32>> = remap_rows(&old, &map, 0.02, 1).unwrap().to_vec2().unwrap();
        assert_eq!(new[0], [2.0, 2.0]);
        assert_eq!(new[2], [0.0, 0.0]);
        assert!(new[1].iter().all(|x| x.abs() < 0.2 && *x != 0.0));
        let bias = Tensor::new(&[5f32, 6., 7.], &Device::Cpu).unwrap();
        let b: Vec<f32> = remap_rows(&bias, &map, 0.0, 1).unwrap().to_vec1().unwrap();
        assert_eq!(b, [7.0, 0.0, 5.0]);
    }
}
