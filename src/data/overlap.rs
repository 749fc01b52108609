//! Word-overlap baselines: how well counting shared words alone separates matching pairs
//! from the rest. A pair model is only worth training if it beats them, so `dapt eval` and
//! the fine-tuning CV report print their AUC next to the model's (and `dapt stack` uses
//! them as features).
//!
//! Words are split as BERT's basic tokenizer does, independently of any model's
//! vocabulary, so the baselines of a file are the same for every run on it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{
    NormalizedString, Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer,
};

use crate::metrics::auc;

/// The words of `text`: lowercased, accents stripped, control characters dropped, split
/// on whitespace and punctuation (each punctuation mark a word), every CJK character a
/// word of its own.
pub fn words(text: &str) -> Vec<String> {
    let mut normalized = NormalizedString::from(text);
    let mut split = || -> tokenizers::Result<Vec<String>> {
        BertNormalizer::new(true, true, None, true).normalize(&mut normalized)?;
        let mut pre = PreTokenizedString::from(normalized.clone());
        BertPreTokenizer.pre_tokenize(&mut pre)?;
        Ok(pre
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .map(|(w, _, _)| w.to_string())
            .collect())
    };
    // Neither step can fail on a `&str` (they only transform valid UTF-8); whitespace
    // splitting is the fallback that keeps the function total.
    split().unwrap_or_else(|_| text.split_whitespace().map(str::to_lowercase).collect())
}

/// The word-overlap similarities of one pair (1 = the same words), or, from
/// [`baseline_aucs`], each measure's AUC.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    /// Jaccard index of the two word sets: |A ∩ B| / |A ∪ B|.
    pub jaccard: f64,
    /// Overlap (Szymkiewicz–Simpson) coefficient: |A ∩ B| / min(|A|, |B|).
    pub overlap: f64,
    /// One minus the word-level Levenshtein distance over the longer text's length.
    pub edit: f64,
}

impl Overlap {
    /// The three similarities of two word sequences (0 where a text has no words).
    pub fn of(a: &[String], b: &[String]) -> Self {
        let (sa, sb): (HashSet<&str>, HashSet<&str>) = (
            a.iter().map(String::as_str).collect(),
            b.iter().map(String::as_str).collect(),
        );
        let shared = sa.intersection(&sb).count() as f64;
        let ratio = |d: usize| if d == 0 { 0.0 } else { shared / d as f64 };
        let longer = a.len().max(b.len());
        Self {
            jaccard: ratio(sa.union(&sb).count()),
            overlap: ratio(sa.len().min(sb.len())),
            edit: if longer == 0 {
                0.0
            } else {
                1.0 - levenshtein(a, b) as f64 / longer as f64
            },
        }
    }

    /// The similarities of two texts, split by [`words`].
    pub fn of_texts(a: &str, b: &str) -> Self {
        Self::of(&words(a), &words(b))
    }

    /// `(name, value)` of each measure, in a fixed order.
    pub fn named(&self) -> [(&'static str, f64); 3] {
        [
            ("jaccard", self.jaccard),
            ("overlap", self.overlap),
            ("edit", self.edit),
        ]
    }
}

/// Edit distance between two word sequences (insertions, deletions, substitutions).
fn levenshtein(a: &[String], b: &[String]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, wa) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, wb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(wa != wb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Each measure's ROC AUC as a score for class 1, over the pairs `which` selects; `None`
/// unless the labels are binary with both classes present.
pub fn baseline_aucs(
    scores: &[Overlap],
    labels: &[usize],
    which: impl Fn(usize) -> bool,
) -> Option<Overlap> {
    if labels.iter().any(|&l| l > 1) {
        return None;
    }
    let picked: Vec<usize> = (0..labels.len()).filter(|&i| which(i)).collect();
    let positive: Vec<bool> = picked.iter().map(|&i| labels[i] == 1).collect();
    let of = |f: fn(&Overlap) -> f64| {
        let s: Vec<f64> = picked.iter().map(|&i| f(&scores[i])).collect();
        auc(&s, &positive)
    };
    Some(Overlap {
        jaccard: of(|o| o.jaccard)?,
        overlap: of(|o| o.overlap)?,
        edit: of(|o| o.edit)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        words(s)
    }

    #[test]
    fn words_as_bert_basic_tokenizer() {
        assert_eq!(w("Héllo, World!"), ["hello", ",", "world", "!"]);
        assert_eq!(w("我想 买book"), ["我", "想", "买", "book"]);
        assert_eq!(w("12 7  345"), ["12", "7", "345"]);
    }

    #[test]
    fn measures_by_hand() {
        // A = {a, b, c}, B = {b, c, d, e}: 2 shared, union 5, smaller set 3.
        // Sequences a b c -> b c d e: delete a, insert d, insert e = 3 edits, longer 4.
        let o = Overlap::of(&w("a b c"), &w("b c d e"));
        assert_eq!(o.jaccard, 2.0 / 5.0);
        assert_eq!(o.overlap, 2.0 / 3.0);
        assert_eq!(o.edit, 1.0 - 3.0 / 4.0);
        // Repeated words count once in the sets but in full in the sequence.
        let o = Overlap::of(&w("x x y"), &w("x y"));
        assert_eq!((o.jaccard, o.overlap), (1.0, 1.0));
        assert_eq!(o.edit, 1.0 - 1.0 / 3.0);
        let empty = Overlap::of(&[], &w("x"));
        assert_eq!((empty.jaccard, empty.overlap, empty.edit), (0.0, 0.0, 0.0));
    }

    #[test]
    fn aucs_need_two_classes() {
        let s = [
            Overlap::of_texts("a b", "a b"),
            Overlap::of_texts("a b", "c d"),
        ];
        let a = baseline_aucs(&s, &[1, 0], |_| true).unwrap();
        assert_eq!((a.jaccard, a.overlap, a.edit), (1.0, 1.0, 1.0));
        assert!(baseline_aucs(&s, &[1, 0], |i| i == 0).is_none());
        assert!(baseline_aucs(&s, &[2, 0], |_| true).is_none());
    }
}
