//! The features of a pair for `dapt stack`: each run's class-1 probability as a logit
//! (out-of-fold for training pairs, the run's fold ensemble for test pairs), then the
//! lexical features: the three word-overlap similarities, both lengths in words and
//! their difference.

use crate::data::overlap::{words, Overlap};

/// Names of the lexical features, in column order.
pub const LEXICAL: [&str; 6] = [
    "jaccard",
    "overlap",
    "edit",
    "words_a",
    "words_b",
    "words_diff",
];

/// The lexical features of `(a, b)`.
pub fn lexical(a: &str, b: &str) -> [f64; 6] {
    let (wa, wb) = (words(a), words(b));
    let o = Overlap::of(&wa, &wb);
    let (la, lb) = (wa.len() as f64, wb.len() as f64);
    [o.jaccard, o.overlap, o.edit, la, lb, (la - lb).abs()]
}

/// A probability as a logit, clipped to [1e-6, 1 - 1e-6] (linear models want the
/// log-odds scale; trees do not care).
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// The feature rows: `probs[run][pair]` as logits, then the lexical features of `texts`.
pub fn rows(probs: &[Vec<f64>], texts: &[(&str, &str)]) -> Vec<Vec<f64>> {
    texts
        .iter()
        .enumerate()
        .map(|(i, (a, b))| {
            probs
                .iter()
                .map(|p| logit(p[i]))
                .chain(lexical(a, b))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_by_hand() {
        // {a, b, c} vs {b, c, d, e}: jaccard 2/5, overlap 2/3, 3 edits over 4 words.
        assert_eq!(
            lexical("a b c", "b c d e"),
            [0.4, 2.0 / 3.0, 0.25, 3.0, 4.0, 1.0]
        );
        assert_eq!(logit(0.5), 0.0);
        assert!((logit(1.0) - (1e6f64 - 1.0).ln()).abs() < 1e-6);
    }
}
