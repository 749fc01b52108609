//! The validation scores of a fold across the ranks of a data-parallel run, each rank
//! scoring a slice.

use anyhow::Result;
use candle_core::Device;

use crate::data::pair_batch::EncodedPair;
use crate::dist::{gather, slice_of, Collective};
use crate::infer::probs::class_probs;
use crate::model::classifier::SequenceClassifier;

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
