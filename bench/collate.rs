//! Time to collate one MLM batch (the data side of a pretraining step), next to the time
//! of one training step of the small model on the CPU (issue 4, item 6: collation should
//! cost under 2% of a step).
//!
//! `cargo run --release --example collate -- [BATCH] [MAX_LEN] [STEPS]` prints the mean
//! time per batch for each masking strategy, on short synthetic query pairs (6–20 ids per
//! text, Zipf ids over a 21,968-id vocabulary, every id a word, as in the OPPO data), then
//! the mean time of a training step (forward, backward, AdamW step; dropout on) of the
//! `small` preset on an n-gram-masked batch, and the collation's share of it. `STEPS`
//! training steps are timed (default 5; 0 skips them).

use std::time::Instant;

use candle_core::Device;
use dapt::data::collate::{Batch, Collator};
use dapt::data::doc::MemDoc;
use dapt::data::mask::{MaskConfig, MaskStrategy, Masker};
use dapt::data::special::SpecialTokens;
use dapt::model::bert::BertForMaskedLM;
use dapt::model::build::Init;
use dapt::model::dropout::Mode;
use dapt::model::params::named_vars;
use dapt::model::BertConfig;
use dapt::optim::{AdamW, AdamWConfig, Optimizer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VOCAB: usize = 21_968;

/// Mean seconds per training step (forward, backward, AdamW) of the small preset on `batch`.
fn train_step_seconds(batch: &Batch, steps: usize) -> anyhow::Result<f64> {
    let dev = Device::Cpu;
    let config = BertConfig::preset("small", VOCAB).expect("small preset");
    let (model, _) = BertForMaskedLM::new(&config, &dev, Init::Fresh(0))?;
    let mut opt = AdamW::new(named_vars(&model.vars), AdamWConfig::default())?;
    let mut step = |seed: u64| -> anyhow::Result<()> {
        let tensors = batch.to_tensors(&dev)?;
        let mut mode = Mode::train(ChaCha8Rng::seed_from_u64(seed));
        let grads = model.loss(&tensors, &mut mode)?.loss.backward()?;
        opt.step(&grads, 1e-4)
    };
    step(0)?; // warm-up: allocates the moments
    let start = Instant::now();
    for seed in 1..=steps as u64 {
        step(seed)?;
    }
    Ok(start.elapsed().as_secs_f64() / steps as f64)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let batch = args.first().copied().unwrap_or(64);
    let max_len = args.get(1).copied().unwrap_or(32);
    let train_steps = args.get(2).copied().unwrap_or(5);
    let special = SpecialTokens::new(VOCAB, 0)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let text = |rng: &mut ChaCha8Rng| -> Vec<u32> {
        let n = rng.random_range(6..=20);
        (0..n)
            .map(|_| 5 + (rng.random::<f64>().powi(3) * (VOCAB - 6) as f64) as u32)
            .collect()
    };
    let docs: Vec<MemDoc> = (0..10_000)
        .map(|_| {
            let (a, b) = (text(&mut rng), text(&mut rng));
            MemDoc::pair(&a, &b)
        })
        .collect();
    let mut ngram = None;
    for strategy in [
        MaskStrategy::Token,
        MaskStrategy::WholeWord,
        MaskStrategy::Ngram,
    ] {
        let masker = Masker::new(
            MaskConfig {
                strategy,
                ..MaskConfig::default()
            },
            special,
        )?;
        let collator = Collator::new(max_len, 0.5, masker)?;
        let steps = 300u64;
        let start = Instant::now();
        let mut tokens = 0;
        let mut last = None;
        for step in 0..steps {
            let first = (step as usize * batch) % (docs.len() - batch);
            let seqs: Vec<[usize; 1]> = (first..first + batch).map(|d| [d]).collect();
            let b = collator.collate(docs.as_slice(), &seqs, 1, step);
            tokens += b.input_ids.len();
            last = Some(b);
        }
        let per = start.elapsed().as_secs_f64() / steps as f64;
        println!(
            "collate {strategy:>5}: {:.3} ms per batch of {batch} (max_len {max_len}, {:.0} padded tokens/batch)",
            per * 1e3,
            tokens as f64 / steps as f64
        );
        if strategy == MaskStrategy::Ngram {
            ngram = last.map(|b| (per, b));
        }
    }
    if let (Some((collate, b)), true) = (ngram, train_steps > 0) {
        let step = train_step_seconds(&b, train_steps)?;
        println!(
            "train step (small, vocab {VOCAB}, forward+backward+AdamW, {} masked): {:.1} ms; \
             n-gram collation = {:.3}% of a step (target < 2%)",
            b.masked_positions.len(),
            step * 1e3,
            100.0 * collate / step
        );
    }
    Ok(())
}
