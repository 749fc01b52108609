//! Masking for MLM: which tokens are chosen (token, whole-word or n-gram strategy) and
//! what they are replaced with (the 80/10/10 rule).

use std::fmt;
use std::str::FromStr;

use rand::Rng;

use super::span::{select_spans, split_words, Span};
use super::special::SpecialTokens;
use crate::error::InputError;

/// How tokens are chosen for masking (`--mask token|wwm|ngram`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskStrategy {
    /// Each maskable token independently with `mask_prob` (BERT).
    #[default]
    Token,
    /// Whole words, all their tokens together (BERT whole-word masking).
    WholeWord,
    /// Spans of n consecutive whole words, n drawn from `ngram_probs` (as in MacBERT and
    /// the n-gram recipes used on desensitized short-text data).
    Ngram,
}

impl FromStr for MaskStrategy {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, InputError> {
        match s {
            "token" => Ok(MaskStrategy::Token),
            "wwm" => Ok(MaskStrategy::WholeWord),
            "ngram" => Ok(MaskStrategy::Ngram),
            _ => Err(InputError(format!(
                "mask: unknown strategy {s:?}; use token, wwm or ngram"
            ))),
        }
    }
}

impl fmt::Display for MaskStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MaskStrategy::Token => "token",
            MaskStrategy::WholeWord => "wwm",
            MaskStrategy::Ngram => "ngram",
        })
    }
}

/// Masking settings; the field names are those of the flags and the config file.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskConfig {
    /// Which tokens are chosen.
    pub strategy: MaskStrategy,
    /// Fraction of maskable tokens chosen (expected value; see [`Masker::choose`]).
    pub mask_prob: f64,
    /// Longest n-gram, in words (`ngram` strategy).
    pub ngram_max: usize,
    /// Probability of each span length n = 1..=`ngram_max` (`ngram` strategy).
    pub ngram_probs: Vec<f64>,
    /// Chosen tokens replaced by `[MASK]`.
    pub mask_token_prob: f64,
    /// Chosen tokens replaced by a random ordinary token; the rest stay unchanged.
    pub random_token_prob: f64,
    /// Tokens of a pair that also occur in the other text are chosen this many times as
    /// often as the others, the expected total unchanged (1: no preference). Makes the
    /// MLM copy across `[SEP]`: the matching a pair classifier needs.
    pub mask_shared_boost: f64,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            strategy: MaskStrategy::Token,
            mask_prob: 0.15,
            ngram_max: 3,
            ngram_probs: default_ngram_probs(3),
            mask_token_prob: 0.8,
            random_token_prob: 0.1,
            mask_shared_boost: 1.0,
        }
    }
}

/// Default span-length probabilities for `ngram_max`: 0.7/0.2/0.1 for 3 (the public
/// recipes on desensitized short-text data), otherwise proportional to 1/n (ALBERT).
pub fn default_ngram_probs(ngram_max: usize) -> Vec<f64> {
    if ngram_max == 3 {
        return vec![0.7, 0.2, 0.1];
    }
    let total: f64 = (1..=ngram_max).map(|n| 1.0 / n as f64).sum();
    (1..=ngram_max).map(|n| 1.0 / n as f64 / total).collect()
}

impl MaskConfig {
    /// Check the ranges: probabilities in [0, 1], `mask_prob` > 0, replacement rates
    /// summing to at most 1, `ngram_probs` of length `ngram_max` summing to 1.
    pub fn validate(&self) -> Result<(), InputError> {
        let bad = |what: String| Err(InputError(what));
        if !(self.mask_prob > 0.0 && self.mask_prob <= 1.0) {
            return bad(format!("mask_prob: {} must be in (0, 1]", self.mask_prob));
        }
        for (name, p) in [
            ("mask_token_prob", self.mask_token_prob),
            ("random_token_prob", self.random_token_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name}: {p} must be in [0, 1]"));
            }
        }
        if self.mask_token_prob + self.random_token_prob > 1.0 + 1e-9 {
            return bad(format!(
                "mask_token_prob + random_token_prob = {} exceeds 1",
                self.mask_token_prob + self.random_token_prob
            ));
        }
        if self.ngram_max == 0 || self.ngram_probs.len() != self.ngram_max {
            return bad(format!(
                "ngram_probs: {} values given but ngram_max is {}; give one probability per \
                 span length 1..={}",
                self.ngram_probs.len(),
                self.ngram_max,
                self.ngram_max
            ));
        }
        if !(self.mask_shared_boost > 0.0 && self.mask_shared_boost.is_finite()) {
            return bad(format!(
                "mask_shared_boost: {} must be a positive number (1: off; e.g. 3)",
                self.mask_shared_boost
            ));
        }
        let sum: f64 = self.ngram_probs.iter().sum();
        if self.ngram_probs.iter().any(|p| p.is_nan() || *p < 0.0) || (sum - 1.0).abs() > 1e-6 {
            return bad(format!(
                "ngram_probs: {:?} must be non-negative and sum to 1 (sum is {sum})",
                self.ngram_probs
            ));
        }
        Ok(())
    }
}

/// The tokens chosen in one sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Chosen positions, ascending.
    pub positions: Vec<usize>,
    /// The spans they came from (`wwm` and `ngram`; empty for `token`).
    pub spans: Vec<Span>,
}

/// Chooses and replaces tokens of one sequence at a time.
#[derive(Debug, Clone)]
pub struct Masker {
    cfg: MaskConfig,
    special: SpecialTokens,
}

impl Masker {
    /// The special-token layout it masks around.
    pub fn special(&self) -> SpecialTokens {
        self.special
    }

    /// A masker for a validated configuration.
    pub fn new(cfg: MaskConfig, special: SpecialTokens) -> Result<Self, InputError> {
        cfg.validate()?;
        Ok(Masker { cfg, special })
    }

    /// The configuration.
    pub fn config(&self) -> &MaskConfig {
        &self.cfg
    }

    /// Choose the tokens to predict. Special tokens (`[PAD] [UNK] [CLS] [SEP] [MASK]`)
    /// are never chosen; `word_start` must be false for `[CLS]`, `[SEP]` and padding.
    /// `shared` marks the tokens of a pair that also occur in the other text; with
    /// `mask_shared_boost` F ≠ 1 they weigh F, the others 1.
    ///
    /// Target count, with m the number of maskable tokens:
    /// - `token`: each maskable token independently with `mask_prob` (expected count
    ///   `mask_prob × m`, as BERT and Hugging Face's collator).
    /// - `wwm` and `ngram`: spans of whole words (one word for `wwm`) are added without
    ///   overlap until `mask_prob × m` tokens (not rounded) are covered; the span that
    ///   would cross that target is kept with the probability that makes the expected
    ///   count exactly `mask_prob × m`, so the count never exceeds the target by a whole
    ///   span. Rounding instead would mask 1 of 6 tokens (16.7%) of a short query at 15%.
    ///   See [`select_spans`] for the rule and why span lengths stay unbiased.
    ///
    /// With weights, `token` chooses token i with probability `min(1, c·wᵢ)`, c set so
    /// the expected count stays `mask_prob × m`; `wwm` and `ngram` draw span starts in
    /// proportion to their words' weight (a word weighs the mean of its tokens).
    pub fn choose<R: Rng + ?Sized>(
        &self,
        ids: &[u32],
        word_start: &[bool],
        shared: Option<&[bool]>,
        rng: &mut R,
    ) -> Selection {
        let boost = self.cfg.mask_shared_boost;
        let weights: Option<Vec<f64>> = shared
            .filter(|_| boost != 1.0)
            .map(|s| s.iter().map(|&x| if x { boost } else { 1.0 }).collect());
        match self.cfg.strategy {
            MaskStrategy::Token => {
                let maskable: Vec<usize> = (0..ids.len())
                    .filter(|&i| self.special.is_maskable(ids[i]))
                    .collect();
                let probs = match &weights {
                    Some(w) => {
                        let w: Vec<f64> = maskable.iter().map(|&i| w[i]).collect();
                        token_probs(&w, self.cfg.mask_prob * maskable.len() as f64)
                    }
                    None => vec![self.cfg.mask_prob; maskable.len()],
                };
                Selection {
                    positions: maskable
                        .into_iter()
                        .zip(probs)
                        .filter(|&(_, p)| rng.random::<f64>() < p)
                        .map(|(i, _)| i)
                        .collect(),
                    spans: Vec::new(),
                }
            }
            MaskStrategy::WholeWord => {
                self.choose_spans(ids, word_start, weights.as_deref(), &[1.0], rng)
            }
            MaskStrategy::Ngram => self.choose_spans(
                ids,
                word_start,
                weights.as_deref(),
                &self.cfg.ngram_probs,
                rng,
            ),
        }
    }

    fn choose_spans<R: Rng + ?Sized>(
        &self,
        ids: &[u32],
        word_start: &[bool],
        token_weights: Option<&[f64]>,
        ngram_probs: &[f64],
        rng: &mut R,
    ) -> Selection {
        let words = split_words(ids, word_start, &self.special);
        let maskable: usize = words.iter().map(|w| w.end - w.start).sum();
        let word_weights: Option<Vec<f64>> = token_weights.map(|tw| {
            words
                .iter()
                .map(|w| tw[w.start..w.end].iter().sum::<f64>() / (w.end - w.start) as f64)
                .collect()
        });
        let spans = select_spans(
            &words,
            word_weights.as_deref(),
            ngram_probs,
            self.cfg.mask_prob * maskable as f64,
            rng,
        );
        let mut positions: Vec<usize> = spans.iter().flat_map(|s| s.start..s.end).collect();
        positions.sort_unstable();
        Selection { positions, spans }
    }

    /// Replace the chosen tokens in place and write their original ids to `labels`
    /// (which the caller fills with -100): `[MASK]` with `mask_token_prob`, a random
    /// ordinary token with `random_token_prob`, unchanged otherwise.
    pub fn replace<R: Rng + ?Sized>(
        &self,
        ids: &mut [u32],
        labels: &mut [i64],
        positions: &[usize],
        rng: &mut R,
    ) {
        let to_mask = self.cfg.mask_token_prob;
        let to_random = to_mask + self.cfg.random_token_prob;
        for &p in positions {
            labels[p] = ids[p] as i64;
            let u = rng.random::<f64>();
            if u < to_mask {
                ids[p] = SpecialTokens::MASK;
            } else if u < to_random {
                ids[p] = self.special.random_ordinary(rng);
            }
        }
    }

    /// [`choose`](Self::choose) then [`replace`](Self::replace); returns the selection.
    pub fn mask<R: Rng + ?Sized>(
        &self,
        ids: &mut [u32],
        word_start: &[bool],
        shared: Option<&[bool]>,
        labels: &mut [i64],
        rng: &mut R,
    ) -> Selection {
        let selection = self.choose(ids, word_start, shared, rng);
        self.replace(ids, labels, &selection.positions, rng);
        selection
    }
}

/// Per-token probabilities `min(1, c·wᵢ)` summing to `target` (or all 1 when the target
/// is out of reach): c found by water-filling, fixing at 1 the tokens whose share would
/// exceed it and spreading the rest of the target over the others.
fn token_probs(weights: &[f64], target: f64) -> Vec<f64> {
    let mut fixed = vec![false; weights.len()];
    loop {
        let left = target - fixed.iter().filter(|&&f| f).count() as f64;
        let free: f64 = weights
            .iter()
            .zip(&fixed)
            .filter(|(_, &f)| !f)
            .map(|(w, _)| w)
            .sum();
        let c = if free > 0.0 {
            left.max(0.0) / free
        } else {
            0.0
        };
        let mut changed = false;
        for (w, f) in weights.iter().zip(fixed.iter_mut()) {
            if !*f && c * w > 1.0 {
                *f = true;
                changed = true;
            }
        }
        if !changed {
            return weights
                .iter()
                .zip(&fixed)
                .map(|(w, &f)| if f { 1.0 } else { c * w })
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{token_probs, MaskConfig};

    #[test]
    fn token_probs_by_hand() {
        // c = 0.6 / (3 + 1 + 1 + 1) = 0.1.
        let p = token_probs(&[3.0, 1.0, 1.0, 1.0], 0.6);
        let want = [0.3, 0.1, 0.1, 0.1];
        assert!(
            p.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12),
            "{p:?}"
        );
        // c = 1.5 / 12 would give the first 1.25: it is fixed at 1, the other 0.5 is
        // spread over weight 2.
        assert_eq!(token_probs(&[10.0, 1.0, 1.0], 1.5), [1.0, 0.25, 0.25]);
        // Out of reach: everything chosen.
        assert_eq!(token_probs(&[2.0, 1.0], 5.0), [1.0, 1.0]);
    }

    #[test]
    fn shared_boost_must_be_positive() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let cfg = MaskConfig {
                mask_shared_boost: bad,
                ..MaskConfig::default()
            };
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains("mask_shared_boost"), "{err}");
        }
    }
}
