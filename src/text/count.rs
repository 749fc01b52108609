//! Streaming, parallel word counting over corpora (the first half of `dapt vocab`).
//!
//! Files are read in newline-aligned chunks; each batch of chunks is counted in
//! parallel into per-thread [`TokenMap`]s that are merged at the end. Memory is the
//! count table plus a few chunks in flight, whatever the corpus size.

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Result;
use rayon::prelude::*;

use super::corpus::{for_each_word, is_blank, parse_line, Chunk, ChunkReader, Format, CHUNK_BYTES};
use super::table::TokenMap;
use crate::error::InputError;

/// How to read the corpora.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Pair TSV or one document per line.
    pub format: Format,
    /// The first line of every file is a header to skip.
    pub header: bool,
    /// Count malformed lines instead of failing on the first.
    pub skip_bad_lines: bool,
}

/// Calls `f` with every text (`a`, then `b`) of the records of `chunk`: blank lines
/// skipped, malformed ones skipped under `skip_bad_lines` or reported with file and line.
/// `f` may stop the walk early with `ControlFlow::Break`.
pub fn for_each_text<'a>(
    chunk: &Chunk,
    text: &'a str,
    read: &ReadOptions,
    mut f: impl FnMut(&'a str) -> Result<ControlFlow<()>>,
) -> Result<ControlFlow<()>> {
    for (line_no, line) in chunk.lines(text) {
        if is_blank(line) {
            continue;
        }
        let rec = match parse_line(read.format, line) {
            Ok(r) => r,
            Err(_) if read.skip_bad_lines => continue,
            Err(m) => return Err(InputError::at_line(&chunk.path, line_no, m).into()),
        };
        for t in std::iter::once(rec.a).chain(rec.b) {
            if f(t)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// A parallel fold over every text of the corpora: each chunk folds its texts into a
/// fresh `init()` with `per_text`, and `merge` receives the chunks' results in order.
pub fn fold_texts<T: Send>(
    paths: &[PathBuf],
    read: &ReadOptions,
    init: impl Fn() -> T + Sync,
    per_text: impl Fn(&mut T, &str) -> Result<()> + Sync,
    mut merge: impl FnMut(T),
) -> Result<()> {
    for_each_batch(
        paths,
        read.header,
        2 * rayon::current_num_threads(),
        |chunks| {
            let parts = chunks
                .par_iter()
                .map(|chunk| -> Result<T> {
                    let mut acc = init();
                    let text = chunk.check_utf8()?;
                    // Never breaks: every text is folded.
                    let _ = for_each_text(chunk, text, read, |t| {
                        per_text(&mut acc, t)?;
                        Ok(ControlFlow::Continue(()))
                    })?;
                    Ok(acc)
                })
                .collect::<Result<Vec<_>>>()?;
            parts.into_iter().for_each(&mut merge);
            Ok(())
        },
    )
}

/// What counting found.
#[derive(Debug, Default)]
pub struct WordCounts {
    /// Every distinct word with its count, by descending count then by word (bytewise),
    /// the order of the tokenizers crate's `WordLevelTrainer`.
    pub counts: Vec<(String, u64)>,
    /// Non-blank lines read (including skipped ones).
    pub lines: u64,
    /// Malformed lines skipped under `skip_bad_lines`.
    pub skipped: u64,
    /// Words counted.
    pub words: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// Counts of one chunk (`C = u32`: a chunk holds far fewer than 2^32 words, and the
/// smaller table stays in cache) or of everything so far (`C = u64`).
#[derive(Default)]
struct Partial<C> {
    map: TokenMap<C>,
    lines: u64,
    skipped: u64,
    words: u64,
    bytes: u64,
}

impl Partial<u64> {
    fn add(&mut self, other: Partial<u32>) {
        self.map.merge(other.map);
        self.lines += other.lines;
        self.skipped += other.skipped;
        self.words += other.words;
        self.bytes += other.bytes;
    }
}

/// Calls `f` with batches of chunks read in order from `paths`, one batch per
/// `per_batch` chunks: the unit of parallel work for counting and encoding. A reader
/// thread reads ahead (at most one batch) while `f` works, so I/O overlaps compute;
/// the buffers of spent chunks go back to it for reuse.
pub fn for_each_batch(
    paths: &[PathBuf],
    header: bool,
    per_batch: usize,
    mut f: impl FnMut(&[Chunk]) -> Result<()>,
) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Chunk>>(per_batch);
    let (spent_tx, spent_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for path in paths {
                let mut reader = match ChunkReader::open(path, CHUNK_BYTES) {
                    Ok(r) => r,
                    Err(e) => return drop(tx.send(Err(e))),
                };
                let mut first = true;
                loop {
                    let buf = spent_rx.try_recv().unwrap_or_default();
                    let next = match reader.next_chunk_into(buf) {
                        Ok(Some(mut chunk)) => {
                            if header && first {
                                skip_first_line(&mut chunk);
                            }
                            first = false;
                            Ok(chunk)
                        }
                        Ok(None) => break,
                        Err(e) => Err(e),
                    };
                    let failed = next.is_err();
                    // A closed channel means the consumer stopped on an error: stop too.
                    if tx.send(next).is_err() || failed {
                        return;
                    }
                }
            }
        });
        let mut batch = Vec::with_capacity(per_batch);
        let spend = |batch: &mut Vec<Chunk>| {
            for chunk in batch.drain(..) {
                // The reader may have finished: then the buffer is simply dropped.
                let _ = spent_tx.send(chunk.data);
            }
        };
        for chunk in rx {
            batch.push(chunk?);
            if batch.len() == per_batch {
                f(&batch)?;
                spend(&mut batch);
            }
        }
        if !batch.is_empty() {
            f(&batch)?;
        }
        Ok(())
    })
}

fn skip_first_line(chunk: &mut Chunk) {
    let cut = memchr::memchr(b'\n', &chunk.data).map_or(chunk.data.len(), |p| p + 1);
    chunk.data.drain(..cut);
    chunk.offset += cut as u64;
    chunk.first_line += 1;
}

/// Count the words of every text in `paths`. `lowercase` folds case first (Unicode).
///
/// `progress` is called with the bytes read after each batch.
pub fn count_words(
    paths: &[PathBuf],
    opts: &ReadOptions,
    lowercase: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<WordCounts> {
    let per_batch = 2 * rayon::current_num_threads();
    let mut total = Partial::<u64>::default();
    for_each_batch(paths, opts.header, per_batch, |batch| {
        let parts: Vec<Partial<u32>> = batch
            .par_iter()
            .map(|chunk| count_chunk(chunk, opts, lowercase))
            .collect::<Result<_>>()?;
        for part in parts {
            progress(part.bytes);
            total.add(part);
        }
        Ok(())
    })?;
    if total.words == 0 {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        crate::bad_input!(
            "{}: empty corpus: no words found in {} line(s); check --input and --format",
            names.join(", "),
            total.lines
        );
    }
    let mut counts: Vec<(String, u64)> = total
        .map
        .into_vec()
        .into_iter()
        // Chunks were checked to be UTF-8 and words are split at character boundaries.
        .map(|(k, v)| (String::from_utf8(k).expect("words are valid UTF-8"), v))
        .collect();
    counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(WordCounts {
        counts,
        lines: total.lines,
        skipped: total.skipped,
        words: total.words,
        bytes: total.bytes,
    })
}

fn count_chunk(chunk: &Chunk, opts: &ReadOptions, lowercase: bool) -> Result<Partial<u32>> {
    let text = chunk.check_utf8()?;
    let mut part = Partial {
        bytes: chunk.data.len() as u64,
        ..Partial::default()
    };
    for (line_no, line) in chunk.lines(text) {
        if is_blank(line) {
            continue;
        }
        part.lines += 1;
        let record = match parse_line(opts.format, line) {
            Ok(r) => r,
            Err(_) if opts.skip_bad_lines => {
                part.skipped += 1;
                continue;
            }
            Err(msg) => return Err(InputError::at_line(&chunk.path, line_no, msg).into()),
        };
        for text in std::iter::once(record.a).chain(record.b) {
            part.words += count_text(&mut part.map, text, lowercase);
        }
    }
    Ok(part)
}

#[inline]
fn count_text(map: &mut TokenMap<u32>, text: &str, lowercase: bool) -> u64 {
    let lowered;
    let text = if lowercase {
        lowered = text.to_lowercase();
        &lowered
    } else {
        text
    };
    let mut n = 0;
    // The closure is passed by value so that it inlines into the word scanner.
    for_each_word(text, |w, int| {
        match int {
            Some(v) => *map.entry_int(v, || 0) += 1,
            None => *map.entry(w, || 0) += 1,
        }
        n += 1;
    });
    n
}
