//! Property tests of masking invariants on arbitrary sequences (any mix of special,
//! rare and ordinary ids, any word-start bits), for every strategy.

use dapt::data::mask::{MaskConfig, MaskStrategy, Masker};
use dapt::data::special::SpecialTokens;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A vocabulary (size, rare placeholders) and a sequence of (id, word-start) over it.
fn case() -> impl Strategy<Value = (usize, usize, Vec<u32>, Vec<bool>)> {
    (0usize..4, 20usize..3000).prop_flat_map(|(rare, vocab)| {
        let id = prop_oneof![
            1 => 0u32..5,
            1 => 5u32..(5 + rare as u32).max(6),
            6 => (5 + rare as u32)..vocab as u32,
        ];
        let seq = prop::collection::vec((id, any::<bool>()), 0..80);
        seq.prop_map(move |v| {
            let (ids, ws): (Vec<u32>, Vec<bool>) = v.into_iter().unzip();
            (vocab, rare, ids, ws)
        })
    })
}

fn strategy() -> impl Strategy<Value = MaskStrategy> {
    prop_oneof![
        Just(MaskStrategy::Token),
        Just(MaskStrategy::WholeWord),
        Just(MaskStrategy::Ngram)
    ]
}

/// Independent reading of the word structure: token `i` continues the word of `i - 1`
/// when both are maskable (id >= 5) and `i` has no word-start bit.
fn continues(ids: &[u32], ws: &[bool], i: usize) -> bool {
    i > 0 && ids[i] >= 5 && ids[i - 1] >= 5 && !ws[i]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn masking_invariants(
        (vocab, rare, orig, ws) in case(),
        strategy in strategy(),
        mask_prob in 0.05f64..0.9,
        seed in any::<u64>(),
    ) {
        let special = SpecialTokens::new(vocab, rare).unwrap();
        let cfg = MaskConfig { strategy, mask_prob, ..MaskConfig::default() };
        let masker = Masker::new(cfg.clone(), special).unwrap();
        let mut ids = orig.clone();
        let mut labels = vec![-100i64; ids.len()];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let sel = masker.mask(&mut ids, &ws, None, &mut labels, &mut rng);
        let chosen: Vec<bool> = labels.iter().map(|&l| l != -100).collect();

        // Positions and labels agree; labels are the original ids exactly.
        let from_labels: Vec<usize> = (0..ids.len()).filter(|&i| chosen[i]).collect();
        prop_assert_eq!(&sel.positions, &from_labels);
        for i in 0..ids.len() {
            if chosen[i] {
                prop_assert_eq!(labels[i], orig[i] as i64);
                // Special tokens ([PAD] [UNK] [CLS] [SEP] [MASK]) are never chosen.
                prop_assert!(orig[i] >= 5, "special id {} chosen at {}", orig[i], i);
                // [MASK], unchanged, or an ordinary (non-special, non-rare) token.
                prop_assert!(
                    ids[i] == SpecialTokens::MASK || ids[i] == orig[i]
                        || (ids[i] as usize >= 5 + rare && (ids[i] as usize) < vocab),
                    "bad replacement {} at {}", ids[i], i
                );
            } else {
                prop_assert_eq!(ids[i], orig[i]);
            }
        }

        let maskable = orig.iter().filter(|&&id| id >= 5).count();
        let target = mask_prob * maskable as f64;
        match strategy {
            MaskStrategy::Token => prop_assert!(sel.spans.is_empty()),
            MaskStrategy::WholeWord | MaskStrategy::Ngram => {
                // No partly masked word.
                for i in 0..ids.len() {
                    if continues(&orig, &ws, i) {
                        prop_assert_eq!(chosen[i], chosen[i - 1], "word split at {}", i);
                    }
                }
                // Spans: disjoint, whole words, n <= ngram_max (1 for wwm), cover exactly
                // the chosen positions.
                let nmax = if strategy == MaskStrategy::WholeWord { 1 } else { cfg.ngram_max };
                let mut cover = vec![false; ids.len()];
                for s in &sel.spans {
                    prop_assert!(s.start < s.end && s.end <= ids.len());
                    prop_assert!(!continues(&orig, &ws, s.start), "span starts mid-word");
                    prop_assert!(s.end == ids.len() || !continues(&orig, &ws, s.end), "span ends mid-word");
                    let starts = (s.start..s.end).filter(|&i| !continues(&orig, &ws, i)).count();
                    prop_assert_eq!(starts, s.words);
                    prop_assert!(s.words >= 1 && s.words <= nmax);
                    for i in s.start..s.end {
                        prop_assert!(orig[i] >= 5);
                        prop_assert!(!cover[i], "spans overlap at {}", i);
                        cover[i] = true;
                    }
                }
                prop_assert_eq!(cover, chosen);
                // The target is crossed by at most the last span.
                if let Some((_, before)) = sel.spans.split_last() {
                    let covered_before: usize = before.iter().map(|s| s.end - s.start).sum();
                    prop_assert!((covered_before as f64) < target, "{} tokens before the last span, target {}", covered_before, target);
                }
            }
        }
    }
}
