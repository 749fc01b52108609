//! Forward+backward throughput of dapt's `BertForMaskedLM` on CPU, for the size presets.
//! Run via bench/model_compare.sh, which puts it beside bench/model_speed.py (PyTorch +
//! transformers) on the same machine with the same thread count.
//!
//! Usage: model_speed [STEPS] [PRESET...] — prints one
//! `RESULT preset variant tokens_per_s mean_ms min_ms` line per preset and variant:
//! `gathered` is dapt's loss (decoder over the masked rows only), `full_decoder` runs the
//! decoder over every position and takes the loss at the masked ones (transformers' way).

use std::time::Instant;

use anyhow::Result;
use candle_core::Device;
use dapt::data::collate::{Batch, BatchTensors, IGNORE_LABEL};
use dapt::model::bert::BertForMaskedLM;
use dapt::model::build::Init;
use dapt::model::dropout::Mode;
use dapt::model::mlm_head::mlm_loss;
use dapt::model::BertConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Shapes shared with bench/model_speed.py.
const VOCAB: usize = 22_000;
const BATCH: usize = 64;
const SEQ: usize = 32;

/// Whether flat position `p` is masked: a multiplicative hash below 15%, so the Python
/// side masks exactly the same positions without sharing an RNG.
fn is_masked(p: usize) -> bool {
    (p as u64 * 2_654_435_761 % (1 << 32)) % 100 < 15 && !p.is_multiple_of(SEQ)
}

/// A full-length synthetic batch: random ids, segment 0 then 1, ~15% of positions masked.
fn batch() -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = BATCH * SEQ;
    let input_ids: Vec<u32> = (0..n).map(|_| rng.random_range(5..VOCAB as u32)).collect();
    let token_type_ids = (0..n).map(|p| u32::from(p % SEQ >= SEQ / 2)).collect();
    let labels: Vec<i64> = (0..n)
        .map(|p| {
            if is_masked(p) {
                i64::from(input_ids[p])
            } else {
                IGNORE_LABEL
            }
        })
        .collect();
    let masked_positions: Vec<u32> = (0..n as u32).filter(|&p| is_masked(p as usize)).collect();
    let masked_labels = masked_positions
        .iter()
        .map(|&p| input_ids[p as usize])
        .collect();
    Batch {
        batch_size: BATCH,
        seq_len: SEQ,
        input_ids,
        token_type_ids,
        attention_mask: vec![1; n],
        labels,
        masked_positions,
        masked_labels,
        match_flags: None,
    }
}

/// One forward+backward pass of `variant`, in training mode (dropout on, as in PyTorch's
/// `model.train()`).
fn step(
    model: &BertForMaskedLM,
    batch: &BatchTensors,
    all: &BatchTensors,
    full: bool,
) -> Result<()> {
    let mut mode = Mode::train(ChaCha8Rng::seed_from_u64(1));
    let loss = if full {
        let logits = model.forward(all, &mut mode)?;
        mlm_loss(
            &logits.index_select(&batch.masked_positions, 0)?,
            &batch.masked_labels,
        )?
    } else {
        model.loss(batch, &mut mode)?.loss
    };
    loss.backward()?;
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let mut presets: Vec<String> = args.collect();
    if presets.is_empty() {
        presets = vec!["tiny".into(), "small".into()];
    }
    let dev = Device::Cpu;
    let b = batch();
    // The same batch with every position "masked": the decoder then runs over all rows.
    let mut every = b.clone();
    every.masked_positions = (0..(BATCH * SEQ) as u32).collect();
    every.masked_labels = every.input_ids.clone();
    let (tensors, all) = (b.to_tensors(&dev)?, every.to_tensors(&dev)?);
    println!(
        "dapt: batch {BATCH} x {SEQ}, vocab {VOCAB}, {} masked positions, rayon threads {}",
        b.masked_positions.len(),
        rayon::current_num_threads()
    );
    for preset in &presets {
        let config = BertConfig::preset(preset, VOCAB)
            .ok_or_else(|| anyhow::anyhow!("unknown preset {preset}"))?;
        let (model, _) = BertForMaskedLM::new(&config, &dev, Init::Fresh(0))?;
        for (variant, full) in [("gathered", false), ("full_decoder", true)] {
            for _ in 0..2 {
                step(&model, &tensors, &all, full)?; // warm-up: allocator, thread pool
            }
            let mut times = Vec::with_capacity(steps);
            for _ in 0..steps {
                let t = Instant::now();
                step(&model, &tensors, &all, full)?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            let mean = times.iter().sum::<f64>() / steps as f64;
            let min = times.iter().cloned().fold(f64::INFINITY, f64::min);
            let tps = (BATCH * SEQ) as f64 / (mean / 1e3);
            println!("RESULT {preset} {variant} {tps:.0} {mean:.2} {min:.2}");
        }
    }
    Ok(())
}
