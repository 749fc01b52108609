//! A fold's training set: its part of the labelled pairs with their augmentations
//! (`--augment swap,closure`), the pseudo-labelled pairs and the soft-labelled
//! unlabelled pairs, encoded, each with what it is trained towards.

use anyhow::Result;

use super::config::FinetuneConfig;
use super::data::Prepared;
use crate::data::augment::AugmentRule;
use crate::data::augment::{closure, swap, AugmentReport, Pair};
use crate::data::pair_batch::{EncodeStats, EncodedPair, PairEncoder};
use crate::train::soft::tempered;
use crate::train::tasks::pair::Target;

/// The training part of fold `k` with its augmentations, the pseudo-labelled pairs and,
/// with `--soft-labels`, the unlabelled pairs (the last two in both orders under
/// `--augment swap`), encoded with their targets.
/// Teacher distributions are tempered here; a swapped pair keeps its original's, pairs
/// implied by closure have none.
pub fn training_set(
    p: &Prepared,
    cfg: &FinetuneConfig,
    train_idx: &[usize],
    k: usize,
) -> Result<(Vec<EncodedPair>, Vec<Target>, AugmentReport)> {
    let temperature = cfg.recipe.soft_loss.temperature;
    let soft_of = |i: usize| {
        p.soft
            .as_ref()
            .map(|s| tempered(&s.labelled[i], temperature))
    };
    let mut encoded: Vec<EncodedPair> = train_idx.iter().map(|&i| p.encoded[i].clone()).collect();
    let mut targets: Vec<Target> = train_idx
        .iter()
        .map(|&i| Target {
            label: Some(p.labels[i]),
            soft: soft_of(i),
        })
        .collect();
    let originals: Vec<Pair> = train_idx
        .iter()
        .map(|&i| (p.pairs[i].a.clone(), p.pairs[i].b.clone(), p.labels[i]))
        .collect();
    let mut report = AugmentReport::default();
    let mut added: Vec<(Pair, Option<Vec<f64>>)> = Vec::new();
    if cfg.recipe.augment.contains(&AugmentRule::Closure) {
        // Seeded per fold: each fold's training part implies different pairs.
        let (implied, r) = closure(
            &originals,
            cfg.recipe.closure_max,
            cfg.run.seed.wrapping_add(k as u64),
        );
        report.closure_positive = r.closure_positive;
        report.closure_negative = r.closure_negative;
        added.extend(implied.into_iter().map(|x| (x, None)));
    }
    let swapping = cfg.recipe.augment.contains(&AugmentRule::Swap);
    if swapping {
        // Swap the implied pairs too, so every training pair appears in both orders.
        let mut base: Vec<(Pair, Option<Vec<f64>>)> = originals
            .into_iter()
            .zip(train_idx.iter().map(|&i| soft_of(i)))
            .collect();
        base.extend(added.iter().cloned());
        let swapped: Vec<Pair> = swap(&base.iter().map(|(x, _)| x.clone()).collect::<Vec<_>>());
        report.swapped = swapped.len();
        added.extend(swapped.into_iter().zip(base.into_iter().map(|(_, t)| t)));
    }
    let encoder = PairEncoder::new(&p.vocab, cfg.recipe.max_len)?;
    let mut stats = EncodeStats::default();
    for ((a, b, y), soft) in added {
        encoded.push(encoder.encode(&a, &b, &mut stats)?);
        targets.push(Target {
            label: Some(y),
            soft,
        });
    }
    for (rec, enc) in p.pseudo.iter().zip(&p.pseudo_encoded) {
        let label = rec.label.expect("pseudo-labelled");
        encoded.push(enc.clone());
        targets.push(Target::hard(label));
        if swapping {
            encoded.push(encoder.encode(&rec.b, &rec.a, &mut stats)?);
            targets.push(Target::hard(label));
        }
    }
    if let Some(s) = &p.soft {
        for ((rec, enc), probs) in s
            .unlabelled
            .iter()
            .zip(&s.unlabelled_encoded)
            .zip(&s.unlabelled_probs)
        {
            let soft = Some(tempered(probs, temperature));
            encoded.push(enc.clone());
            targets.push(Target {
                label: None,
                soft: soft.clone(),
            });
            if swapping {
                encoded.push(encoder.encode(&rec.b, &rec.a, &mut stats)?);
                targets.push(Target { label: None, soft });
            }
        }
    }
    Ok((encoded, targets, report))
}
