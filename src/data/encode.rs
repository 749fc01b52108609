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

    /// Add the texts `texts` (indices into `doc`'s texts: one, or two for a pair) of
    /// `doc` as one document, truncated to `max_len`.
    fn push(&mut self, doc: &EncodedDoc, texts: &[usize], max_len: Option<usize>) {
        let mut kept = [0usize; 2];
        let kept = &mut kept[..texts.len()];
        for (k, &t) in kept.iter_mut().zip(texts) {
            *k = doc.lens[t];
        }
        self.truncated += truncate_lens(kept, max_len) as u64;
        for (&t, &k) in texts.iter().zip(kept.iter()) {
            let start: usize = doc.lens[..t].iter().sum();
            self.block.extend(
                &doc.ids[start..start + k],
                &doc.word_start[start..start + k],
            );
        }
        self.block.end_doc((texts.len() == 2).then_some(kept[0]));
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
) -> Result<Encoded> {
    let text = chunk.check_utf8()?;
    let mut out = Encoded {
        block: DocBlock::new(vocab.len()),
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
                out.push(&doc, &[0], opts.max_len);
            }
            Some(b) => {
                encoder.encode(&[rec.a, b], &mut doc)?;
                out.count_unknown(&doc, vocab);
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
    for_each_batch(
        paths,
        opts.read.header,
        2 * rayon::current_num_threads(),
        |chunks| {
            let encoded: Vec<Encoded> = chunks
                .par_iter()
                .map(|c| encode_chunk(c, opts, vocab, &encoder))
                .collect::<Result<_>>()?;
            for (e, c) in encoded.iter().zip(&chunks) {
                writer.append(&e.block)?;
                lines += e.lines;
                skipped += e.skipped;
                truncated += e.truncated;
                unk += e.unk;
                rare += e.rare;
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
    fn truncation_counts_special_tokens() {
        // max_len 10: budget 7 for a pair (CLS + 2 SEP), 8 for a single text.
        let cut = |mut lens: Vec<usize>, max_len| (truncate_lens(&mut lens, max_len), lens);
        assert_eq!(cut(vec![6, 3], Some(10)), (true, vec![4, 3]));
        assert_eq!(cut(vec![12], Some(10)), (true, vec![8]));
        assert_eq!(cut(vec![3, 2], Some(10)), (false, vec![3, 2]));
        assert_eq!(cut(vec![30, 20], None), (false, vec![30, 20]));
    }
}
