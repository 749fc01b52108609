//! Synthetic short-text documents for the masking and collation tests: Zipf-distributed
//! ids, words of 1–3 tokens, texts of 6–20 tokens, a few [UNK] and rare placeholders.

#![allow(dead_code)]

use dapt::data::doc::MemDoc;
use dapt::data::special::SpecialTokens;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const VOCAB: usize = 20_000;
pub const RARE: usize = 10;

pub fn special() -> SpecialTokens {
    SpecialTokens::new(VOCAB, RARE).unwrap()
}

/// Draws documents; ids follow a Zipf law (s = 1.1) over the ordinary tokens.
pub struct Synth {
    rng: ChaCha8Rng,
    cdf: Vec<f64>,
}

impl Synth {
    pub fn new(seed: u64) -> Self {
        let first = 5 + RARE;
        let mut cdf = Vec::with_capacity(VOCAB - first);
        let mut acc = 0.0;
        for rank in 1..=(VOCAB - first) {
            acc += 1.0 / (rank as f64).powf(1.1);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Synth {
            rng: ChaCha8Rng::seed_from_u64(seed),
            cdf,
        }
    }

    fn token(&mut self) -> u32 {
        let u: f64 = self.rng.random();
        match u {
            u if u < 0.01 => SpecialTokens::UNK,
            u if u < 0.02 => 5 + self.rng.random_range(0..RARE as u32),
            _ => {
                let v: f64 = self.rng.random();
                (5 + RARE + self.cdf.partition_point(|&c| c < v).min(self.cdf.len() - 1)) as u32
            }
        }
    }

    /// One text of `len` tokens in words of 1–3 tokens (60/30/10).
    pub fn text(&mut self, len: usize) -> (Vec<u32>, Vec<bool>) {
        let (mut ids, mut ws) = (Vec::with_capacity(len), Vec::with_capacity(len));
        while ids.len() < len {
            let u: f64 = self.rng.random();
            let wlen = if u < 0.6 {
                1
            } else if u < 0.9 {
                2
            } else {
                3
            };
            for k in 0..wlen.min(len - ids.len()) {
                ids.push(self.token());
                ws.push(k == 0);
            }
        }
        (ids, ws)
    }

    /// A text of 6–20 tokens.
    pub fn single(&mut self) -> MemDoc {
        let len = self.rng.random_range(6..=20);
        let (ids, word_start) = self.text(len);
        MemDoc {
            ids,
            word_start,
            split: None,
        }
    }

    /// A pair of texts of 6–20 tokens each.
    pub fn pair(&mut self) -> MemDoc {
        let (la, lb) = (self.rng.random_range(6..=20), self.rng.random_range(6..=20));
        let (mut ids, mut word_start) = self.text(la);
        let (b, wb) = self.text(lb);
        ids.extend(b);
        word_start.extend(wb);
        MemDoc {
            ids,
            word_start,
            split: Some(la),
        }
    }

    /// `[CLS] a [SEP] b [SEP]` of a fresh pair, with its word starts (false on specials).
    pub fn sequence(&mut self) -> (Vec<u32>, Vec<bool>) {
        let d = self.pair();
        let k = d.split.unwrap();
        let mut ids = vec![SpecialTokens::CLS];
        let mut ws = vec![false];
        for range in [0..k, k..d.ids.len()] {
            ids.extend(&d.ids[range.clone()]);
            ws.extend(&d.word_start[range]);
            ids.push(SpecialTokens::SEP);
            ws.push(false);
        }
        (ids, ws)
    }
}
