//! Held-out evaluation on fixed masks: the MLM's (or the rtd generator's) loss,
//! perplexity and masked-token accuracy, next to the accuracy of always guessing the
//! most frequent masked token; under rtd also the discriminator's accuracy and AUC of
//! replaced-vs-original, next to always answering "original".

use anyhow::Result;
use candle_core::{DType, Device, D};
use serde::Serialize;

use super::objective::PretrainModel;
use crate::data::collate::Collator;
use crate::data::doc::DocStore;
use crate::metrics::auc;
use crate::model::dropout::Mode;
use crate::model::rtd::sample_tokens;

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
    /// The discriminator's scores, under rtd.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub rtd: Option<RtdEval>,
}

/// The discriminator's held-out figures.
#[derive(Debug, Clone, Serialize)]
pub struct RtdEval {
    /// Mean binary cross-entropy over the real tokens.
    pub disc_loss: f64,
    /// Fraction of real tokens classified right (logit > 0 means replaced).
    pub disc_accuracy: f64,
    /// Accuracy of answering "original" everywhere (the trivial baseline).
    pub disc_majority_accuracy: f64,
    /// ROC AUC of the logits for replaced vs original tokens (0.5 at chance).
    pub disc_auc: f64,
    /// Fraction of real tokens replaced by something other than the original.
    pub replaced_rate: f64,
    /// Real tokens scored.
    pub disc_tokens: u64,
}

/// Counter of the evaluation batches' mask streams: far above any training step, so
/// evaluation masks never repeat a training batch's, and are the same at every eval.
const EVAL_COUNTER: u64 = 1 << 62;

/// Evaluate `model` on every document of `store` (one per sequence), `batch_size` at a
/// time, with masks (and rtd samples) fixed by `seed`.
pub fn evaluate<S: DocStore + ?Sized>(
    model: &PretrainModel,
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
    let (mut disc_loss_sum, mut scores, mut replaced) = (0.0f64, Vec::new(), Vec::new());
    for (b, chunk) in seqs.chunks(batch_size.max(1)).enumerate() {
        let counter = EVAL_COUNTER + b as u64;
        for &[d] in chunk {
            store.verify(d)?;
        }
        let batch = collator.collate(store, chunk, seed, counter);
        store.release_pages();
        if batch.masked_labels.is_empty() {
            continue;
        }
        let t = batch.to_tensors(device)?;
        let (loss, logits) = match &model {
            PretrainModel::Mlm(m) => {
                let out = m.loss(&t, &mut Mode::eval())?;
                (out.loss, out.logits)
            }
            PretrainModel::Rtd(r) => {
                let out = r.loss(
                    &batch,
                    &t,
                    collator,
                    |logits| sample_tokens(logits, seed, counter),
                    &mut Mode::eval(),
                )?;
                let n = out.replaced.len() as f64;
                disc_loss_sum += out.disc_loss.to_dtype(DType::F64)?.to_scalar::<f64>()? * n;
                scores.extend(out.disc_logits.to_dtype(DType::F64)?.to_vec1::<f64>()?);
                replaced.extend(out.replaced);
                (out.gen_loss, out.gen_logits)
            }
        };
        let n = batch.masked_labels.len() as u64;
        loss_sum += loss.to_dtype(DType::F64)?.to_scalar::<f64>()? * n as f64;
        let hits = logits
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
    let rtd =
        matches!(model, PretrainModel::Rtd(_)).then(|| rtd_eval(disc_loss_sum, &scores, &replaced));
    Ok(EvalResult {
        eval_loss,
        perplexity: eval_loss.exp(),
        masked_accuracy: correct as f64 / denom,
        unigram_accuracy: label_counts.values().max().copied().unwrap_or(0) as f64 / denom,
        masked_tokens: total,
        rtd,
    })
}

/// The discriminator's figures from its logits `scores` and targets `replaced`.
fn rtd_eval(loss_sum: f64, scores: &[f64], replaced: &[bool]) -> RtdEval {
    let n = replaced.len().max(1) as f64;
    let hits = scores
        .iter()
        .zip(replaced)
        .filter(|(&s, &r)| (s > 0.0) == r)
        .count();
    let positives = replaced.iter().filter(|&&r| r).count() as f64;
    RtdEval {
        disc_loss: loss_sum / n,
        disc_accuracy: hits as f64 / n,
        disc_majority_accuracy: 1.0 - positives / n,
        disc_auc: auc(scores, replaced).unwrap_or(f64::NAN),
        replaced_rate: positives / n,
        disc_tokens: replaced.len() as u64,
    }
}
