//! Class probabilities of a pair classifier over encoded pairs (evaluation mode).

use anyhow::Result;
use candle_core::{Device, D};

use crate::data::pair_batch::{pad_batch, EncodedPair};
use crate::model::classifier::SequenceClassifier;
use crate::model::dropout::Mode;

/// Softmax probabilities `[pairs.len()][num_labels]`, in the order of `pairs`.
///
/// Pairs are batched by length (longest first) so each batch pads little; the result is
/// put back in input order. Rows do not interact, so the grouping does not change them.
pub fn class_probs(
    model: &SequenceClassifier,
    pairs: &[&EncodedPair],
    batch_size: usize,
    pad_id: u32,
    device: &Device,
) -> Result<Vec<Vec<f64>>> {
    let model = model.detached()?;
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(pairs[i].ids.len()));
    let mut out = vec![Vec::new(); pairs.len()];
    for chunk in order.chunks(batch_size.max(1)) {
        let batch: Vec<&EncodedPair> = chunk.iter().map(|&i| pairs[i]).collect();
        let t = pad_batch(&batch, pad_id, model.config.dapt_match_embedding, device)?;
        let logits = model.forward(
            &t.ids,
            &t.types,
            t.matches.as_ref(),
            &t.mask,
            &mut Mode::eval(),
        )?;
        let probs = candle_nn::ops::softmax(&logits, D::Minus1)?;
        let rows: Vec<Vec<f32>> = probs.to_dtype(candle_core::DType::F32)?.to_vec2()?;
        for (&i, row) in chunk.iter().zip(rows) {
            out[i] = row.into_iter().map(f64::from).collect();
        }
    }
    Ok(out)
}
