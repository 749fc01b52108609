//! `dapt vocab`: count word frequencies over corpora and write a BERT vocabulary dir.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;

use crate::fsutil::{temp_sibling, TempOutput};
use crate::text::build::{build_vocab, total_bytes};
use crate::text::corpus::Format;
use crate::text::count::ReadOptions;
use crate::text::tokenizer;
use crate::text::vocab::{write_files, TokenizerKind, VocabMeta};
use crate::train::progress::{info, Progress};

/// Count word frequencies and write `vocab.txt`, `counts.tsv`, `tokenizer.json`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Corpus files to count (pair TSV or line corpora)
    #[arg(long, num_args = 1.., required = true, value_name = "FILE")]
    pub input: Vec<PathBuf>,
    /// Layout of the corpus files
    #[arg(long, value_enum, default_value = "pairs")]
    pub format: Format,
    /// Keep only words seen at least this many times
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub min_count: u64,
    /// Largest vocabulary, special tokens included (default: no limit)
    #[arg(long, value_name = "N")]
    pub max_size: Option<usize>,
    /// Lowercase text before counting and lookup
    #[arg(long)]
    pub lowercase: bool,
    /// wordlevel: one token per whitespace word (desensitized id corpora);
    /// wordpiece: BERT sub-words (natural text)
    #[arg(long, value_enum, default_value = "wordlevel")]
    pub tokenizer: TokenizerKind,
    /// Reserve placeholders [RARE0]..[RARE{N-1}] for out-of-vocabulary words (see `dapt encode`)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub rare_placeholders: usize,
    /// The first line of each file is a header
    #[arg(long)]
    pub header: bool,
    /// Skip malformed lines (and report how many) instead of failing
    #[arg(long)]
    pub skip_bad_lines: bool,
    /// Output vocabulary directory (replaced atomically)
    #[arg(long, default_value = "vocab", value_name = "DIR")]
    pub out: PathBuf,
}

/// Run `dapt vocab`.
pub fn run(args: Args) -> Result<()> {
    let read = ReadOptions {
        format: args.format,
        header: args.header,
        skip_bad_lines: args.skip_bad_lines,
    };
    let meta = VocabMeta {
        tokenizer: args.tokenizer,
        lowercase: args.lowercase,
        rare_placeholders: args.rare_placeholders,
        min_count: args.min_count,
        max_size: args.max_size,
    };
    let progress = Progress::bytes("counting", total_bytes(&args.input));
    let built = build_vocab(&args.input, &read, &meta, &|n| progress.inc(n))?;
    progress.finish();

    let tmp = TempOutput::new(temp_sibling(&args.out));
    std::fs::create_dir_all(tmp.path())?;
    write_files(tmp.path(), &built.tokens, &built.counts, &meta)?;
    tokenizer::save(&built.tokenizer, &tmp.path().join("tokenizer.json"))?;
    tmp.commit(&args.out)?;

    let s = &built.stats;
    let secs = progress.elapsed();
    info(format!(
        "vocab: {} lines ({} skipped), {} words, {} distinct -> {} tokens in {} ({:.1}% of occurrences covered)",
        s.lines,
        s.skipped,
        s.words,
        s.counts.len(),
        built.tokens.len(),
        args.out.display(),
        100.0 * built.covered as f64 / built.occurrences.max(1) as f64,
    ));
    info(format!(
        "vocab: {:.1} MB in {secs:.2}s ({:.0} MB/s)",
        s.bytes as f64 / 1e6,
        s.bytes as f64 / 1e6 / secs.max(1e-9)
    ));
    Ok(())
}
