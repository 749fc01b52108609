//! Held-out evaluation of the MLM: loss, perplexity and masked-token accuracy on fixed
//! masks, next to the accuracy of always guessing the most frequent masked token.

use anyhow::Result;
use candle_core::{DType, Device, D};
use serde::Serialize;

use crate::data::collate::Collator;
use crate::data::doc::DocStore;
use crate::model::bert::BertForMaskedLM;
use crate::model::dropout::Mode;

/// What one evaluation measured.
#[derive(Debug, Clone, Serialize)]
pub struct EvalResult {
    /// Mean cross-entropy per masked token.
    pub eval_loss: f64,
    /// `exp(eval_loss)`.
    pub perplexity: f64,
    /// Fraction of masked tokens whose argmax prediction is the original token.
    pub masked_accuracy: f64,
    /// Accuracy of always predicting the most frequent original token among the
    /// masked ones (the unigram-frequency baseline).
    pub unigram_accuracy: f64,
    /// Masked tokens scored.
    pub masked_tokens: u64,
}

/// Counter of the evaluation batches' mask streams: far above any training step, so
/// evaluation masks never repeat a training batch's, and are the same at every eval.
const EVAL_COUNTER: u64 = 1 << 62;

/// Evaluate `model` on every document of `store` (one per sequence), `batch_size` at a
/// time, with masks fixed by `seed`.
pub fn evaluate<S: DocStore + ?Sized>(
    model: &BertForMaskedLM,
    store: &S,
    collator: &Collator,
    batch_size: usize,
    seed: u64,
    device: &Device,
) -> Result<EvalResult> {
    let model = model.detached()?;
    let seqs: Vec<[usize; 1]> = (0..store.num_docs()).map(|d| [d]).collect();
    let (mut loss_sum, mut correct, mut total) = (0.0f64, 0u64, 0u64);
    let mut label_counts = std::collections::HashMap::<u32, u64>::new();
    for (b, chunk) in seqs.chunks(batch_size.max(1)).enumerate() {
        let batch = collator.collate(store, chunk, seed, EVAL_COUNTER + b as u64);
        store.release_pages();
        if batch.masked_labels.is_empty() {
            continue;
        }
        let t = batch.to_tensors(device)?;
        let out = model.loss(&t, &mut Mode::eval())?;
        let n = batch.masked_labels.len() as u64;
        loss_sum += out.loss.to_dtype(DType::F64)?.to_scalar::<f64>()? * n as f64;
        let hits = out
            .logits
            .argmax(D::Minus1)?
            .eq(&t.masked_labels)?
            .to_dtype(DType::U32)?
            .sum_all()?
            .to_scalar::<u32>()?;
        correct += hits as u64;
        total += n;
        for &l in &batch.masked_labels {
            *label_counts.entry(l).or_default() += 1;
        }
    }
    let denom = total.max(1) as f64;
    let eval_loss = loss_sum / denom;
    Ok(EvalResult {
        eval_loss,
        perplexity: eval_loss.exp(),
        masked_accuracy: correct as f64 / denom,
        unigram_accuracy: label_counts.values().max().copied().unwrap_or(0) as f64 / denom,
        masked_tokens: total,
    })
}
