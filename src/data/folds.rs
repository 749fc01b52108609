//! K-fold splits of labelled pairs: stratified by label, or by connected components of
//! the sentence graph so that no sentence is on both sides of a split.
//!
//! On query-pair data the same question appears in many pairs; a plain split puts it in
//! training and validation at once and inflates CV scores. `components` keeps each
//! connected group of sentences in one fold.

use anyhow::Result;
use clap::ValueEnum;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::union_find::{text_ids, UnionFind};

/// Name of the fold assignment file in a fine-tuning output dir.
pub const FOLDS_FILE: &str = "folds.json";

/// How examples are assigned to folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FoldBy {
    /// Each class spread evenly over the folds.
    Stratified,
    /// Whole connected components of the sentence graph per fold.
    Components,
}

/// A fold assignment, saved as `folds.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Folds {
    /// Number of folds.
    pub k: usize,
    /// How they were made.
    pub fold_by: FoldBy,
    /// Seed of the shuffle.
    pub seed: u64,
    /// Fold of every example, in input order.
    pub assignment: Vec<usize>,
}

impl Folds {
    /// Split `pairs` (text a, text b, label) into `k` folds; every class must appear in
    /// every fold's validation part.
    pub fn new(
        pairs: &[(&str, &str, usize)],
        num_classes: usize,
        k: usize,
        fold_by: FoldBy,
        seed: u64,
    ) -> Result<Folds> {
        if k < 2 {
            crate::bad_input!("--folds {k}: need at least 2 folds (or train without --folds)");
        }
        if pairs.len() < k {
            crate::bad_input!(
                "{} labelled examples but --folds {k}: need at least one example per fold",
                pairs.len()
            );
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut assignment = vec![0; pairs.len()];
        match fold_by {
            FoldBy::Stratified => {
                // Deal each class's shuffled examples round-robin, continuing where the
                // previous class stopped so fold sizes differ by at most one.
                let mut next = 0;
                for c in 0..num_classes {
                    let mut idx: Vec<usize> =
                        (0..pairs.len()).filter(|&i| pairs[i].2 == c).collect();
                    idx.shuffle(&mut rng);
                    for i in idx {
                        assignment[i] = next % k;
                        next += 1;
                    }
                }
            }
            FoldBy::Components => {
                let (ids, n) = text_ids(pairs.iter().map(|p| (p.0, p.1)));
                let mut uf = UnionFind::new(n);
                for &(a, b) in &ids {
                    uf.union(a, b);
                }
                let mut members: std::collections::HashMap<usize, Vec<usize>> = Default::default();
                for (i, &(a, _)) in ids.iter().enumerate() {
                    members.entry(uf.find(a)).or_default().push(i);
                }
                let mut comps: Vec<Vec<usize>> = members.into_values().collect();
                comps.sort();
                comps.shuffle(&mut rng);
                // Largest first into the currently smallest fold (ties: lowest fold).
                comps.sort_by_key(|c| std::cmp::Reverse(c.len()));
                let mut sizes = vec![0usize; k];
                for comp in comps {
                    let f = (0..k).min_by_key(|&f| (sizes[f], f)).expect("k >= 2");
                    sizes[f] += comp.len();
                    for i in comp {
                        assignment[i] = f;
                    }
                }
            }
        }
        let folds = Folds {
            k,
            fold_by,
            seed,
            assignment,
        };
        folds.check_classes(pairs, num_classes)?;
        Ok(folds)
    }

    fn check_classes(&self, pairs: &[(&str, &str, usize)], num_classes: usize) -> Result<()> {
        for f in 0..self.k {
            for c in 0..num_classes {
                if !self
                    .assignment
                    .iter()
                    .zip(pairs)
                    .any(|(&a, p)| a == f && p.2 == c)
                {
                    crate::bad_input!(
                        "fold {f} has no example of class {c} in its validation part ({} folds by {:?}); use fewer --folds or --fold-by stratified",
                        self.k,
                        self.fold_by
                    );
                }
            }
        }
        Ok(())
    }

    /// Indices of the training and validation examples of fold `f`.
    pub fn split(&self, f: usize) -> (Vec<usize>, Vec<usize>) {
        (0..self.assignment.len()).partition(|&i| self.assignment[i] != f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Vec<(String, String, usize)> {
        (0..n)
            .map(|i| (format!("q{i}"), format!("r{}", i / 3), i % 2))
            .collect()
    }

    fn refs(p: &[(String, String, usize)]) -> Vec<(&str, &str, usize)> {
        p.iter()
            .map(|(a, b, l)| (a.as_str(), b.as_str(), *l))
            .collect()
    }

    #[test]
    fn stratified_balances_classes_and_sizes() {
        let p = pairs(103);
        let f = Folds::new(&refs(&p), 2, 5, FoldBy::Stratified, 1).unwrap();
        for fold in 0..5 {
            let (train, val) = f.split(fold);
            assert_eq!(train.len() + val.len(), 103);
            assert!((20..=21).contains(&val.len()), "fold {fold}: {}", val.len());
            let pos = val.iter().filter(|&&i| p[i].2 == 1).count();
            assert!((10..=11).contains(&pos), "fold {fold}: {pos} positives");
        }
        assert_eq!(
            f,
            Folds::new(&refs(&p), 2, 5, FoldBy::Stratified, 1).unwrap(),
            "seeded"
        );
    }

    #[test]
    fn components_never_share_a_sentence_across_the_split() {
        // r{i/3} links three consecutive questions: 34 components of 1-3 pairs.
        let p = pairs(100);
        let f = Folds::new(&refs(&p), 2, 4, FoldBy::Components, 3).unwrap();
        let mut sizes = Vec::new();
        for fold in 0..4 {
            let (train, val) = f.split(fold);
            let train_texts: std::collections::HashSet<&str> = train
                .iter()
                .flat_map(|&i| [p[i].0.as_str(), p[i].1.as_str()])
                .collect();
            assert!(val.iter().all(|&i| !train_texts.contains(p[i].0.as_str())
                && !train_texts.contains(p[i].1.as_str())));
            sizes.push(val.len());
        }
        // By hand: 33 components of 3 pairs and one of 1, largest first into the smallest
        // fold: 9, 8, 8, 8 triples, then the single pair joins a fold of 24.
        sizes.sort();
        assert_eq!(sizes, [24, 24, 25, 27]);
    }

    #[test]
    fn errors_before_training() {
        let p = pairs(3);
        assert!(Folds::new(&refs(&p), 2, 5, FoldBy::Stratified, 0)
            .unwrap_err()
            .to_string()
            .contains("at least one example per fold"));
        // Only one positive: some fold lacks class 1.
        let p: Vec<(String, String, usize)> = (0..10)
            .map(|i| (format!("a{i}"), format!("b{i}"), (i == 0) as usize))
            .collect();
        let err = Folds::new(&refs(&p), 2, 3, FoldBy::Stratified, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no example of class 1"), "{err}");
    }
}
