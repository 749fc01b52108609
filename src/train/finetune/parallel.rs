//! A fold's training across the ranks of a data-parallel run: what each example weighs
//! in the loss's divisor (a rank's share of the batch) and the validation scores, each
//! rank scoring a slice.

use anyhow::Result;
use candle_core::Device;

use super::step::Target;
use crate::data::pair_batch::EncodedPair;
use crate::dist::{gather, slice_of, Collective};
use crate::infer::probs::class_probs;
use crate::model::classifier::SequenceClassifier;

/// What one example weighs in the loss's divisor: its class weight (1 without
/// `--class-weight`, and for a row with a soft target only).
pub fn loss_weight(target: &Target, class_weight: Option<&[f64]>) -> f64 {
    match (target.label, class_weight) {
        (Some(y), Some(w)) => w[y],
        _ => 1.0,
    }
}

/// The class probabilities of the validation pairs, each rank scoring its slice.
pub fn scores(
    model: &SequenceClassifier,
    valid: &[&EncodedPair],
    batch_size: usize,
    pad: u32,
    device: &Device,
    group: &dyn Collective,
    classes: usize,
) -> Result<Vec<Vec<f64>>> {
    let (rank, world) = (group.rank(), group.world_size());
    if world == 1 {
        return class_probs(model, valid, batch_size, pad, device);
    }
    let mine = class_probs(
        model,
        &valid[slice_of(valid.len(), rank, world)],
        batch_size,
        pad,
        device,
    )?;
    let flat: Vec<f64> = mine.into_iter().flatten().collect();
    let lens: Vec<usize> = (0..world)
        .map(|r| slice_of(valid.len(), r, world).len() * classes)
        .collect();
    let all = gather(group, &flat, &lens)?;
    Ok(all.chunks(classes).map(<[f64]>::to_vec).collect())
}
