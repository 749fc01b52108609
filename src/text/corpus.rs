//! Corpus readers: pair TSV and line corpora, read in newline-aligned chunks.
//!
//! Files are read (not memory-mapped) in chunks of a few MB so that memory stays bounded
//! by the chunk size whatever the corpus size, and chunks can be processed in parallel.
//! Every chunk knows its byte offset and first line number, so errors point at
//! `file:line` exactly.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::error::InputError;

/// How a corpus file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `text_a<TAB>text_b[<TAB>label]` per line.
    Pairs,
    /// One document per line.
    Lines,
}

/// Default chunk size: large enough to amortise per-chunk work, small enough that
/// a few in flight per core stay far below any corpus size.
pub const CHUNK_BYTES: usize = 4 << 20;

/// A run of whole lines of one file.
#[derive(Debug)]
pub struct Chunk {
    /// The file the lines come from.
    pub path: PathBuf,
    /// The bytes, ending with a newline (or at end of file).
    pub data: Vec<u8>,
    /// Byte offset of `data[0]` in the file.
    pub offset: u64,
    /// 1-based line number of the first line.
    pub first_line: u64,
    /// Index of the chunk in the file (chunks are numbered in order).
    pub index: usize,
}

impl Chunk {
    /// Check the chunk is valid UTF-8; the error names the line and byte offset.
    pub fn check_utf8(&self) -> Result<&str> {
        std::str::from_utf8(&self.data).map_err(|e| {
            let at = e.valid_up_to();
            let line = self.first_line + memchr::memchr_iter(b'\n', &self.data[..at]).count() as u64;
            anyhow::Error::new(InputError::at_line(
                &self.path,
                line,
                format!(
                    "invalid UTF-8 at byte offset {} of the file; re-encode it as UTF-8 (e.g. iconv -f GBK -t UTF-8)",
                    self.offset + at as u64
                ),
            ))
        })
    }

    /// The lines of the chunk with their 1-based line numbers (line ends and a
    /// trailing `\r` removed).
    pub fn lines<'a>(&self, text: &'a str) -> impl Iterator<Item = (u64, &'a str)> + 'a {
        let first = self.first_line;
        text.split_terminator('\n')
            .enumerate()
            .map(move |(i, l)| (first + i as u64, l.strip_suffix('\r').unwrap_or(l)))
    }
}

/// Reads a file as a sequence of newline-aligned [`Chunk`]s.
pub struct ChunkReader {
    path: PathBuf,
    file: File,
    carry: Vec<u8>,
    offset: u64,
    line: u64,
    index: usize,
    chunk_bytes: usize,
    done: bool,
}

impl ChunkReader {
    /// Open `path`; an unreadable path is an input error.
    pub fn open(path: &Path, chunk_bytes: usize) -> Result<Self> {
        let file = File::open(path).map_err(|e| {
            InputError::at_path(
                path,
                format!("cannot open: {e}; check the path and permissions"),
            )
        })?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(InputError::at_path(path, "is a directory, expected a corpus file").into());
        }
        Ok(ChunkReader {
            path: path.to_path_buf(),
            file,
            carry: Vec::new(),
            offset: 0,
            line: 1,
            index: 0,
            chunk_bytes,
            done: false,
        })
    }

    /// The next chunk, or `None` at end of file.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        let mut data = std::mem::take(&mut self.carry);
        let start = data.len();
        data.resize(start.max(self.chunk_bytes), 0);
        let mut filled = start;
        while filled < data.len() {
            let n = self
                .file
                .read(&mut data[filled..])
                .with_context(|| format!("reading {}", self.path.display()))?;
            if n == 0 {
                self.done = true;
                break;
            }
            filled += n;
        }
        data.truncate(filled);
        if !self.done {
            match memchr::memrchr(b'\n', &data) {
                Some(pos) => self.carry = data.split_off(pos + 1),
                // A single line longer than the chunk: grow and keep reading.
                None => {
                    self.carry = data;
                    self.chunk_bytes *= 2;
                    return self.next_chunk();
                }
            }
        }
        if data.is_empty() {
            return Ok(None);
        }
        let chunk = Chunk {
            path: self.path.clone(),
            offset: self.offset,
            first_line: self.line,
            index: self.index,
            data,
        };
        self.offset += chunk.data.len() as u64;
        self.line += memchr::memchr_iter(b'\n', &chunk.data).count() as u64;
        self.index += 1;
        Ok(Some(chunk))
    }
}

/// One record of a corpus: a single text, or a pair with an optional label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The first (or only) text.
    pub a: &'a str,
    /// The second text of a pair.
    pub b: Option<&'a str>,
    /// The label column, if present.
    pub label: Option<i64>,
}

/// Parse one line in `format`. Errors say which field is wrong and how to fix it.
pub fn parse_line(format: Format, line: &str) -> std::result::Result<Record<'_>, String> {
    match format {
        Format::Lines => Ok(Record {
            a: line,
            b: None,
            label: None,
        }),
        Format::Pairs => {
            let mut fields = line.split('\t');
            let a = fields.next().unwrap_or("");
            let Some(b) = fields.next() else {
                return Err(
                    "expected 2 or 3 TAB-separated fields (text_a, text_b[, label]), found 1; \
                     use --format lines for one text per line"
                        .to_string(),
                );
            };
            let label = match fields.next() {
                None => None,
                Some(l) => Some(l.trim().parse::<i64>().map_err(|_| {
                    format!(
                        "field 3 (label): {l:?} is not an integer; labels are class ids 0, 1, ..."
                    )
                })?),
            };
            if fields.next().is_some() {
                let n = line.split('\t').count();
                return Err(format!(
                    "expected 2 or 3 TAB-separated fields (text_a, text_b[, label]), found {n}; \
                     a text may not contain a TAB"
                ));
            }
            Ok(Record {
                a,
                b: Some(b),
                label,
            })
        }
    }
}

/// Split a text into whitespace-separated words (Unicode whitespace, as the tokenizers
/// crate's `WhitespaceSplit`).
pub fn words(text: &str) -> impl Iterator<Item = &[u8]> {
    WordIter {
        rest: text.as_bytes(),
        ascii: text.is_ascii(),
        text,
    }
}

/// Whitespace splitting that stays on bytes for ASCII text (the common, hot case) and
/// decodes characters only when the text has non-ASCII whitespace candidates.
struct WordIter<'a> {
    rest: &'a [u8],
    ascii: bool,
    text: &'a str,
}

#[inline]
fn is_ascii_ws(b: u8) -> bool {
    // Exactly the ASCII members of Unicode White_Space (what `char::is_whitespace` says).
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

impl<'a> Iterator for WordIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.ascii {
            let start = self.rest.iter().position(|&b| !is_ascii_ws(b))?;
            let rest = &self.rest[start..];
            let end = rest
                .iter()
                .position(|&b| is_ascii_ws(b))
                .unwrap_or(rest.len());
            self.rest = &rest[end..];
            Some(&rest[..end])
        } else {
            // Offsets into the original text: `rest` is always a suffix of it.
            let consumed = self.text.len() - self.rest.len();
            let tail = &self.text[consumed..];
            let start = tail.find(|c: char| !c.is_whitespace())?;
            let word_tail = &tail[start..];
            let end = word_tail
                .find(char::is_whitespace)
                .unwrap_or(word_tail.len());
            self.rest = &word_tail.as_bytes()[end..];
            Some(&word_tail.as_bytes()[..end])
        }
    }
}

/// Whether a line holds nothing but whitespace (skipped by every reader).
pub fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_unicode_whitespace() {
        let w = |s: &str| {
            words(s)
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(w("  12 3\t45\u{b}6 "), ["12", "3", "45", "6"]);
        // U+3000 (ideographic space) and U+00A0 are whitespace; U+200B is not.
        assert_eq!(
            w("你好\u{3000}世界\u{a0}x\u{200b}y"),
            ["你好", "世界", "x\u{200b}y"]
        );
        assert!(w(" \t ").is_empty());
    }

    #[test]
    fn pair_lines_parse_or_say_what_is_wrong() {
        let r = parse_line(Format::Pairs, "a b\tc\t1").unwrap();
        assert_eq!((r.a, r.b, r.label), ("a b", Some("c"), Some(1)));
        assert!(parse_line(Format::Pairs, "a b")
            .unwrap_err()
            .contains("found 1"));
        assert!(parse_line(Format::Pairs, "a\tb\t1\tx")
            .unwrap_err()
            .contains("found 4"));
        assert!(parse_line(Format::Pairs, "a\tb\tz")
            .unwrap_err()
            .contains("label"));
    }
}
