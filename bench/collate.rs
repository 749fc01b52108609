//! Time to collate one MLM batch (the data side of a pretraining step).
//!
//! `cargo run --release --example collate -- [BATCH] [MAX_LEN]` prints the mean time per
//! batch for each masking strategy, on short synthetic query pairs (6–20 ids per text,
//! Zipf ids over a 21,968-id vocabulary, every id a word, as in the OPPO data). Compare
//! with the time of a training step of the small model on the same machine (issue 4,
//! item 6: collation should cost under 2% of a step).

use std::time::Instant;

use dapt::data::collate::Collator;
use dapt::data::doc::MemDoc;
use dapt::data::mask::{MaskConfig, MaskStrategy, Masker};
use dapt::data::special::SpecialTokens;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let batch = args.first().copied().unwrap_or(32);
    let max_len = args.get(1).copied().unwrap_or(128);
    let vocab = 21_968;
    let special = SpecialTokens::new(vocab, 0)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let text = |rng: &mut ChaCha8Rng| -> Vec<u32> {
        let n = rng.random_range(6..=20);
        (0..n)
            .map(|_| 5 + (rng.random::<f64>().powi(3) * (vocab - 6) as f64) as u32)
            .collect()
    };
    let docs: Vec<MemDoc> = (0..10_000)
        .map(|_| {
            let (a, b) = (text(&mut rng), text(&mut rng));
            MemDoc::pair(&a, &b)
        })
        .collect();
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
        for step in 0..steps {
            let first = (step as usize * batch) % (docs.len() - batch);
            let seqs: Vec<[usize; 1]> = (first..first + batch).map(|d| [d]).collect();
            tokens += collator
                .collate(docs.as_slice(), &seqs, 1, step)
                .input_ids
                .len();
        }
        let per = start.elapsed().as_secs_f64() / steps as f64;
        println!(
            "collate {strategy:>5}: {:.3} ms per batch of {batch} (max_len {max_len}, {:.0} padded tokens/batch)",
            per * 1e3,
            tokens as f64 / steps as f64
        );
    }
    Ok(())
}
