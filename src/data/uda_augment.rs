//! The augmentations of UDA's consistency training (Xie et al. 2019,
//! <https://arxiv.org/abs/1904.12848>) that work on desensitized ids as on words (no
//! back-translation there). Words are whitespace-separated tokens of a text.
//!
//! - `tfidf`: the paper's word replacement. A word is replaced with probability
//!   proportional to `max_tfidf − tfidf(w)` over its text, scaled so that on average
//!   `replace_rate` of the words are replaced; informative (high TF-IDF) words are kept.
//!   The replacement is drawn from the corpus vocabulary with probability proportional
//!   to `max − corpus_tfidf(w)`, favouring uninformative words.
//! - `delete`: each word is dropped with probability `delete_rate` (one is always kept).
//! - `span-swap`: with probability `span_swap_rate`, two non-overlapping spans of one to
//!   three words swap places.
//! - `pair-swap`: with probability `pair_swap_rate`, the two texts swap sides.

use std::collections::HashMap;

use clap::ValueEnum;
use rand::Rng;
use serde::Serialize;

/// One augmentation rule (`--uda-augment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UdaRule {
    /// TF-IDF word replacement.
    Tfidf,
    /// Random word deletion.
    Delete,
    /// Two spans of a text swap places.
    SpanSwap,
    /// The two texts swap sides.
    PairSwap,
}

/// The rates of the rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UdaRates {
    /// Mean fraction of words `tfidf` replaces.
    pub replace: f64,
    /// Probability that `delete` drops a word.
    pub delete: f64,
    /// Probability that `span-swap` acts on a text.
    pub span_swap: f64,
    /// Probability that `pair-swap` swaps a pair.
    pub pair_swap: f64,
}

/// An augmenter fitted to a corpus of texts (for the TF-IDF statistics).
pub struct Augmenter {
    rules: Vec<UdaRule>,
    rates: UdaRates,
    idf: HashMap<String, f64>,
    /// Replacement words and the cumulative sums of their sampling weights.
    words: Vec<String>,
    cumulative: Vec<f64>,
}

/// Words of a text.
fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

impl Augmenter {
    /// Fit the TF-IDF statistics on `texts` (each one document).
    pub fn new(texts: &[&str], rules: &[UdaRule], rates: UdaRates) -> Augmenter {
        let mut df: HashMap<&str, usize> = HashMap::new();
        for t in texts {
            let mut seen: Vec<&str> = words(t);
            seen.sort_unstable();
            seen.dedup();
            for w in seen {
                *df.entry(w).or_default() += 1;
            }
        }
        let n = texts.len().max(1) as f64;
        let idf: HashMap<String, f64> = df
            .iter()
            .map(|(w, &d)| (w.to_string(), (n / d as f64).ln()))
            .collect();
        // Corpus TF-IDF: Σ over documents of (count / length) · idf.
        let mut corpus: HashMap<&str, f64> = HashMap::new();
        for t in texts {
            let ws = words(t);
            for w in &ws {
                *corpus.entry(w).or_default() += idf[*w] / ws.len() as f64;
            }
        }
        let mut items: Vec<(&str, f64)> = corpus.into_iter().collect();
        items.sort_by(|a, b| a.0.cmp(b.0));
        let max = items.iter().map(|x| x.1).fold(0.0, f64::max);
        let mut total = 0.0;
        let mut cumulative = Vec::with_capacity(items.len());
        for (_, v) in &items {
            total += max - v;
            cumulative.push(total);
        }
        Augmenter {
            rules: rules.to_vec(),
            rates,
            idf,
            words: items.into_iter().map(|(w, _)| w.to_string()).collect(),
            cumulative,
        }
    }

    /// The augmented copy of the pair `(a, b)`.
    pub fn augment(&self, a: &str, b: &str, rng: &mut impl Rng) -> (String, String) {
        let (mut a, mut b) = (words(a), words(b));
        for rule in &self.rules {
            match rule {
                UdaRule::Tfidf => {
                    a = self.replace(&a, rng);
                    b = self.replace(&b, rng);
                }
                UdaRule::Delete => {
                    a = delete(&a, self.rates.delete, rng);
                    b = delete(&b, self.rates.delete, rng);
                }
                UdaRule::SpanSwap => {
                    span_swap(&mut a, self.rates.span_swap, rng);
                    span_swap(&mut b, self.rates.span_swap, rng);
                }
                UdaRule::PairSwap => {
                    if rng.random_bool(self.rates.pair_swap) {
                        std::mem::swap(&mut a, &mut b);
                    }
                }
            }
        }
        (a.join(" "), b.join(" "))
    }

    /// Each word's replacement probability in `ws` (the paper's rule).
    pub fn replace_probs(&self, ws: &[&str]) -> Vec<f64> {
        let n = ws.len() as f64;
        let mut counts: HashMap<&str, f64> = HashMap::new();
        for w in ws {
            *counts.entry(w).or_default() += 1.0;
        }
        let tfidf: Vec<f64> = ws
            .iter()
            .map(|w| counts[w] / n * self.idf.get(*w).copied().unwrap_or(0.0))
            .collect();
        let max = tfidf.iter().copied().fold(f64::MIN, f64::max);
        let raw: Vec<f64> = tfidf.iter().map(|t| max - t).collect();
        let sum: f64 = raw.iter().sum();
        if sum <= 0.0 {
            // Every word equally informative: replace uniformly.
            return vec![self.rates.replace; ws.len()];
        }
        raw.iter()
            .map(|r| (r / sum * self.rates.replace * n).min(1.0))
            .collect()
    }

    /// `ws` with words replaced by the TF-IDF rule.
    fn replace<'s>(&'s self, ws: &[&'s str], rng: &mut impl Rng) -> Vec<&'s str> {
        let probs = self.replace_probs(ws);
        ws.iter()
            .zip(probs)
            .map(|(&w, p)| {
                if rng.random_bool(p) {
                    self.sample_word(rng).unwrap_or(w)
                } else {
                    w
                }
            })
            .collect()
    }

    /// A replacement word, `None` for an empty corpus.
    fn sample_word(&self, rng: &mut impl Rng) -> Option<&str> {
        let total = *self.cumulative.last()?;
        if total <= 0.0 {
            return None;
        }
        let x = rng.random_range(0.0..total);
        let i = self.cumulative.partition_point(|&c| c <= x);
        self.words.get(i).map(String::as_str)
    }
}

/// `ws` with each word dropped with probability `rate`, keeping at least one.
fn delete<'s>(ws: &[&'s str], rate: f64, rng: &mut impl Rng) -> Vec<&'s str> {
    let kept: Vec<&str> = ws
        .iter()
        .copied()
        .filter(|_| !rng.random_bool(rate))
        .collect();
    if kept.is_empty() && !ws.is_empty() {
        return vec![ws[rng.random_range(0..ws.len())]];
    }
    kept
}

/// With probability `rate`, swap two non-overlapping spans of `ws` of one length (1-3).
fn span_swap(ws: &mut [&str], rate: f64, rng: &mut impl Rng) {
    if ws.len() < 2 || !rng.random_bool(rate) {
        return;
    }
    let len = rng.random_range(1..=(ws.len() / 2).min(3));
    let i = rng.random_range(0..=ws.len() - 2 * len);
    let j = rng.random_range(i + len..=ws.len() - len);
    for d in 0..len {
        ws.swap(i + d, j + d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::{keyed_rng, Purpose};

    const RATES: UdaRates = UdaRates {
        replace: 0.2,
        delete: 0.1,
        span_swap: 1.0,
        pair_swap: 0.5,
    };

    fn corpus() -> Vec<String> {
        // Word "0" is in every text (idf 0), "k" in one text in ten, "u{i}" in one text.
        (0..200)
            .map(|i| format!("0 0 {} u{i} 0 {}", i % 10, i % 7))
            .collect()
    }

    #[test]
    fn idf_and_replacement_probabilities_by_hand() {
        let texts = corpus();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let aug = Augmenter::new(&refs, &[UdaRule::Tfidf], RATES);
        assert!((aug.idf["0"] - 0.0).abs() < 1e-12);
        assert!((aug.idf["u3"] - 200f64.ln()).abs() < 1e-12);
        // Text "0 0 3 u3 0 3" (i = 3): "0" has tf-idf 0, "u3" the most.
        let ws = words(&texts[3]);
        let p = aug.replace_probs(&ws);
        let mean: f64 = p.iter().sum::<f64>() / p.len() as f64;
        assert!(
            (mean - 0.2).abs() < 1e-12,
            "the mean replacement rate is replace_rate"
        );
        // The unique word carries the most information: never replaced.
        assert_eq!(p[3], 0.0);
        assert!(
            p[0] > p[2],
            "an uninformative word is replaced more often than a rarer one"
        );
    }

    #[test]
    fn measured_rates_match_the_flags() {
        let texts = corpus();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut rng = keyed_rng(7, 0, 0, Purpose::Uda);
        let tfidf = Augmenter::new(&refs, &[UdaRule::Tfidf], RATES);
        let (mut changed, mut total) = (0usize, 0usize);
        for t in &texts {
            let (a, _) = tfidf.augment(t, "x", &mut rng);
            changed += words(t)
                .iter()
                .zip(words(&a))
                .filter(|(x, y)| **x != *y)
                .count();
            total += words(t).len();
        }
        // Replacement by an equal word is possible (rare), so the changed share is at most
        // the rate; 1,200 words, sd of the rate about 0.012: 4 sd below 0.2 is 0.15.
        let rate = changed as f64 / total as f64;
        assert!((0.15..=0.21).contains(&rate), "replaced {rate}");
        let del = Augmenter::new(&refs, &[UdaRule::Delete], RATES);
        let kept: usize = texts
            .iter()
            .map(|t| words(&del.augment(t, "x", &mut rng).0).len())
            .sum();
        let rate = 1.0 - kept as f64 / total as f64;
        assert!((0.07..=0.13).contains(&rate), "deleted {rate}");
        let swap = Augmenter::new(&refs, &[UdaRule::PairSwap], RATES);
        let swapped = (0..1000)
            .filter(|_| swap.augment("a", "b", &mut rng).0 == "b")
            .count();
        assert!((440..=560).contains(&swapped), "swapped {swapped} of 1000");
    }

    #[test]
    fn span_swap_keeps_the_words() {
        let mut rng = keyed_rng(1, 0, 0, Purpose::Uda);
        let aug = Augmenter::new(&["a b c d e f"], &[UdaRule::SpanSwap], RATES);
        let mut moved = 0;
        for _ in 0..100 {
            let (a, _) = aug.augment("a b c d e f", "x", &mut rng);
            let mut sorted = words(&a);
            sorted.sort_unstable();
            assert_eq!(sorted, vec!["a", "b", "c", "d", "e", "f"]);
            moved += (a != "a b c d e f") as usize;
        }
        assert_eq!(moved, 100, "rate 1 swaps two distinct spans every time");
    }
}
