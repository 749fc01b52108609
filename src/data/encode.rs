//! Encoding text corpora into a shard (the work of `dapt encode`).
//!
//! Batches of chunks are encoded in parallel and written in input order, so the shard
//! is identical whatever the thread count, and memory stays at a few chunks in flight.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::ValueEnum;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::shard::{Header, ShardWriter};
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

/// Documents of one chunk, flattened, in order.
#[derive(Default)]
struct Encoded {
    ids: Vec<u32>,
    word_start: Vec<bool>,
    /// (length, split) per document.
    docs: Vec<(usize, Option<usize>)>,
    lines: u64,
    skipped: u64,
    truncated: u64,
}

impl Encoded {
    fn push(&mut self, doc: &EncodedDoc, texts: &[usize], max_len: Option<usize>) {
        let lens: Vec<usize> = texts.iter().map(|&t| doc.lens[t]).collect();
        let kept = truncate_lens(&lens, max_len);
        if kept != lens {
            self.truncated += 1;
        }
        let mut len = 0;
        for (&t, &k) in texts.iter().zip(&kept) {
            let start: usize = doc.lens[..t].iter().sum();
            self.ids.extend_from_slice(&doc.ids[start..start + k]);
            self.word_start
                .extend_from_slice(&doc.word_start[start..start + k]);
            len += k;
        }
        let split = (texts.len() == 2).then_some(kept[0]);
        self.docs.push((len, split));
    }
}

/// Lengths after truncating to `max_len` minus the special tokens (`[CLS]` + one `[SEP]`
/// per text), removing from the longer text first (ties: the second, as HF does).
pub fn truncate_lens(lens: &[usize], max_len: Option<usize>) -> Vec<usize> {
    let mut kept = lens.to_vec();
    let Some(max_len) = max_len else { return kept };
    let budget = max_len.saturating_sub(1 + lens.len());
    while kept.iter().sum::<usize>() > budget {
        let longest = if kept.len() == 2 && kept[0] > kept[1] {
            0
        } else {
            kept.len() - 1
        };
        kept[longest] -= 1;
    }
    kept
}

fn encode_chunk(chunk: &Chunk, opts: &EncodeOptions, encoder: &TextEncoder) -> Result<Encoded> {
    let text = chunk.check_utf8()?;
    let mut out = Encoded::default();
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
                out.push(&doc, &[0], opts.max_len);
            }
            Some(b) => {
                encoder.encode(&[rec.a, b], &mut doc)?;
                if opts.pairs_as != PairsAs::Pair {
                    if doc.used_rare {
                        // Placeholders are numbered per document: encode each text alone.
                        for text in [rec.a, b] {
                            encoder.encode(&[text], &mut single)?;
                            out.push(&single, &[0], opts.max_len);
                        }
                    } else {
                        out.push(&doc, &[0], opts.max_len);
                        out.push(&doc, &[1], opts.max_len);
                    }
                }
                if opts.pairs_as != PairsAs::Single {
                    out.push(&doc, &[0, 1], opts.max_len);
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
    let rare_range = vocab.rare.first().copied().zip(vocab.rare.last().copied());
    for_each_batch(
        paths,
        opts.read.header,
        2 * rayon::current_num_threads(),
        |chunks| {
            let encoded: Vec<Encoded> = chunks
                .par_iter()
                .map(|c| encode_chunk(c, opts, &encoder))
                .collect::<Result<_>>()?;
            for (e, c) in encoded.iter().zip(&chunks) {
                let mut at = 0;
                for &(len, split) in &e.docs {
                    writer.push(&e.ids[at..at + len], &e.word_start[at..at + len], split)?;
                    at += len;
                }
                for &id in &e.ids {
                    unk += (id == vocab.special.unk) as u64;
                    rare += rare_range.is_some_and(|(lo, hi)| id >= lo && id <= hi) as u64;
                }
                lines += e.lines;
                skipped += e.skipped;
                truncated += e.truncated;
                bytes += c.data.len() as u64;
                progress(c.data.len() as u64);
            }
            Ok(())
        },
    )?;
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
    fn longest_first_truncation_by_hand() {
        // max_len 10: budget 7 for a pair (CLS + 2 SEP), 8 for a single text.
        assert_eq!(truncate_lens(&[6, 3], Some(10)), [4, 3]);
        assert_eq!(truncate_lens(&[5, 5], Some(10)), [4, 3]);
        assert_eq!(truncate_lens(&[2, 9], Some(10)), [2, 5]);
        assert_eq!(truncate_lens(&[12], Some(10)), [8]);
        assert_eq!(truncate_lens(&[3, 2], Some(10)), [3, 2]);
        assert_eq!(truncate_lens(&[3, 2], None), [3, 2]);
    }
}
