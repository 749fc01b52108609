//! Generate a desensitized-style pair corpus for benchmarks: integer-id words drawn from a
//! Zipf distribution (as word frequencies are), text lengths like OPPO's queries
//! (mean ~6.2 ids), `a<TAB>b<TAB>label` lines.
//!
//! `cargo run --release --example gen_corpus -- OUT.tsv SIZE_MB [SEED]`

use std::io::{BufWriter, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Vocabulary size and Zipf exponent: OPPO's ids go up to ~22k.
const VOCAB: usize = 22_000;
const ZIPF_S: f64 = 1.05;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: gen_corpus OUT.tsv SIZE_MB [SEED]");
        std::process::exit(2);
    }
    let target = args[2].parse::<u64>().expect("SIZE_MB is a number") << 20;
    let seed = args
        .get(3)
        .map_or(0, |s| s.parse().expect("SEED is a number"));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Cumulative Zipf weights; ids are 1-based like OPPO's.
    let mut cdf = Vec::with_capacity(VOCAB);
    let mut acc = 0.0;
    for k in 1..=VOCAB {
        acc += 1.0 / (k as f64).powf(ZIPF_S);
        cdf.push(acc);
    }
    let mut out = BufWriter::with_capacity(1 << 22, std::fs::File::create(&args[1])?);
    let mut written = 0u64;
    let mut line = Vec::with_capacity(256);
    while written < target {
        line.clear();
        for _ in 0..2 {
            // 1 + Binomial(13, 0.4): mean 6.2 ids per text.
            let len = 1 + (0..13).filter(|_| rng.random_bool(0.4)).count();
            for i in 0..len {
                let u = rng.random::<f64>() * acc;
                let id = cdf.partition_point(|&c| c < u) + 1;
                if i > 0 {
                    line.push(b' ');
                }
                line.extend_from_slice(id.to_string().as_bytes());
            }
            line.push(b'\t');
        }
        line.push(b'0' + rng.random_range(0..2u8));
        line.push(b'\n');
        out.write_all(&line)?;
        written += line.len() as u64;
    }
    out.flush()
}
