//! Epoch planning: every document once, reproducible per (seed, epoch), greedy packing
//! within max_len, and length grouping that cuts padding.

use std::sync::Arc;

use dapt::data::batching::{seq_len, BatchingConfig, DocInfo, EpochPlan};
use dapt::data::doc::{DocStore, Excluding, MemDoc, Subset};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// 5,000 documents: a third pairs, lengths 4..=120 skewed short (like query logs).
fn docs() -> Vec<DocInfo> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    (0..5000)
        .map(|i| {
            let u: f64 = rng.random();
            DocInfo {
                len: 4 + (u * u * 116.0) as u32,
                is_pair: i % 3 == 0,
            }
        })
        .collect()
}

fn batches(plan: &EpochPlan) -> Vec<Vec<Vec<usize>>> {
    (0..plan.num_batches()).map(|b| plan.batch(b)).collect()
}

fn flat(plan: &EpochPlan) -> Vec<usize> {
    let mut all: Vec<usize> = batches(plan).into_iter().flatten().flatten().collect();
    all.sort_unstable();
    all
}

/// Padding share of the planned batches, as the collator pads each batch to its longest.
fn padding(docs: &[DocInfo], plan: &EpochPlan, max_len: usize) -> f64 {
    let (mut pad, mut total) = (0usize, 0usize);
    for b in &batches(plan) {
        let lens: Vec<usize> = b
            .iter()
            .map(|s| seq_len(&|i| docs[i], s, max_len))
            .collect();
        let longest = *lens.iter().max().unwrap();
        total += longest * lens.len();
        pad += lens.iter().map(|l| longest - l).sum::<usize>();
    }
    pad as f64 / total as f64
}

#[test]
fn every_document_once_and_reproducible() {
    let docs = docs();
    for (pack, group_by_length) in [(false, false), (true, false), (false, true), (true, true)] {
        let cfg = BatchingConfig {
            batch_size: 32,
            max_len: 128,
            pack,
            group_by_length,
            group_window: 10,
            drop_last: false,
        };
        let plan = EpochPlan::new(docs.len(), |i| docs[i], &cfg, 7, 0).unwrap();
        assert_eq!(flat(&plan), (0..docs.len()).collect::<Vec<_>>());
        assert!(batches(&plan)
            .iter()
            .all(|b| !b.is_empty() && b.len() <= 32));
        assert_eq!(
            plan,
            EpochPlan::new(docs.len(), |i| docs[i], &cfg, 7, 0).unwrap()
        );
        assert_ne!(
            plan,
            EpochPlan::new(docs.len(), |i| docs[i], &cfg, 7, 1).unwrap()
        );
        assert_ne!(
            plan,
            EpochPlan::new(docs.len(), |i| docs[i], &cfg, 8, 0).unwrap()
        );
    }
    let cfg = BatchingConfig {
        batch_size: 32,
        drop_last: true,
        ..BatchingConfig::default()
    };
    let plan = EpochPlan::new(docs.len(), |i| docs[i], &cfg, 7, 0).unwrap();
    assert_eq!(plan.num_batches(), 5000 / 32);
    assert!(batches(&plan).iter().all(|b| b.len() == 32));
}

#[test]
fn packing_is_greedy_within_max_len_and_leaves_pairs_alone() {
    let docs = docs();
    let max_len = 128;
    let cfg = BatchingConfig {
        batch_size: 16,
        max_len,
        pack: true,
        ..BatchingConfig::default()
    };
    let plan = EpochPlan::new(docs.len(), |i| docs[i], &cfg, 3, 0).unwrap();
    let seqs: Vec<Vec<usize>> = batches(&plan).into_iter().flatten().collect();
    // Cost of a packed sequence: [CLS] + each text and its [SEP].
    let cost = |s: &[usize]| 1 + s.iter().map(|&d| docs[d].len as usize + 1).sum::<usize>();
    let packs: Vec<&Vec<usize>> = seqs.iter().filter(|s| !docs[s[0]].is_pair).collect();
    for s in &seqs {
        if docs[s[0]].is_pair {
            assert_eq!(s.len(), 1, "a pair was packed");
        } else {
            assert!(s.iter().all(|&d| !docs[d].is_pair));
            assert!(
                s.len() == 1 || cost(s) <= max_len,
                "pack of {} tokens",
                cost(s)
            );
        }
    }
    // Greedy: the next pack's first text would not have fitted in the previous one.
    for w in packs.windows(2) {
        assert!(cost(w[0]) + docs[w[1][0]].len as usize + 1 > max_len);
    }
    let singles = docs.iter().filter(|d| !d.is_pair).count();
    let fill = packs.iter().map(|s| cost(s).min(max_len)).sum::<usize>() as f64
        / (packs.len() * max_len) as f64;
    println!(
        "packing: {singles} single texts in {} sequences, {fill:.3} of max_len filled",
        packs.len()
    );
    // Texts average ~45 tokens: without packing a sequence is ~36% full.
    assert!(packs.len() * 2 < singles && fill > 0.7);
}

#[test]
fn length_grouping_cuts_padding() {
    let docs = docs();
    let base = BatchingConfig {
        batch_size: 32,
        max_len: 128,
        ..BatchingConfig::default()
    };
    let plain = padding(
        &docs,
        &EpochPlan::new(docs.len(), |i| docs[i], &base, 5, 0).unwrap(),
        128,
    );
    let grouped_cfg = BatchingConfig {
        group_by_length: true,
        group_window: 50,
        ..base
    };
    let grouped_plan = EpochPlan::new(docs.len(), |i| docs[i], &grouped_cfg, 5, 0).unwrap();
    let grouped = padding(&docs, &grouped_plan, 128);
    println!(
        "padding share: {plain:.3} without grouping, {grouped:.3} grouped (window 50 batches)"
    );
    assert!(plain > 0.3);
    assert!(grouped < 0.05);
    // Batch order is still shuffled, not sorted by length.
    let longest: Vec<usize> = batches(&grouped_plan)
        .iter()
        .map(|b| {
            b.iter()
                .map(|s| seq_len(&|i| docs[i], s, 128))
                .max()
                .unwrap()
        })
        .collect();
    assert!(longest.windows(2).any(|w| w[0] > w[1]) && longest.windows(2).any(|w| w[0] < w[1]));
}

/// Ten single texts; document `i` has `i + 1` tokens, so lengths name documents.
struct Ten(Vec<MemDoc>);

impl DocStore for Ten {
    type Doc<'a> = &'a MemDoc;
    fn num_docs(&self) -> usize {
        self.0.len()
    }
    fn doc(&self, i: usize) -> &MemDoc {
        &self.0[i]
    }
}

#[test]
fn excluding_and_subset_partition_a_store_in_order() {
    let store = Arc::new(Ten((0..10)
        .map(|i| MemDoc::single(vec![7; i + 1]))
        .collect()));
    let heldout = [0u32, 3, 4, 9];
    let train = Excluding::new(store.clone(), &heldout);
    let held = Subset::new(store.clone(), heldout.to_vec());
    let lens =
        |s: &dyn Fn(usize) -> DocInfo, n: usize| -> Vec<u32> { (0..n).map(|i| s(i).len).collect() };
    assert_eq!(train.num_docs(), 6);
    assert_eq!(lens(&DocInfo::in_store(&train), 6), [2, 3, 6, 7, 8, 9]);
    assert_eq!(lens(&DocInfo::in_store(&held), 4), [1, 4, 5, 10]);
    let none = Excluding::new(store.clone(), &[]);
    assert_eq!(
        lens(&DocInfo::in_store(&none), 10),
        (1..=10).collect::<Vec<u32>>()
    );
    // The planner reads lengths from the store: packing 6 training texts of 2, 3, 6, 7,
    // 8, 9 tokens (+1 [SEP] each, +1 [CLS]) into max_len 12 keeps every sequence within it.
    let cfg = BatchingConfig {
        batch_size: 2,
        max_len: 12,
        pack: true,
        ..BatchingConfig::default()
    };
    let plan = EpochPlan::new(6, DocInfo::in_store(&train), &cfg, 1, 0).unwrap();
    let seqs: Vec<Vec<usize>> = batches(&plan).into_iter().flatten().collect();
    assert!(seqs
        .iter()
        .all(|s| seq_len(&DocInfo::in_store(&train), s, 1000) <= 12));
    assert_eq!(flat(&plan), (0..6).collect::<Vec<_>>());
}
