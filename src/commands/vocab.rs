//! `dapt vocab`: count word frequencies over corpora and write a BERT vocabulary dir.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args as ClapArgs;

use crate::fsutil::{temp_sibling, TempOutput};
use crate::progress::{info, Progress};
use crate::text::build::{build_vocab, total_bytes};
use crate::text::corpus::Format;
use crate::text::count::ReadOptions;
use crate::text::extend::{extend_vocab, EXTEND_REPORT};
use crate::text::tokenizer;
use crate::text::vocab::{write_files, TokenizerKind, VocabMeta};

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
    /// Extend this checkpoint's (or vocabulary dir's) WordPiece vocabulary instead of
    /// building one: its tokens keep their ids and the --add most frequent corpus words it
    /// splits into two or more pieces are appended (initialised from their pieces by
    /// `dapt pretrain --init-from`)
    #[arg(long, value_name = "DIR", requires = "add", conflicts_with_all = ["max_size", "lowercase", "tokenizer", "rare_placeholders"])]
    pub extend: Option<PathBuf>,
    /// With --extend: how many words to append
    #[arg(long, value_name = "N", requires = "extend")]
    pub add: Option<usize>,
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
    if let (Some(dir), Some(add)) = (&args.extend, args.add) {
        return extend(&args, dir, add, &read);
    }
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

/// `dapt vocab --extend DIR --add N`.
fn extend(args: &Args, dir: &Path, add: usize, read: &ReadOptions) -> Result<()> {
    let ext = extend_vocab(dir, &args.input, read, add, args.min_count)?;
    let tmp = TempOutput::new(temp_sibling(&args.out));
    std::fs::create_dir_all(tmp.path())?;
    write_files(tmp.path(), &ext.tokens, &ext.counts, &ext.meta)?;
    tokenizer::save(&ext.tokenizer, &tmp.path().join("tokenizer.json"))?;
    std::fs::write(
        tmp.path().join(EXTEND_REPORT),
        serde_json::to_string_pretty(&ext)? + "\n",
    )?;
    tmp.commit(&args.out)?;
    let shown: Vec<&str> = ext.added.iter().take(8).map(|w| w.word.as_str()).collect();
    info(format!(
        "vocab: {} + {} words ({} candidates split into 2+ pieces; most frequent: {}) -> {} tokens in {}; tokens per text {:.2} -> {:.2} over {} texts; report in {EXTEND_REPORT}",
        ext.base_size,
        ext.added.len(),
        ext.candidates,
        shown.join(" "),
        ext.tokens.len(),
        args.out.display(),
        ext.tokens_per_text_before,
        ext.tokens_per_text_after,
        ext.texts
    ));
    Ok(())
}
