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

use super::table::{small_int, DENSE_LIMIT};
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
    /// The chunk as text, checked by [`check_text`].
    pub fn check_utf8(&self) -> Result<&str> {
        check_text(&self.path, &self.data, self.first_line, self.offset)
    }

    /// The lines of the chunk with their 1-based line numbers (line ends, a trailing
    /// `\r` and the file's byte-order mark removed).
    pub fn lines<'a>(&self, text: &'a str) -> impl Iterator<Item = (u64, &'a str)> + 'a {
        let first = self.first_line;
        let mut start = if self.offset == 0 {
            text.len() - strip_bom(text).len()
        } else {
            0
        };
        // The memchr crate's SIMD search: much faster than `str::split` on long chunks.
        let ends = memchr::memchr_iter(b'\n', text.as_bytes())
            .chain((!text.ends_with('\n') && !text.is_empty()).then_some(text.len()));
        ends.enumerate().map(move |(i, end)| {
            // Newlines are ASCII, so both ends are character boundaries.
            let l = &text[start..end];
            start = end + 1;
            (first + i as u64, l.strip_suffix('\r').unwrap_or(l))
        })
    }
}

/// The longest line dapt reads (1 MiB): a longer one is a file without newlines (binary
/// data, or a corpus joined into one line), not a document.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// `bytes` (of `path`, starting at byte `offset` and line `first_line`) as text: valid
/// UTF-8, no NUL byte, no line over [`MAX_LINE_BYTES`]. The error names the line.
pub fn check_text<'a>(
    path: &Path,
    bytes: &'a [u8],
    first_line: u64,
    offset: u64,
) -> Result<&'a str> {
    let line_at = |at: usize| first_line + memchr::memchr_iter(b'\n', &bytes[..at]).count() as u64;
    let bad = |at: usize, what: String| -> anyhow::Error {
        InputError::at_line(path, line_at(at), what).into()
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        bad(at, format!(
            "invalid UTF-8 at byte offset {} of the file; re-encode it as UTF-8 (e.g. iconv -f GBK -t UTF-8)",
            offset + at as u64
        ))
    })?;
    if let Some(at) = memchr::memchr(0, bytes) {
        return Err(bad(
            at,
            format!(
                "a NUL byte at byte offset {} of the file: binary data, not text; check the file",
                offset + at as u64
            ),
        ));
    }
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    for end in ends {
        if end - start > MAX_LINE_BYTES {
            return Err(bad(start, format!(
                "a line of {} bytes, over dapt's limit of {MAX_LINE_BYTES}: a file without newlines? Split it into one document per line",
                end - start
            )));
        }
        start = end + 1;
    }
    Ok(text)
}

/// `text` without a leading UTF-8 byte-order mark (Windows editors write one; it is not
/// part of the first word).
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
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
        self.next_chunk_into(Vec::new())
    }

    /// [`ChunkReader::next_chunk`] reading into `buf` (a spent chunk's buffer): reusing
    /// buffers keeps peak memory flat over long corpora (fresh 4 MB buffers allocated on
    /// one thread and freed on others fragment the allocator's arenas).
    pub fn next_chunk_into(&mut self, mut buf: Vec<u8>) -> Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        buf.clear();
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        let mut data = buf;
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
                Some(pos) => {
                    self.carry.extend_from_slice(&data[pos + 1..]);
                    data.truncate(pos + 1);
                }
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
    /// The label column, if present (trimmed; a class id or a class name).
    pub label: Option<&'a str>,
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
            let mut fields = Fields { rest: Some(line) };
            let a = fields.next().unwrap_or("");
            let Some(b) = fields.next() else {
                return Err(
                    "expected 2 or 3 TAB-separated fields (text_a, text_b[, label]), found 1; \
                     use --format lines for one text per line"
                        .to_string(),
                );
            };
            let label = fields.next().map(str::trim);
            if fields.next().is_some() {
                let n = memchr::memchr_iter(b'\t', line.as_bytes()).count() + 1;
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

/// TAB-separated fields of a line, found with SIMD `memchr`.
struct Fields<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match memchr::memchr(b'\t', rest.as_bytes()) {
            Some(p) => {
                self.rest = Some(&rest[p + 1..]);
                Some(&rest[..p])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

const fn is_ascii_ws(b: u8) -> bool {
    // Exactly the ASCII members of Unicode White_Space (what `char::is_whitespace` says).
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Call `f` with every whitespace-separated word of `text` (Unicode whitespace, as the
/// tokenizers crate's `WhitespaceSplit`) and, when the word is a canonical decimal
/// number below [`DENSE_LIMIT`], its value.
///
/// ASCII text (every desensitized corpus) is scanned once, byte by byte, parsing the
/// number while looking for the word's end: this loop is the hot path of `dapt vocab`
/// and `dapt encode`.
#[inline]
pub fn for_each_word<'a>(text: &'a str, mut f: impl FnMut(&'a [u8], Option<u32>)) {
    if !text.is_ascii() {
        for w in text.split_whitespace() {
            f(w.as_bytes(), small_int(w.as_bytes()));
        }
        return;
    }
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut i = 0;
    while i < n {
        while i < n && BYTE_CLASS[bytes[i] as usize] == WS {
            i += 1;
        }
        if i == n {
            break;
        }
        // Fast path: the word ends within the next 8 bytes. Its length and whether it
        // is all digits come from bit tricks on one 64-bit load (no per-byte branches,
        // which the CPU would mispredict at every word end).
        let w = load8(bytes, i);
        let ws = swar::in_range(w, 0x09, 0x0e) | swar::in_range(w, 0x20, 0x21);
        if ws != 0 {
            let len = (ws.trailing_zeros() / 8) as usize;
            let word = &bytes[i..i + len];
            let keep = u64::MAX >> (64 - 8 * len);
            let digit_bits = swar::in_range(w, b'0', b'9' + 1) & keep & swar::HIGH;
            let int = if digit_bits == keep & swar::HIGH && (word[0] != b'0' || len == 1) {
                Some(swar::parse_digits(w, len)).filter(|&v| v < DENSE_LIMIT)
            } else {
                None
            };
            f(word, int);
            i += len;
            continue;
        }
        let start = i;
        while i < n && BYTE_CLASS[bytes[i] as usize] != WS {
            i += 1;
        }
        let word = &bytes[start..i];
        f(word, small_int(word));
    }
}

/// Eight bytes of `bytes` from `i`, little-endian, padded with spaces past the end.
#[inline]
fn load8(bytes: &[u8], i: usize) -> u64 {
    const SPACES: u64 = 0x2020_2020_2020_2020;
    let n = bytes.len();
    if let Some(b) = bytes.get(i..i + 8) {
        return u64::from_le_bytes(b.try_into().expect("8 bytes"));
    }
    if n >= 8 {
        // Near the end: load the last 8 bytes and shift, rather than copying into a
        // padded buffer (whose load would stall on store forwarding).
        let w = u64::from_le_bytes(bytes[n - 8..].try_into().expect("8 bytes"));
        let drop = 8 * (i + 8 - n) as u32; // 8..=56 bits
        return (w >> drop) | (SPACES << (64 - drop));
    }
    let mut buf = [b' '; 8];
    buf[..n - i].copy_from_slice(&bytes[i..]);
    u64::from_le_bytes(buf)
}

/// Bytewise operations on a `u64` holding 8 ASCII bytes ("SIMD within a register").
mod swar {
    /// The high bit of every byte.
    pub const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;

    /// High bit set in each byte `x` of `w` with `lo <= x < hi` (exact for ASCII bytes,
    /// x < 0x80: adding at most 0x80 to such a byte never carries into the next).
    #[inline]
    pub fn in_range(w: u64, lo: u8, hi: u8) -> u64 {
        let ge_lo = w.wrapping_add(ONES * (0x80 - lo as u64));
        let ge_hi = w.wrapping_add(ONES * (0x80 - hi as u64));
        ge_lo & !ge_hi & HIGH
    }

    /// The decimal value of the first `len` (1..=7) bytes of `w`, all ASCII digits.
    #[inline]
    pub fn parse_digits(w: u64, len: usize) -> u32 {
        // Right-align the digits in 8 bytes behind leading '0's, then combine pairs,
        // quads and octets with three multiplies (the classic 8-digit SWAR parse).
        let shift = 8 * (8 - len) as u32;
        let padded = (w << shift)
            | (0x3030_3030_3030_3030u64
                .checked_shr(8 * len as u32)
                .unwrap_or(0));
        let mut v = padded - 0x3030_3030_3030_3030;
        v = (v * 10) + (v >> 8);
        v = ((v & 0x0000_00ff_0000_00ff).wrapping_mul(100 + (1_000_000 << 32))
            + ((v >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(1 + (10_000 << 32)))
            >> 32;
        v as u32
    }
}

const WS: u8 = 0;
const DIGIT: u8 = 1;
const OTHER: u8 = 2;

/// Class of every byte value, so the word scanner does one table load per byte.
static BYTE_CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        if is_ascii_ws(b as u8) {
            t[b] = WS;
        } else if (b as u8).is_ascii_digit() {
            t[b] = DIGIT;
        }
        b += 1;
    }
    t
};

/// Whether a line holds nothing but whitespace (skipped by every reader).
pub fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_end_at_lines_and_recycled_buffers_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.txt");
        // Short lines, then one longer than the chunk size, then a last line without
        // a newline.
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&"x".repeat(i % 7));
            text.push('\n');
        }
        text.push_str(&"y".repeat(50));
        text.push_str("\nlast");
        std::fs::write(&path, &text).unwrap();
        let mut reader = ChunkReader::open(&path, 16).unwrap();
        let (mut all, mut line) = (Vec::new(), 1);
        let mut spare = b"dirty buffer from an earlier chunk".to_vec();
        while let Some(chunk) = reader.next_chunk_into(std::mem::take(&mut spare)).unwrap() {
            assert_eq!(chunk.offset, all.len() as u64);
            assert_eq!(chunk.first_line, line);
            let last = chunk.offset as usize + chunk.data.len() == text.len();
            assert!(last || chunk.data.ends_with(b"\n"), "{:?}", chunk.data);
            line += memchr::memchr_iter(b'\n', &chunk.data).count() as u64;
            all.extend_from_slice(&chunk.data);
            spare = chunk.data;
        }
        assert_eq!(all, text.as_bytes());
    }

    fn w(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_word(s, |b, v| {
            assert_eq!(v, small_int(b), "{b:?}");
            out.push(String::from_utf8(b.to_vec()).unwrap())
        });
        out
    }

    #[test]
    fn words_split_like_unicode_whitespace() {
        assert_eq!(w("  12 3\t45\u{b}6 "), ["12", "3", "45", "6"]);
        // U+3000 (ideographic space) and U+00A0 are whitespace; U+200B is not.
        assert_eq!(
            w("你好\u{3000}世界\u{a0}x\u{200b}y"),
            ["你好", "世界", "x\u{200b}y"]
        );
        assert!(w(" \t ").is_empty());
        // Numbers: canonical decimals get their value, others (leading zero, too long,
        // mixed) none; the value check is inside `w`.
        assert_eq!(
            w("12 007 0 99999999 1a 1048576"),
            ["12", "007", "0", "99999999", "1a", "1048576"]
        );
    }

    #[test]
    fn word_scanner_agrees_with_split_whitespace_on_random_text() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let alphabet: Vec<char> = "0123456789 \t\r\x0b\x0cab-\u{3000}".chars().collect();
        for _ in 0..20_000 {
            let len = rng.random_range(0..40);
            let text: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let expected: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(w(&text), expected, "{text:?}");
        }
        // Values of every length the fast path parses.
        for n in [0u32, 7, 10, 99, 100, 12345, 999_999, 1_000_000, 1_048_575] {
            let text = format!("{n} x");
            let mut seen = None;
            for_each_word(&text, |b, v| {
                if b != b"x" {
                    seen = v;
                }
            });
            assert_eq!(seen, Some(n));
        }
    }

    #[test]
    fn pair_lines_parse_or_say_what_is_wrong() {
        let r = parse_line(Format::Pairs, "a b\tc\t1").unwrap();
        assert_eq!((r.a, r.b, r.label), ("a b", Some("c"), Some("1")));
        assert!(parse_line(Format::Pairs, "a b")
            .unwrap_err()
            .contains("found 1"));
        assert!(parse_line(Format::Pairs, "a\tb\t1\tx")
            .unwrap_err()
            .contains("found 4"));
        let named = parse_line(Format::Pairs, "a\tb\t entailment ").unwrap();
        assert_eq!(named.label, Some("entailment"));
    }
}
