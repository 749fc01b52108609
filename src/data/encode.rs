//! Encoding text corpora into a shard (the work of `dapt encode`).
//!
//! Batches of chunks are encoded in parallel and written in input order, so the shard
//! is identical whatever the thread count, and memory stays at a few chunks in flight.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::ValueEnum;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::collate::longest_first;
use super::shard::{DocBlock, Header, ShardWriter};
use crate::error::InputError;
use crate::text::corpus::{is_blank, parse_line, Chunk};
use crate::text::count::{for_each_batch, ReadOptions};
use crate::text::encode::{EncodedDoc, TextEncoder};
use crate::text::vocab::Vocab;

/// How the two texts of a pair become documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairsAs {
    /// Each text is its own document.
    Single,
    /// One document `[CLS] a [SEP] b [SEP]` (stored as a pair; the collator adds specials).
    Pair,
    /// Both: a, b, then the pair ("single sentences and pairs together").
    Both,
}

/// Blocks kept for reuse: enough for every chunk in flight (two batches of two per
/// thread) on machines of up to 8 threads; more are dropped.
const POOL_BLOCKS: usize = 32;

/// Options of one encoding run.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// How to read the corpora.
    pub read: ReadOptions,
    /// How pairs become documents (ignored for line corpora).
    pub pairs_as: PairsAs,
    /// Longest sequence including `[CLS]`/`[SEP]`; longer documents are truncated
    /// (pairs longest-first, as HF `truncation="longest_first"`).
    pub max_len: Option<usize>,
    /// Rare placeholders to use (`None`: all the vocabulary reserves).
    pub rare_placeholders: Option<usize>,
}

/// What an encoding run wrote.
#[derive(Debug)]
pub struct EncodeStats {
    /// The header of the finished shard.
    pub header: Header,
    /// Non-blank input lines.
    pub lines: u64,
    /// Lines skipped under `skip_bad_lines`.
    pub skipped: u64,
    /// Tokens that became `[UNK]`.
    pub unk: u64,
    /// Tokens that became a rare placeholder.
    pub rare: u64,
    /// Documents cut to `max_len`.
    pub truncated: u64,
    /// Input bytes.
    pub bytes: u64,
}

/// Documents of one chunk, serialised, with what encoding them found.
struct Encoded {
    block: DocBlock,
    lines: u64,
    skipped: u64,
    truncated: u64,
    unk: u64,
    rare: u64,
}

impl Encoded {
    /// Count `[UNK]`s and rare placeholders of one input record.
    fn count_unknown(&mut self, doc: &EncodedDoc, vocab: &Vocab) {
        let (unk, rare) = (vocab.special.unk, &vocab.rare);
        for &id in &doc.ids {
            self.unk += (id == unk) as u64;
            self.rare += (!rare.is_empty() && id >= rare[0] && id <= rare[rare.len() - 1]) as u64;
        }
    }

    /// Add text `t` of `doc` as one document, truncated to `max_len`.
    fn push_single(&mut self, doc: &EncodedDoc, t: usize, max_len: Option<usize>) {
        let mut k = [doc.lens[t]];
        self.truncated += truncate_lens(&mut k, max_len) as u64;
        let from: usize = doc.lens[..t].iter().sum();
        let start = self.block.num_tokens();
        self.block.extend(
            &doc.ids[from..from + k[0]],
            &doc.word_start[from..from + k[0]],
        );
        self.block.add_doc(start, k[0], None);
    }

    /// Add the texts of pair `doc` as the documents `singles` (a, then b) and/or `pair`
    /// asks for, each truncated to `max_len`, sharing one copy of the tokens where the
    /// truncation allows (the pair's text a must be whole for `a b` to be contiguous).
    fn push_pair(&mut self, doc: &EncodedDoc, singles: bool, pair: bool, max_len: Option<usize>) {
        let (la, lb) = (doc.lens[0], doc.lens[1]);
        let (mut ka, mut kb, mut kp) = ([la], [lb], [la, lb]);
        if singles {
            self.truncated += truncate_lens(&mut ka, max_len) as u64;
            self.truncated += truncate_lens(&mut kb, max_len) as u64;
        }
        if pair {
            self.truncated += truncate_lens(&mut kp, max_len) as u64;
        }
        let pair_view = pair && kp[0] == la;
        let a_stored = match (pair_view, singles) {
            (true, _) => la,
            (false, true) => ka[0],
            (false, false) => 0,
        };
        let b_stored = (if singles { kb[0] } else { 0 }).max(if pair_view { kp[1] } else { 0 });
        let start = self.block.num_tokens();
        let (ids, ws) = (&doc.ids, &doc.word_start);
        self.block.extend(&ids[..a_stored], &ws[..a_stored]);
        self.block
            .extend(&ids[la..la + b_stored], &ws[la..la + b_stored]);
        if singles {
            self.block.add_doc(start, ka[0], None);
            self.block.add_doc(start + a_stored as u64, kb[0], None);
        }
        if pair_view {
            self.block.add_doc(start, la + kp[1], Some(la));
        } else if pair {
            let at = self.block.num_tokens();
            self.block.extend(&ids[..kp[0]], &ws[..kp[0]]);
            self.block.extend(&ids[la..la + kp[1]], &ws[la..la + kp[1]]);
            self.block.add_doc(at, kp[0] + kp[1], Some(kp[0]));
        }
    }
}

/// Truncate text lengths in place to `max_len` minus the special tokens (`[CLS]` + one
/// `[SEP]` per text); pairs lose tokens longest-first exactly as the collator (and
/// Hugging Face's fast tokenizers) do. Returns whether anything was cut.
pub fn truncate_lens(lens: &mut [usize], max_len: Option<usize>) -> bool {
    let Some(max_len) = max_len else { return false };
    let budget = max_len.saturating_sub(1 + lens.len());
    let before: usize = lens.iter().sum();
    match lens {
        [a, b] => (*a, *b) = longest_first(*a, *b, budget),
        [a] => *a = (*a).min(budget),
        _ => unreachable!("a document has one or two texts"),
    }
    lens.iter().sum::<usize>() < before
}

fn encode_chunk(
    chunk: &Chunk,
    opts: &EncodeOptions,
    vocab: &Vocab,
    encoder: &TextEncoder,
    block: DocBlock,
) -> Result<Encoded> {
    let text = chunk.check_utf8()?;
    let mut out = Encoded {
        block,
        lines: 0,
        skipped: 0,
        truncated: 0,
        unk: 0,
        rare: 0,
    };
    let mut doc = EncodedDoc::default();
    let mut single = EncodedDoc::default();
    for (line_no, line) in chunk.lines(text) {
        if is_blank(line) {
            continue;
        }
        out.lines += 1;
        let rec = match parse_line(opts.read.format, line) {
            Ok(r) => r,
            Err(_) if opts.read.skip_bad_lines => {
                out.skipped += 1;
                continue;
            }
            Err(m) => return Err(InputError::at_line(&chunk.path, line_no, m).into()),
        };
        match rec.b {
            None => {
                encoder.encode(&[rec.a], &mut doc)?;
                out.count_unknown(&doc, vocab);
                out.push_single(&doc, 0, opts.max_len);
            }
            Some(b) => {
                encoder.encode(&[rec.a, b], &mut doc)?;
                out.count_unknown(&doc, vocab);
                let singles = opts.pairs_as != PairsAs::Pair;
                let pair = opts.pairs_as != PairsAs::Single;
                if singles && doc.used_rare {
                    // Placeholders are numbered per document: encode each text alone.
                    for text in [rec.a, b] {
                        encoder.encode(&[text], &mut single)?;
                        out.push_single(&single, 0, opts.max_len);
                    }
                    out.push_pair(&doc, false, pair, opts.max_len);
                } else {
                    out.push_pair(&doc, singles, pair, opts.max_len);
                }
            }
        }
    }
    Ok(out)
}

/// Encode `paths` with `vocab` into a new shard at `out` (written atomically).
pub fn encode_corpus(
    paths: &[PathBuf],
    vocab: &Vocab,
    opts: &EncodeOptions,
    out: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<EncodeStats> {
    let encoder = TextEncoder::new(vocab, opts.rare_placeholders)?;
    let mut writer = ShardWriter::create(out, vocab.len(), &vocab.sha256)?;
    let (mut lines, mut skipped, mut truncated, mut bytes, mut unk, mut rare) = (0, 0, 0, 0, 0, 0);
    // A writer thread appends batch N while the workers encode batch N + 1: appending
    // is serial, and without the overlap the cores would idle during it.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Encoded>>(1);
    // Written blocks go back to the workers: reusing their buffers keeps peak memory
    // flat however long the corpus (fresh multi-MB buffers per chunk fragmented the
    // allocator's arenas: +25% RSS from 256 MB to 1 GB of input).
    let pool = std::sync::Mutex::new(Vec::<DocBlock>::new());
    std::thread::scope(|scope| -> Result<()> {
        let written = scope.spawn(|| -> Result<()> {
            for batch in rx {
                for e in batch {
                    writer.append(&e.block)?;
                    let mut pool = pool.lock().expect("block pool lock");
                    if pool.len() < POOL_BLOCKS {
                        pool.push(e.block);
                    }
                }
            }
            Ok(())
        });
        let encoded = for_each_batch(
            paths,
            opts.read.header,
            2 * rayon::current_num_threads(),
            |chunks| {
                let encoded: Vec<Encoded> = chunks
                    .par_iter()
                    .map(|c| {
                        let block = pool.lock().expect("block pool lock").pop();
                        let mut block = block.unwrap_or_else(|| DocBlock::new(vocab.len()));
                        block.clear();
                        encode_chunk(c, opts, vocab, &encoder, block)
                    })
                    .collect::<Result<_>>()?;
                for (e, c) in encoded.iter().zip(chunks) {
                    lines += e.lines;
                    skipped += e.skipped;
                    truncated += e.truncated;
                    unk += e.unk;
                    rare += e.rare;
                    bytes += c.data.len() as u64;
                    progress(c.data.len() as u64);
                }
                // A closed channel means the writer failed: its error is reported below.
                tx.send(encoded).or(Ok(()))
            },
        );
        drop(tx);
        let written = written.join().expect("shard writer thread panicked");
        encoded.and(written)
    })?;
    if writer.num_docs() == 0 {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        crate::bad_input!(
            "{}: empty corpus: no documents to encode; check --input and --format",
            names.join(", ")
        );
    }
    let header = writer.finish(out)?;
    Ok(EncodeStats {
        header,
        lines,
        skipped,
        unk,
        rare,
        truncated,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::truncate_lens;

    #[test]
    fn truncation_counts_special_tokens() {
        // max_len 10: budget 7 for a pair (CLS + 2 SEP), 8 for a single text.
        let cut = |mut lens: Vec<usize>, max_len| (truncate_lens(&mut lens, max_len), lens);
        assert_eq!(cut(vec![6, 3], Some(10)), (true, vec![4, 3]));
        assert_eq!(cut(vec![12], Some(10)), (true, vec![8]));
        assert_eq!(cut(vec![3, 2], Some(10)), (false, vec![3, 2]));
        assert_eq!(cut(vec![30, 20], None), (false, vec![30, 20]));
    }
}
