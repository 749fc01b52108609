//! Statistical tests of masking with fixed seeds over >= 200k maskable tokens: masked
//! fraction within 0.5 pp of `mask_prob`, the 80/10/10 split within 1 pp, span lengths
//! within 1 pp of `ngram_probs`. Tolerances are 3–5 binomial standard deviations at
//! these sample sizes, so a correct implementation passes for any seed.

mod masking_synth;

use dapt::data::mask::{MaskConfig, MaskStrategy, Masker};
use dapt::data::special::SpecialTokens;
use masking_synth::{special, Synth, RARE, VOCAB};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Default)]
struct Tally {
    maskable: usize,
    chosen: usize,
    to_mask: usize,
    to_random: usize,
    unchanged: usize,
    random_ids: Vec<u32>,
    span_words: Vec<usize>,
}

impl Tally {
    fn fraction(&self) -> f64 {
        self.chosen as f64 / self.maskable as f64
    }
    fn split(&self) -> (f64, f64, f64) {
        let c = self.chosen as f64;
        (
            self.to_mask as f64 / c,
            self.to_random as f64 / c,
            self.unchanged as f64 / c,
        )
    }
    fn span_hist(&self, nmax: usize) -> Vec<f64> {
        let mut h = vec![0.0; nmax];
        for &n in &self.span_words {
            h[n - 1] += 1.0;
        }
        h.iter().map(|c| c / self.span_words.len() as f64).collect()
    }
}

/// Mask `seqs` sequences drawn by `draw` until at least `min_tokens` maskable tokens.
fn run(
    cfg: MaskConfig,
    min_tokens: usize,
    seed: u64,
    mut draw: impl FnMut(&mut Synth) -> (Vec<u32>, Vec<bool>),
) -> Tally {
    let masker = Masker::new(cfg, special()).unwrap();
    let mut synth = Synth::new(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut t = Tally::default();
    while t.maskable < min_tokens {
        let (orig, ws) = draw(&mut synth);
        let mut ids = orig.clone();
        let mut labels = vec![-100i64; ids.len()];
        let sel = masker.mask(&mut ids, &ws, None, &mut labels, &mut rng);
        t.maskable += orig.iter().filter(|&&id| id >= 5).count();
        t.chosen += labels.iter().filter(|&&l| l != -100).count();
        for (i, &l) in labels.iter().enumerate() {
            if l == -100 {
                continue;
            }
            if ids[i] == SpecialTokens::MASK {
                t.to_mask += 1;
            } else if ids[i] == orig[i] {
                t.unchanged += 1;
            } else {
                t.to_random += 1;
                t.random_ids.push(ids[i]);
            }
        }
        t.span_words.extend(sel.spans.iter().map(|s| s.words));
    }
    t
}

fn cfg(strategy: MaskStrategy, mask_prob: f64) -> MaskConfig {
    MaskConfig {
        strategy,
        mask_prob,
        ..MaskConfig::default()
    }
}

fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    println!("{what}: {:.4} (want {want:.4} ± {tol})", got);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:.5}, want {want} ± {tol}"
    );
}

#[test]
fn masked_fraction_matches_mask_prob_for_every_strategy() {
    for strategy in [
        MaskStrategy::Token,
        MaskStrategy::WholeWord,
        MaskStrategy::Ngram,
    ] {
        for (k, p) in [0.15, 0.3].into_iter().enumerate() {
            let t = run(cfg(strategy, p), 200_000, 11 + k as u64, |s| s.sequence());
            assert_close(
                &format!("{strategy} p={p} masked fraction"),
                t.fraction(),
                p,
                0.005,
            );
        }
    }
}

/// Six-token texts: rounding the target would mask round(0.9) = 1 token, 16.7%, and
/// always finishing the last word even more; the expected count must stay 15%.
#[test]
fn short_texts_are_not_biased_upwards() {
    for strategy in [MaskStrategy::WholeWord, MaskStrategy::Ngram] {
        let t = run(cfg(strategy, 0.15), 200_000, 5, |s| {
            let (mut ids, mut ws) = s.text(6);
            ids.insert(0, SpecialTokens::CLS);
            ws.insert(0, false);
            ids.push(SpecialTokens::SEP);
            ws.push(false);
            (ids, ws)
        });
        assert_close(
            &format!("{strategy} 6-token texts masked fraction"),
            t.fraction(),
            0.15,
            0.005,
        );
    }
}

#[test]
fn replacement_split_is_80_10_10_and_configurable() {
    for strategy in [MaskStrategy::Token, MaskStrategy::Ngram] {
        let t = run(cfg(strategy, 0.15), 1_000_000, 21, |s| s.sequence());
        let (m, r, u) = t.split();
        assert_close(&format!("{strategy} [MASK] share"), m, 0.8, 0.01);
        assert_close(&format!("{strategy} random share"), r, 0.1, 0.01);
        assert_close(&format!("{strategy} unchanged share"), u, 0.1, 0.01);
    }
    let custom = MaskConfig {
        mask_token_prob: 0.5,
        random_token_prob: 0.3,
        ..cfg(MaskStrategy::WholeWord, 0.15)
    };
    let t = run(custom, 1_000_000, 22, |s| s.sequence());
    let (m, r, u) = t.split();
    assert_close("50/30/20 [MASK] share", m, 0.5, 0.01);
    assert_close("50/30/20 random share", r, 0.3, 0.01);
    assert_close("50/30/20 unchanged share", u, 0.2, 0.01);
}

/// Random replacements are uniform over the ordinary ids [5 + RARE, VOCAB): never a
/// special id or rare placeholder, mean at the middle of the range (the Zipf-distributed
/// originals have a far smaller mean).
#[test]
fn random_replacements_are_uniform_ordinary_tokens() {
    let t = run(cfg(MaskStrategy::Token, 0.15), 1_000_000, 31, |s| {
        s.sequence()
    });
    let lo = (5 + RARE) as u32;
    assert!(t
        .random_ids
        .iter()
        .all(|&id| (lo..VOCAB as u32).contains(&id)));
    let mean = t.random_ids.iter().map(|&id| id as f64).sum::<f64>() / t.random_ids.len() as f64;
    let want = (lo as f64 + VOCAB as f64 - 1.0) / 2.0;
    println!(
        "random replacement mean id {mean:.0} (uniform: {want:.0}, n = {})",
        t.random_ids.len()
    );
    assert!((mean / want - 1.0).abs() < 0.02, "mean {mean} vs {want}");
}

#[test]
fn span_lengths_follow_ngram_probs() {
    let t = run(cfg(MaskStrategy::Ngram, 0.15), 1_000_000, 41, |s| {
        s.sequence()
    });
    let h = t.span_hist(3);
    println!("{} spans", t.span_words.len());
    for (n, want) in [0.7, 0.2, 0.1].into_iter().enumerate() {
        assert_close(
            &format!("default ngram_probs: share of {}-word spans", n + 1),
            h[n],
            want,
            0.01,
        );
    }
    let probs = vec![0.4, 0.3, 0.2, 0.1];
    let custom = MaskConfig {
        ngram_max: 4,
        ngram_probs: probs.clone(),
        ..cfg(MaskStrategy::Ngram, 0.15)
    };
    let t = run(custom, 1_000_000, 42, |s| s.sequence());
    let h = t.span_hist(4);
    for (n, want) in probs.into_iter().enumerate() {
        assert_close(
            &format!("ngram_probs 0.4/0.3/0.2/0.1: share of {}-word spans", n + 1),
            h[n],
            want,
            0.01,
        );
    }
    let wwm = run(cfg(MaskStrategy::WholeWord, 0.15), 200_000, 43, |s| {
        s.sequence()
    });
    assert!(wwm.span_words.iter().all(|&n| n == 1));
}
