//! Choosing spans of whole words to mask, up to a token budget (whole-word and n-gram
//! masking).

use rand::Rng;

use super::special::SpecialTokens;

/// A word: the token positions `start..end` of one sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word {
    /// First token.
    pub start: usize,
    /// One past the last token.
    pub end: usize,
}

/// A chosen span: `words` consecutive whole words covering tokens `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First token.
    pub start: usize,
    /// One past the last token.
    pub end: usize,
    /// Number of words (the n of the n-gram).
    pub words: usize,
}

/// Split a sequence into the words that masking may choose.
///
/// A word starts at a maskable token whose word-start bit is set and runs over the
/// following maskable tokens whose bit is clear (WordPiece continuations). A special
/// token ends the current word and is in no word; a maskable token with a clear bit that
/// follows a special token (a word cut by truncation) starts a word of its own.
pub fn split_words(ids: &[u32], word_start: &[bool], special: &SpecialTokens) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    let mut open = false;
    for (i, (&id, &ws)) in ids.iter().zip(word_start).enumerate() {
        if !special.is_maskable(id) {
            open = false;
            continue;
        }
        if ws || !open {
            words.push(Word {
                start: i,
                end: i + 1,
            });
            open = true;
        } else if let Some(w) = words.last_mut() {
            w.end = i + 1;
        }
    }
    words
}

/// Choose non-overlapping spans of whole consecutive words until about `target` tokens
/// are covered; span lengths n = 1..=`ngram_probs.len()` words are drawn with
/// probabilities `ngram_probs` (whole-word masking is `ngram_probs = [1.0]`).
///
/// Spans never cross a special token (e.g. `[SEP]`) and never overlap. Each span is
/// drawn by first drawing n, then a start among the places where n free consecutive
/// words fit: uniformly, or, with `weights` (one per word), with probability
/// proportional to the mean weight of the span's words; an n that fits nowhere any more
/// is left out and the others renormalised.
///
/// Stopping rule. With `r = target - covered > 0` tokens left, another span is drawn
/// with probability `r / E[max(L, r)]`, where `L` is the token length of the span about
/// to be drawn (its expectation over n and the possible starts). That probability is 1
/// while every possible span fits in `r`, so spans are added until the target is
/// reached, and only the last span may cross it: the result never exceeds `target` by a
/// whole span. By induction on `r` the expected number of covered tokens is exactly
/// `target` (as long as free words remain), so short sequences are not biased upwards as
/// they would be by always finishing the last span. Because the decision is taken before
/// n is drawn, the realised span lengths follow `ngram_probs`. (With `weights` the
/// expectation of `max(L, r)` is taken under the weighted choice of start, so the
/// argument holds unchanged.)
pub fn select_spans<R: Rng + ?Sized>(
    words: &[Word],
    weights: Option<&[f64]>,
    ngram_probs: &[f64],
    target: f64,
    rng: &mut R,
) -> Vec<Span> {
    let span_weight = |w: usize, n: usize| match weights {
        Some(ws) => ws[w..w + n].iter().sum::<f64>() / n as f64,
        None => 1.0,
    };
    let nmax = ngram_probs.len();
    let mut free = vec![true; words.len()];
    // run[w]: number of free, adjacent words starting at w (adjacent = no token between).
    let mut run = vec![0usize; words.len()];
    let mut count = vec![0usize; nmax];
    // Total start weight and weighted sum of max(L, r) per n.
    let mut total = vec![0.0f64; nmax];
    let mut sum_max = vec![0.0f64; nmax];
    let mut spans = Vec::new();
    let mut covered = 0usize;
    loop {
        let r = target - covered as f64;
        if r <= 0.0 {
            break;
        }
        for w in (0..words.len()).rev() {
            run[w] = if !free[w] {
                0
            } else if w + 1 < words.len() && words[w].end == words[w + 1].start {
                run[w + 1] + 1
            } else {
                1
            };
        }
        count.fill(0);
        total.fill(0.0);
        sum_max.fill(0.0);
        for (w, &k) in run.iter().enumerate() {
            for n in 1..=k.min(nmax) {
                if ngram_probs[n - 1] > 0.0 {
                    let len = words[w + n - 1].end - words[w].start;
                    let weight = span_weight(w, n);
                    count[n - 1] += 1;
                    total[n - 1] += weight;
                    sum_max[n - 1] += weight * (len as f64).max(r);
                }
            }
        }
        let z: f64 = (0..nmax)
            .filter(|&i| count[i] > 0)
            .map(|i| ngram_probs[i])
            .sum();
        if z <= 0.0 {
            break;
        }
        let expected_max: f64 = (0..nmax)
            .filter(|&i| count[i] > 0)
            .map(|i| ngram_probs[i] / z * sum_max[i] / total[i])
            .sum();
        if rng.random::<f64>() * expected_max >= r {
            break;
        }
        let n = draw_n(ngram_probs, &count, z, rng);
        let mut starts = run
            .iter()
            .enumerate()
            .filter(|&(_, &k)| k >= n)
            .map(|(w, _)| w);
        let w = match weights {
            None => starts.nth(rng.random_range(0..count[n - 1])),
            Some(_) => {
                let mut u = rng.random::<f64>() * total[n - 1];
                let mut last = None;
                starts
                    .find(|&w| {
                        last = Some(w);
                        u -= span_weight(w, n);
                        u < 0.0
                    })
                    .or(last)
            }
        }
        .expect("a valid start exists");
        free[w..w + n].fill(false);
        let span = Span {
            start: words[w].start,
            end: words[w + n - 1].end,
            words: n,
        };
        covered += span.end - span.start;
        spans.push(span);
    }
    spans
}

/// Draw n (1-based) with probability `ngram_probs[n-1] / z` among the n with a place left.
fn draw_n<R: Rng + ?Sized>(ngram_probs: &[f64], count: &[usize], z: f64, rng: &mut R) -> usize {
    let mut u = rng.random::<f64>() * z;
    let mut last = 0;
    for (i, &p) in ngram_probs.iter().enumerate() {
        if count[i] == 0 || p <= 0.0 {
            continue;
        }
        last = i + 1;
        if u < p {
            return i + 1;
        }
        u -= p;
    }
    // Rounding left u just above the total: the last available n.
    last
}
