//! The `.shard` format: token ids of many documents in one memory-mapped file.
//!
//! Layout (all little-endian, sections 8-byte aligned):
//!
//! | offset | content |
//! | --- | --- |
//! | 0 | magic `DAPTSHRD` |
//! | 8 | format version (u32) |
//! | 12 | token width in bytes, 2 or 4 (u32) |
//! | 16 | sha256 of the vocabulary's `vocab.txt` (32 bytes) |
//! | 48 | vocabulary size (u32), 52: flags (u32, 0) |
//! | 56 | documents, tokens, pair documents (3 × u64) |
//! | 80 | offsets of the token, document-offset, split and word-start sections (4 × u64) |
//! | 112 | total file length (u64), 120: reserved |
//! | 128 | token ids (`u16` or `u32` each) |
//! | … | document start offsets in tokens, `documents + 1` × u64 |
//! | … | split per document (u32): tokens of text a for a pair, `u32::MAX` for a single text |
//! | … | word-start bitmap, one bit per token, in u64 words (bit i of word i/64) |
//!
//! Documents hold no special tokens: the batch collator adds `[CLS]`/`[SEP]`, so a pair
//! can be swapped or truncated longest-first when it is drawn.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use memmap2::Mmap;

use crate::error::InputError;
use crate::fsutil::{temp_sibling, TempOutput};

#[cfg(target_endian = "big")]
compile_error!(
    "the shard format is little-endian and read in place; big-endian hosts are not supported"
);

/// File magic.
pub const MAGIC: &[u8; 8] = b"DAPTSHRD";
/// Current format version.
pub const VERSION: u32 = 1;
const HEADER_LEN: u64 = 128;
const SINGLE: u32 = u32::MAX;

/// The fixed header of a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Bytes per token id (2 or 4).
    pub token_width: u32,
    /// sha256 of the vocabulary's `vocab.txt`, hex.
    pub vocab_sha256: String,
    /// Vocabulary size.
    pub vocab_size: u32,
    /// Number of documents.
    pub num_docs: u64,
    /// Number of tokens.
    pub num_tokens: u64,
    /// Number of documents that are sentence pairs.
    pub num_pairs: u64,
    tokens_at: u64,
    offsets_at: u64,
    splits_at: u64,
    bits_at: u64,
    file_len: u64,
}

fn align8(x: u64) -> u64 {
    x.div_ceil(8) * 8
}

impl Header {
    fn layout(token_width: u32, num_docs: u64, num_tokens: u64) -> (u64, u64, u64, u64, u64) {
        let tokens_at = HEADER_LEN;
        let offsets_at = align8(tokens_at + num_tokens * token_width as u64);
        let splits_at = offsets_at + (num_docs + 1) * 8;
        let bits_at = align8(splits_at + num_docs * 4);
        let file_len = bits_at + num_tokens.div_ceil(64) * 8;
        (tokens_at, offsets_at, splits_at, bits_at, file_len)
    }

    fn to_bytes(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&self.token_width.to_le_bytes());
        b[16..48].copy_from_slice(&hex_to_bytes(&self.vocab_sha256));
        b[48..52].copy_from_slice(&self.vocab_size.to_le_bytes());
        let words = [
            self.num_docs,
            self.num_tokens,
            self.num_pairs,
            self.tokens_at,
            self.offsets_at,
            self.splits_at,
            self.bits_at,
            self.file_len,
        ];
        for (i, w) in words.iter().enumerate() {
            b[56 + 8 * i..64 + 8 * i].copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    fn parse(path: &Path, b: &[u8]) -> Result<Header> {
        let bad = |what: String| anyhow::Error::new(InputError::at_path(path, what));
        if b.len() < HEADER_LEN as usize || &b[..8] != MAGIC {
            return Err(bad(
                "not a dapt shard (bad magic); create one with `dapt encode`".into(),
            ));
        }
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let h = Header {
            version: u32_at(8),
            token_width: u32_at(12),
            vocab_sha256: b[16..48].iter().map(|x| format!("{x:02x}")).collect(),
            vocab_size: u32_at(48),
            num_docs: u64_at(56),
            num_tokens: u64_at(64),
            num_pairs: u64_at(72),
            tokens_at: u64_at(80),
            offsets_at: u64_at(88),
            splits_at: u64_at(96),
            bits_at: u64_at(104),
            file_len: u64_at(112),
        };
        if h.version != VERSION {
            return Err(bad(format!(
                "shard format version {} but this dapt reads version {VERSION}; re-encode it with this dapt",
                h.version
            )));
        }
        if h.token_width != 2 && h.token_width != 4 {
            return Err(bad(format!(
                "token width {} is neither 2 nor 4: corrupt header",
                h.token_width
            )));
        }
        let expect = Header::layout(h.token_width, h.num_docs, h.num_tokens);
        if (
            h.tokens_at,
            h.offsets_at,
            h.splits_at,
            h.bits_at,
            h.file_len,
        ) != expect
        {
            return Err(bad(
                "section offsets disagree with the counts: corrupt header".into(),
            ));
        }
        if (b.len() as u64) != h.file_len {
            return Err(bad(format!(
                "file is {} bytes but its header says {}: truncated or corrupt; re-run `dapt encode`",
                b.len(),
                h.file_len
            )));
        }
        Ok(h)
    }
}

fn hex_to_bytes(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    out
}

/// Token width needed for a vocabulary of `vocab_size` ids.
pub fn token_width_for(vocab_size: usize) -> u32 {
    if vocab_size <= 1 << 16 {
        2
    } else {
        4
    }
}

/// Documents serialised in the shard's layout, ready for [`ShardWriter::append`]: the
/// per-token work of writing a shard, done by parallel workers.
#[derive(Debug, Clone)]
pub struct DocBlock {
    token_width: u32,
    tokens: Vec<u8>,
    /// Token count at the end of each document, relative to the block.
    doc_ends: Vec<u64>,
    splits: Vec<u8>,
    bits: Vec<u64>,
    num_tokens: u64,
    num_pairs: u64,
    doc_start: u64,
}

impl DocBlock {
    /// An empty block for a vocabulary of `vocab_size` tokens.
    pub fn new(vocab_size: usize) -> Self {
        DocBlock {
            token_width: token_width_for(vocab_size),
            tokens: Vec::new(),
            doc_ends: Vec::new(),
            splits: Vec::new(),
            bits: Vec::new(),
            num_tokens: 0,
            num_pairs: 0,
            doc_start: 0,
        }
    }

    /// Add tokens to the current document.
    pub fn extend(&mut self, ids: &[u32], word_start: &[bool]) {
        debug_assert_eq!(ids.len(), word_start.len());
        // Resize, then fill fixed-size slots: loops the compiler vectorises.
        let w = self.token_width as usize;
        let at = self.tokens.len();
        self.tokens.resize(at + w * ids.len(), 0);
        let dst = &mut self.tokens[at..];
        if w == 2 {
            for (d, &id) in dst.chunks_exact_mut(2).zip(ids) {
                d.copy_from_slice(&(id as u16).to_le_bytes());
            }
        } else {
            for (d, &id) in dst.chunks_exact_mut(4).zip(ids) {
                d.copy_from_slice(&id.to_le_bytes());
            }
        }
        let first = self.num_tokens as usize;
        self.num_tokens += ids.len() as u64;
        self.bits.resize((self.num_tokens as usize).div_ceil(64), 0);
        // Gather bits in a register and store each word once (a read-modify-write of
        // memory per token would serialise on store-to-load forwarding).
        let (mut t, mut idx) = (first, first / 64);
        let mut cur = self.bits.get(idx).copied().unwrap_or(0);
        for &ws in word_start {
            cur |= (ws as u64) << (t % 64);
            t += 1;
            if t % 64 == 0 {
                self.bits[idx] = cur;
                idx += 1;
                cur = 0;
            }
        }
        if t % 64 != 0 {
            self.bits[idx] = cur;
        }
    }

    /// Close the current document; for a pair, `split` is the number of tokens of its
    /// first text.
    pub fn end_doc(&mut self, split: Option<usize>) {
        debug_assert!(split.is_none_or(|s| s as u64 <= self.num_tokens - self.doc_start));
        self.doc_ends.push(self.num_tokens);
        self.doc_start = self.num_tokens;
        self.splits
            .extend_from_slice(&split.map_or(SINGLE, |s| s as u32).to_le_bytes());
        self.num_pairs += split.is_some() as u64;
    }

    /// Documents in the block.
    pub fn num_docs(&self) -> usize {
        self.doc_ends.len()
    }

    /// Tokens in the block.
    pub fn num_tokens(&self) -> u64 {
        self.num_tokens
    }
}

/// Streams documents into a new shard. Per-document arrays go to temporary side files,
/// so memory stays constant whatever the corpus size; nothing appears under the final
/// name until [`ShardWriter::finish`].
pub struct ShardWriter {
    tmp: TempOutput,
    side: [TempOutput; 3],
    tokens: BufWriter<File>,
    offsets: BufWriter<File>,
    splits: BufWriter<File>,
    bits: BufWriter<File>,
    word: u64,
    buf: Vec<u8>,
    header: Header,
}

impl ShardWriter {
    /// Start a shard for a vocabulary of `vocab_size` tokens with hash `vocab_sha256`,
    /// to be committed at `final_path`.
    pub fn create(final_path: &Path, vocab_size: usize, vocab_sha256: &str) -> Result<Self> {
        let tmp = TempOutput::new(temp_sibling(final_path));
        let side_path = |ext: &str| {
            let mut p = tmp.path().as_os_str().to_owned();
            p.push(ext);
            PathBuf::from(p)
        };
        let side = [
            TempOutput::new(side_path(".offsets")),
            TempOutput::new(side_path(".splits")),
            TempOutput::new(side_path(".bits")),
        ];
        let create = |p: &Path| -> Result<BufWriter<File>> {
            Ok(BufWriter::with_capacity(
                1 << 20,
                File::create(p).with_context(|| format!("creating {}", p.display()))?,
            ))
        };
        let mut tokens = create(tmp.path())?;
        tokens.write_all(&[0u8; HEADER_LEN as usize])?;
        let mut offsets = create(side[0].path())?;
        offsets.write_all(&0u64.to_le_bytes())?;
        Ok(ShardWriter {
            splits: create(side[1].path())?,
            bits: create(side[2].path())?,
            tokens,
            offsets,
            side,
            tmp,
            word: 0,
            buf: Vec::new(),
            header: Header {
                version: VERSION,
                token_width: token_width_for(vocab_size),
                vocab_sha256: vocab_sha256.to_string(),
                vocab_size: vocab_size as u32,
                num_docs: 0,
                num_tokens: 0,
                num_pairs: 0,
                tokens_at: 0,
                offsets_at: 0,
                splits_at: 0,
                bits_at: 0,
                file_len: 0,
            },
        })
    }

    /// Append a block of documents serialised by [`DocBlock`] (in parallel, elsewhere).
    pub fn append(&mut self, block: &DocBlock) -> Result<()> {
        debug_assert_eq!(block.token_width, self.header.token_width);
        self.tokens.write_all(&block.tokens)?;
        self.buf.clear();
        for &end in &block.doc_ends {
            self.buf
                .extend_from_slice(&(self.header.num_tokens + end).to_le_bytes());
        }
        self.offsets.write_all(&self.buf)?;
        self.splits.write_all(&block.splits)?;
        // Splice the block's bitmap onto ours, which may end mid-word.
        let mut left = block.num_tokens;
        for &w in &block.bits {
            let take = left.min(64);
            left -= take;
            let used = self.header.num_tokens % 64;
            self.word |= w << used;
            self.header.num_tokens += take;
            if used + take >= 64 {
                self.bits.write_all(&self.word.to_le_bytes())?;
                self.word = if used == 0 { 0 } else { w >> (64 - used) };
            }
        }
        self.header.num_docs += block.doc_ends.len() as u64;
        self.header.num_pairs += block.num_pairs;
        Ok(())
    }

    /// Documents written so far.
    pub fn num_docs(&self) -> u64 {
        self.header.num_docs
    }

    /// Tokens written so far.
    pub fn num_tokens(&self) -> u64 {
        self.header.num_tokens
    }

    /// Assemble the sections, write the header, fsync and rename to `final_path`.
    pub fn finish(mut self, final_path: &Path) -> Result<Header> {
        let h = &mut self.header;
        (
            h.tokens_at,
            h.offsets_at,
            h.splits_at,
            h.bits_at,
            h.file_len,
        ) = Header::layout(h.token_width, h.num_docs, h.num_tokens);
        if !h.num_tokens.is_multiple_of(64) {
            self.bits.write_all(&self.word.to_le_bytes())?;
        }
        let pad = |w: &mut BufWriter<File>, upto: u64, at: u64| -> Result<()> {
            w.write_all(&vec![0u8; (upto - at) as usize])?;
            Ok(())
        };
        let tokens_end = h.tokens_at + h.num_tokens * h.token_width as u64;
        pad(&mut self.tokens, h.offsets_at, tokens_end)?;
        for (i, side) in [&mut self.offsets, &mut self.splits, &mut self.bits]
            .into_iter()
            .enumerate()
        {
            side.flush()?;
            let mut f = File::open(self.side[i].path())?;
            std::io::copy(&mut f, &mut self.tokens)?;
            if i == 1 {
                pad(&mut self.tokens, h.bits_at, h.splits_at + h.num_docs * 4)?;
            }
        }
        self.tokens.flush()?;
        let mut file = self.tokens.into_inner().map_err(|e| e.into_error())?;
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&h.to_bytes())?;
        let len = file.metadata()?.len();
        anyhow::ensure!(
            len == h.file_len,
            "shard writer: wrote {len} bytes, expected {}",
            h.file_len
        );
        drop(file);
        let header = h.clone();
        self.tmp.commit(final_path)?;
        Ok(header)
    }
}

/// Token ids of one document, borrowed from the mapped file.
#[derive(Debug, Clone, Copy)]
pub enum Tokens<'a> {
    /// Vocabularies of up to 65,536 tokens.
    U16(&'a [u16]),
    /// Larger vocabularies.
    U32(&'a [u32]),
}

/// One document of a shard, borrowed without copying.
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    tokens: Tokens<'a>,
    bits: &'a [u64],
    start: usize,
    split: Option<usize>,
}

impl<'a> Doc<'a> {
    /// Number of tokens (both texts of a pair).
    pub fn len(&self) -> usize {
        match self.tokens {
            Tokens::U16(t) => t.len(),
            Tokens::U32(t) => t.len(),
        }
    }

    /// True for a document without tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Token id at position `i`.
    #[inline]
    pub fn id(&self, i: usize) -> u32 {
        match self.tokens {
            Tokens::U16(t) => t[i] as u32,
            Tokens::U32(t) => t[i],
        }
    }

    /// Whether token `i` begins a word.
    #[inline]
    pub fn is_word_start(&self, i: usize) -> bool {
        let g = self.start + i;
        self.bits[g / 64] >> (g % 64) & 1 == 1
    }

    /// For a pair, the number of tokens of the first text; `None` for a single text.
    pub fn split(&self) -> Option<usize> {
        self.split
    }

    /// The raw token slice.
    pub fn tokens(&self) -> Tokens<'a> {
        self.tokens
    }

    /// Token ids copied into a vector.
    pub fn ids(&self) -> Vec<u32> {
        (0..self.len()).map(|i| self.id(i)).collect()
    }
}

/// A shard opened read-only through `memmap2`.
pub struct Shard {
    mmap: Mmap,
    header: Header,
    path: PathBuf,
}

impl Shard {
    /// Map and validate the shard at `path` (magic, version, section sizes, length).
    pub fn open(path: &Path) -> Result<Shard> {
        let file = File::open(path).map_err(|e| {
            InputError::at_path(
                path,
                format!("cannot open shard: {e}; create it with `dapt encode`"),
            )
        })?;
        // SAFETY: the map is read-only and dapt never writes a shard in place (writers
        // build a temporary file and rename it), so the bytes cannot change under us.
        let mmap =
            unsafe { Mmap::map(&file) }.with_context(|| format!("mapping {}", path.display()))?;
        let header = Header::parse(path, &mmap)?;
        let shard = Shard {
            mmap,
            header,
            path: path.to_path_buf(),
        };
        let offsets: &[u64] = shard.section(shard.header.offsets_at, shard.header.num_docs + 1);
        if offsets[0] != 0 || offsets[offsets.len() - 1] != shard.header.num_tokens {
            crate::bad_input!(
                "{}: document offsets disagree with the token count: corrupt shard",
                path.display()
            );
        }
        Ok(shard)
    }

    /// Refuse the shard unless it was encoded with the vocabulary whose hash is given.
    pub fn check_vocab(&self, vocab_sha256: &str, vocab_dir: &Path) -> Result<()> {
        if self.header.vocab_sha256 != vocab_sha256 {
            crate::bad_input!(
                "{}: encoded with vocabulary sha256 {} but {} has sha256 {}; re-run `dapt encode --vocab {}`",
                self.path.display(),
                self.header.vocab_sha256,
                vocab_dir.join("vocab.txt").display(),
                vocab_sha256,
                vocab_dir.display()
            );
        }
        Ok(())
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of documents.
    pub fn num_docs(&self) -> usize {
        self.header.num_docs as usize
    }

    fn section<T: bytemuck::Pod>(&self, at: u64, count: u64) -> &[T] {
        let bytes =
            &self.mmap[at as usize..(at + count * std::mem::size_of::<T>() as u64) as usize];
        bytemuck::cast_slice(bytes)
    }

    /// Document `i`, borrowed from the map (panics if out of range).
    pub fn doc(&self, i: usize) -> Doc<'_> {
        let h = &self.header;
        let offsets: &[u64] = self.section(h.offsets_at, h.num_docs + 1);
        let (s, e) = (offsets[i], offsets[i + 1]);
        let tokens = if h.token_width == 2 {
            Tokens::U16(&self.section::<u16>(h.tokens_at, h.num_tokens)[s as usize..e as usize])
        } else {
            Tokens::U32(&self.section::<u32>(h.tokens_at, h.num_tokens)[s as usize..e as usize])
        };
        let split = self.section::<u32>(h.splits_at, h.num_docs)[i];
        Doc {
            tokens,
            bits: self.section(h.bits_at, h.num_tokens.div_ceil(64)),
            start: s as usize,
            split: (split != SINGLE).then_some(split as usize),
        }
    }
}
