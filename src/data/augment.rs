//! Training-set augmentation for pair matching, applied to the training part of a fold
//! only (validation pairs never leak into it).
//!
//! - `swap`: (b, a, y) for every (a, b, y): matching is symmetric.
//! - `closure`: pairs implied by transitivity. Positives join sentences into groups
//!   (union–find: a~b, b~c ⇒ a~c); every pair inside a group is a positive, and a
//!   negative between two groups makes every cross pair a negative. Capped by
//!   `closure_max`, sampled with a seed.

use std::collections::HashSet;

use clap::ValueEnum;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use serde::Serialize;

use super::union_find::{text_ids, UnionFind};

/// A training-set augmentation rule (`--augment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AugmentRule {
    /// Add (b, a, y) for every training pair.
    Swap,
    /// Add pairs implied by transitivity among the training pairs (binary labels).
    Closure,
}

/// A labelled pair.
pub type Pair = (String, String, usize);

/// How many pairs each rule added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AugmentReport {
    /// Added by `swap`.
    pub swapped: usize,
    /// Positives added by `closure`.
    pub closure_positive: usize,
    /// Negatives added by `closure`.
    pub closure_negative: usize,
}

/// Pairs implied by transitivity among binary-labelled `pairs` (1 = match), not already
/// present in either order; at most `closure_max`, chosen with `seed`.
pub fn closure(pairs: &[Pair], closure_max: usize, seed: u64) -> (Vec<Pair>, AugmentReport) {
    let (ids, n) = text_ids(pairs.iter().map(|p| (p.0.as_str(), p.1.as_str())));
    let mut text = vec![""; n];
    for (p, &(a, b)) in pairs.iter().zip(&ids) {
        text[a] = &p.0;
        text[b] = &p.1;
    }
    let mut uf = UnionFind::new(n);
    for (p, &(a, b)) in pairs.iter().zip(&ids) {
        if p.2 == 1 {
            uf.union(a, b);
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for t in 0..n {
        groups.entry(uf.find(t)).or_default().push(t);
    }
    let known: HashSet<(usize, usize)> = ids.iter().flat_map(|&(a, b)| [(a, b), (b, a)]).collect();
    let mut candidates: Vec<(usize, usize, usize)> = Vec::new();
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    let mut add = |a: usize, b: usize, y: usize, out: &mut Vec<(usize, usize, usize)>| {
        let key = (a.min(b), a.max(b));
        if a != b && !known.contains(&(a, b)) && seen.insert(key) {
            out.push((a, b, y));
        }
    };
    for members in groups.values() {
        for (i, &a) in members.iter().enumerate() {
            for &b in &members[i + 1..] {
                add(a, b, 1, &mut candidates);
            }
        }
    }
    for (p, &(a, b)) in pairs.iter().zip(&ids) {
        if p.2 == 0 {
            let (ga, gb) = (&groups[&uf.find(a)], &groups[&uf.find(b)]);
            if uf.find(a) == uf.find(b) {
                continue; // contradictory labels: imply nothing
            }
            for &x in ga {
                for &y in gb {
                    add(x, y, 0, &mut candidates);
                }
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    candidates.shuffle(&mut rng);
    candidates.truncate(closure_max);
    let mut report = AugmentReport::default();
    let out = candidates
        .into_iter()
        .map(|(a, b, y)| {
            if y == 1 {
                report.closure_positive += 1;
            } else {
                report.closure_negative += 1;
            }
            (text[a].to_string(), text[b].to_string(), y)
        })
        .collect();
    (out, report)
}

/// The swapped copy (b, a, y) of every pair.
pub fn swap(pairs: &[Pair]) -> Vec<Pair> {
    pairs
        .iter()
        .map(|(a, b, y)| (b.clone(), a.clone(), *y))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &str, b: &str, y: usize) -> Pair {
        (a.into(), b.into(), y)
    }

    #[test]
    fn closure_by_hand() {
        // Groups {a, b, c} (a~b, b~c) and {d, e} (d~e); a negative between a and d.
        let pairs = vec![
            p("a", "b", 1),
            p("b", "c", 1),
            p("d", "e", 1),
            p("a", "d", 0),
        ];
        let (mut added, report) = closure(&pairs, 100, 0);
        added.sort();
        // New positive: a~c. New negatives: all of {a,b,c} x {d,e} except (a,d).
        let expected = vec![
            p("a", "c", 1),
            p("a", "e", 0),
            p("b", "d", 0),
            p("b", "e", 0),
            p("c", "d", 0),
            p("c", "e", 0),
        ];
        assert_eq!(added, expected);
        assert_eq!((report.closure_positive, report.closure_negative), (1, 5));
        let (capped, report) = closure(&pairs, 2, 0);
        assert_eq!(
            (
                capped.len(),
                report.closure_positive + report.closure_negative
            ),
            (2, 2)
        );
    }

    #[test]
    fn swap_reverses_pairs() {
        assert_eq!(swap(&[p("a", "b", 1)]), vec![p("b", "a", 1)]);
    }
}
