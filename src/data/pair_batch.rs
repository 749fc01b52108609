//! Sentence pairs as classifier input: `[CLS] a [SEP] b [SEP]` token ids with token types,
//! truncated longest-first to a maximum length, and padded batches of them.

use anyhow::Result;
use candle_core::{Device, Tensor};

use crate::data::collate::{longest_first, MIN_MAX_LEN};
use crate::data::matching::match_flags;
use crate::text::encode::{EncodedDoc, TextEncoder};
use crate::text::vocab::Vocab;

/// One encoded pair, ready to batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPair {
    /// `[CLS] a [SEP] b [SEP]`.
    pub ids: Vec<u32>,
    /// 0 for `[CLS] a [SEP]`, 1 for `b [SEP]`.
    pub types: Vec<u32>,
    /// The exact-match flags ([`match_flags`]; `[UNK]` never matches).
    pub matches: Vec<u32>,
}

/// Counts over everything a [`PairEncoder`] encoded, for the vocabulary check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeStats {
    /// Text tokens (special tokens not counted), before truncation.
    pub tokens: u64,
    /// Of those, `[UNK]` or a rare placeholder: words the vocabulary does not know.
    pub unknown: u64,
    /// Pairs that had to be truncated.
    pub truncated: u64,
}

impl EncodeStats {
    /// Fraction of tokens unknown to the vocabulary.
    pub fn unknown_rate(&self) -> f64 {
        self.unknown as f64 / self.tokens.max(1) as f64
    }
}

/// Encodes text pairs with a vocabulary's tokenizer (word-level fast path or WordPiece,
/// rare placeholders numbered per pair as in `dapt encode --pairs-as pair`).
pub struct PairEncoder<'v> {
    vocab: &'v Vocab,
    text: TextEncoder<'v>,
    max_len: usize,
}

impl<'v> PairEncoder<'v> {
    /// An encoder making sequences of at most `max_len` tokens, special tokens included.
    pub fn new(vocab: &'v Vocab, max_len: usize) -> Result<Self> {
        if max_len < MIN_MAX_LEN {
            crate::bad_input!(
                "--max-len {max_len}: need at least {MIN_MAX_LEN} ([CLS] a [SEP] b [SEP])"
            );
        }
        Ok(Self {
            vocab,
            text: TextEncoder::new(vocab, None)?,
            max_len,
        })
    }

    /// The vocabulary in use.
    pub fn vocab(&self) -> &Vocab {
        self.vocab
    }

    /// Encode `(a, b)`, adding to `stats`.
    pub fn encode(&self, a: &str, b: &str, stats: &mut EncodeStats) -> Result<EncodedPair> {
        let mut doc = EncodedDoc::default();
        self.text.encode(&[a, b], &mut doc)?;
        let (la, lb) = (doc.lens[0], doc.lens[1]);
        let sp = self.vocab.special;
        stats.tokens += (la + lb) as u64;
        stats.unknown += doc
            .ids
            .iter()
            .filter(|&&id| id == sp.unk || self.vocab.rare.contains(&id))
            .count() as u64;
        let (ka, kb) = longest_first(la, lb, self.max_len - 3);
        stats.truncated += u64::from(ka + kb < la + lb);
        let mut ids = Vec::with_capacity(ka + kb + 3);
        ids.push(sp.cls);
        ids.extend_from_slice(&doc.ids[..ka]);
        ids.push(sp.sep);
        ids.extend_from_slice(&doc.ids[la..la + kb]);
        ids.push(sp.sep);
        let mut types = vec![0; ka + 2];
        types.resize(ka + kb + 3, 1);
        let is_text = |id: u32| ![sp.pad, sp.unk, sp.cls, sp.sep, sp.mask].contains(&id);
        let matches = match_flags(&ids, &types, is_text);
        Ok(EncodedPair {
            ids,
            types,
            matches,
        })
    }
}

/// A padded batch as tensors `[batch, longest]` (u32): ids, token types, attention mask
/// and, for models with the exact-match feature, the match flags.
pub struct PairTensors {
    /// Token ids, `[PAD]` after each sequence.
    pub ids: Tensor,
    /// Token types, 0 on padding.
    pub types: Tensor,
    /// 1 on tokens, 0 on padding.
    pub mask: Tensor,
    /// Exact-match flags, 0 on padding (`None` unless asked for).
    pub matches: Option<Tensor>,
}

/// Pad `pairs` to the longest of them with `pad_id` and move them to `device`; with
/// `matches`, the exact-match flags too.
pub fn pad_batch(
    pairs: &[&EncodedPair],
    pad_id: u32,
    matches: bool,
    device: &Device,
) -> Result<PairTensors> {
    let seq = pairs.iter().map(|p| p.ids.len()).max().unwrap_or(0);
    let n = pairs.len();
    let mut ids = vec![pad_id; n * seq];
    let mut types = vec![0u32; n * seq];
    let mut mask = vec![0u32; n * seq];
    let mut flags = vec![0u32; if matches { n * seq } else { 0 }];
    for (row, p) in pairs.iter().enumerate() {
        let at = row * seq;
        ids[at..at + p.ids.len()].copy_from_slice(&p.ids);
        types[at..at + p.types.len()].copy_from_slice(&p.types);
        mask[at..at + p.ids.len()].fill(1);
        if matches {
            flags[at..at + p.matches.len()].copy_from_slice(&p.matches);
        }
    }
    Ok(PairTensors {
        ids: Tensor::from_vec(ids, (n, seq), device)?,
        types: Tensor::from_vec(types, (n, seq), device)?,
        mask: Tensor::from_vec(mask, (n, seq), device)?,
        matches: matches
            .then(|| Tensor::from_vec(flags, (n, seq), device))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::vocab::{write_files, TokenizerKind, VocabMeta};

    fn vocab(dir: &std::path::Path) -> Vocab {
        let tokens: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[RARE0]"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..10).map(|i| format!("w{i}")))
            .collect();
        let meta = VocabMeta {
            tokenizer: TokenizerKind::Wordlevel,
            lowercase: false,
            rare_placeholders: 1,
            min_count: 1,
            max_size: None,
        };
        write_files(dir, &tokens, &[], &meta).unwrap();
        Vocab::load(dir).unwrap()
    }

    #[test]
    fn pair_layout_truncation_and_unknowns() {
        let dir = tempfile::tempdir().unwrap();
        let v = vocab(dir.path());
        let enc = PairEncoder::new(&v, 8).unwrap();
        let mut stats = EncodeStats::default();
        // 4 + 2 text tokens, budget 5: the longer text keeps 5 - 2 = 3.
        let p = enc.encode("w1 w2 zz w4", "w5 zz", &mut stats).unwrap();
        assert_eq!(p.ids, [2, 7, 8, 5, 3, 11, 5, 3]);
        assert_eq!(p.types, [0, 0, 0, 0, 0, 1, 1, 1]);
        assert_eq!(
            stats,
            EncodeStats {
                tokens: 6,
                unknown: 2,
                truncated: 1
            }
        );
        let short = enc.encode("w1", "w2", &mut stats).unwrap();
        // w5 (id 11) is not in the first text; [RARE0] (5) is in both, as the same word.
        assert_eq!(p.matches, [0, 0, 0, 1, 0, 0, 1, 0]);
        let t = pad_batch(&[&p, &short], 0, true, &Device::Cpu).unwrap();
        let flags: Vec<Vec<u32>> = t.matches.unwrap().to_vec2().unwrap();
        assert_eq!(flags[0], p.matches);
        assert_eq!(flags[1], [0; 8]);
        let ids: Vec<Vec<u32>> = t.ids.to_vec2().unwrap();
        assert_eq!(ids[1], [2, 7, 3, 8, 3, 0, 0, 0]);
        let mask: Vec<Vec<u32>> = t.mask.to_vec2().unwrap();
        assert_eq!(mask[1], [1, 1, 1, 1, 1, 0, 0, 0]);
        assert!(PairEncoder::new(&v, 4).is_err());
    }
}
