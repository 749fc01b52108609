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
//! | 80 | offset of the block index, number of blocks, total file length (3 × u64) |
//! | 104 | reserved (24 bytes) |
//! | 128 | blocks, one after the other |
//! | … | block index: per block its byte offset, documents, tokens and CRC-32C (4 × u64) |
//!
//! Each block's CRC-32C (Castagnoli) covers its bytes, padding included; readers check a
//! block the first time one of its documents is read ([`Shard::verify_doc`]) or all of
//! them at once (`dapt inspect --verify`). Version 2 (index entries of 3 × u64, no
//! checksums) stays readable, unchecked.
//!
//! A block holds the documents of one input chunk: its token ids (`u16` or `u32` each),
//! then per document its start and length in the block's tokens and its split (3 × u32;
//! split = tokens of text a for a pair, `u32::MAX` for a single text), then its
//! word-start bitmap (one bit per token, in u64 words: bit i of word i/64). Blocks are
//! written as they are encoded, so the writer never copies a section at the end.
//!
//! Documents hold no special tokens: the batch collator adds `[CLS]`/`[SEP]`, so a pair
//! can be swapped or truncated longest-first when it is drawn. Documents are views into
//! their block's tokens and may share them: with `--pairs-as both` the texts a and b and
//! the pair `a b` are three documents over one copy of the tokens.

mod reader;
mod writer;

use std::path::Path;

use anyhow::Result;

use crate::error::InputError;

pub use reader::{Doc, Shard, Tokens};
pub use writer::{DocBlock, ShardWriter};

#[cfg(target_endian = "big")]
compile_error!(
    "the shard format is little-endian and read in place; big-endian hosts are not supported"
);

/// File magic.
pub const MAGIC: &[u8; 8] = b"DAPTSHRD";
/// Current format version (1 stored sections whole and every document's tokens apart;
/// 2 had no block checksums).
pub const VERSION: u32 = 3;
/// The oldest version still read.
const OLDEST_READ: u32 = 2;
const HEADER_LEN: u64 = 128;
/// Split value of a single-text document.
const SINGLE: u32 = u32::MAX;
/// Bytes of one block-index entry of format `version`: offset, documents, tokens and
/// (from version 3) the block's CRC-32C, as u64s.
fn index_entry(version: u32) -> u64 {
    if version >= 3 {
        32
    } else {
        24
    }
}

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
    index_at: u64,
    num_blocks: u64,
    file_len: u64,
}

/// Bytes of a document table row: start, length, split (`u32` each).
const DOC_ROW: usize = std::mem::size_of::<[u32; 3]>();

fn align8(x: u64) -> Option<u64> {
    x.div_ceil(8).checked_mul(8)
}

/// Where the sections of a block of `docs` documents and `tokens` tokens start, relative
/// to the block, and its total length: (docs table, bitmap, length); `None` when the
/// counts (read from a file, so possibly hostile) overflow 64 bits. Public for the
/// structure-aware fuzz target, which lays out blocks as a writer would.
pub fn block_layout(token_width: u32, docs: u64, tokens: u64) -> Option<(u64, u64, u64)> {
    let docs_at = align8(tokens.checked_mul(token_width as u64)?)?;
    let bits_at = align8(docs_at.checked_add(docs.checked_mul(DOC_ROW as u64)?)?)?;
    Some((
        docs_at,
        bits_at,
        bits_at.checked_add(tokens.div_ceil(64) * 8)?,
    ))
}

impl Header {
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
            self.index_at,
            self.num_blocks,
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
            index_at: u64_at(80),
            num_blocks: u64_at(88),
            file_len: u64_at(96),
        };
        if !(OLDEST_READ..=VERSION).contains(&h.version) {
            return Err(bad(format!(
                "shard format version {} but this dapt reads versions {OLDEST_READ} to {VERSION}; re-encode it with this dapt",
                h.version
            )));
        }
        if h.token_width != 2 && h.token_width != 4 {
            return Err(bad(format!(
                "token width {} is neither 2 nor 4: corrupt header",
                h.token_width
            )));
        }
        if (b.len() as u64) != h.file_len {
            return Err(bad(format!(
                "file is {} bytes but its header says {}: truncated or corrupt; re-run `dapt encode`",
                b.len(),
                h.file_len
            )));
        }
        // The index is read in place as u64 triples: it must be 8-byte aligned.
        if h.index_at < HEADER_LEN
            || !h.index_at.is_multiple_of(8)
            || h.num_blocks
                .checked_mul(index_entry(h.version))
                .and_then(|n| n.checked_add(h.index_at))
                != Some(h.file_len)
        {
            return Err(bad(
                "block index disagrees with the file length: corrupt header".into(),
            ));
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
