//! `dapt encode`: turn text corpora into a memory-mapped shard.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;

use crate::data::append;
use crate::data::encode::{encode_corpus, EncodeOptions, PairsAs};
use crate::data::shards::input_files;
use crate::progress::{info, Progress};
use crate::text::build::total_bytes;
use crate::text::corpus::Format;
use crate::text::count::ReadOptions;
use crate::text::vocab::Vocab;

/// Encode corpora into a `.shard` of token ids, document offsets and word starts.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Vocabulary directory (from `dapt vocab`, or a checkpoint dir with vocab.txt)
    #[arg(long, default_value = "vocab", value_name = "DIR")]
    pub vocab: PathBuf,
    /// Corpus files to encode, in order; a quoted glob pattern (e.g. 'incoming/*.tsv')
    /// gives its matches sorted by name
    #[arg(long, num_args = 1.., required = true, value_name = "FILE|GLOB")]
    pub input: Vec<PathBuf>,
    /// Layout of the corpus files
    #[arg(long, value_enum, default_value = "pairs")]
    pub format: Format,
    /// Output shard file (written atomically); with --append, a shard dir
    #[arg(long, value_name = "FILE.shard|DIR")]
    pub out: PathBuf,
    /// Treat --out as a shard dir that grows: encode only the inputs not encoded into it
    /// before (stamped in DIR/encoded.json by path, size, mtime and sha256) into a new
    /// DIR/part-NNNNN.shard; give `dapt pretrain --corpus DIR` to read them all
    #[arg(long)]
    pub append: bool,
    /// Truncate documents to this many tokens including [CLS]/[SEP] (pairs longest-first)
    #[arg(long, value_name = "N")]
    pub max_len: Option<usize>,
    /// Pairs become: single (two documents), pair ([CLS] a [SEP] b [SEP]) or both
    #[arg(long, value_enum, default_value = "both")]
    pub pairs_as: PairsAs,
    /// Rare placeholders to use per document (default: all the vocabulary reserves; 0: plain [UNK])
    #[arg(long, value_name = "N")]
    pub rare_placeholders: Option<usize>,
    /// The first line of each file is a header
    #[arg(long)]
    pub header: bool,
    /// Skip malformed lines (and report how many) instead of failing
    #[arg(long)]
    pub skip_bad_lines: bool,
}

/// Run `dapt encode`.
pub fn run(mut args: Args) -> Result<()> {
    args.input = input_files(&args.input)?;
    let vocab = Vocab::load(&args.vocab)?;
    let opts = EncodeOptions {
        read: ReadOptions {
            format: args.format,
            header: args.header,
            skip_bad_lines: args.skip_bad_lines,
        },
        pairs_as: args.pairs_as,
        max_len: args.max_len,
        rare_placeholders: args.rare_placeholders,
    };
    let (inputs, out, plan) = if args.append {
        let _lock = crate::lock::lock_dir(&args.out)?;
        let plan = append::plan(&args.out, &args.input)?;
        if plan.new.is_empty() {
            info(format!(
                "encode: every input is already in {}; nothing to add",
                args.out.display()
            ));
            return plan.commit(&args.out);
        }
        info(format!(
            "encode: {} of {} inputs are new; encoding them into {}",
            plan.new.len(),
            args.input.len(),
            plan.shard.display()
        ));
        (plan.new.clone(), plan.shard.clone(), Some((plan, _lock)))
    } else {
        (args.input.clone(), args.out.clone(), None)
    };
    let progress = Progress::bytes("encoding", total_bytes(&inputs));
    let stats = encode_corpus(&inputs, &vocab, &opts, &out, &|n| progress.inc(n))?;
    progress.finish();
    if let Some((plan, _lock)) = plan {
        plan.commit(&args.out)?;
    }
    let h = &stats.header;
    let secs = progress.elapsed();
    info(format!(
        "encode: {} lines ({} skipped) -> {} documents ({} pairs), {} tokens ({} [UNK], {} rare placeholders, {} documents truncated) in {}",
        stats.lines, stats.skipped, h.num_docs, h.num_pairs, h.num_tokens, stats.unk, stats.rare, stats.truncated,
        out.display()
    ));
    info(format!(
        "encode: {:.1} MB in {secs:.2}s ({:.0} MB/s)",
        stats.bytes as f64 / 1e6,
        stats.bytes as f64 / 1e6 / secs.max(1e-9)
    ));
    Ok(())
}
