//! Reading shards: the file is memory-mapped and documents are borrowed from it.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use memmap2::Mmap;

use super::{Header, SINGLE};
use crate::error::InputError;

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
