//! Reading shards: the file is memory-mapped and documents are borrowed from it.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use memmap2::Mmap;

use std::sync::atomic::{AtomicBool, Ordering};

use super::{block_layout, index_entry, Header, DOC_ROW, HEADER_LEN, SINGLE};
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

/// Where one block lies in the file.
#[derive(Debug, Clone, Copy)]
struct Block {
    /// Index of the block's first document in the shard.
    first_doc: u64,
    docs: u64,
    tokens: u64,
    tokens_at: u64,
    docs_at: u64,
    bits_at: u64,
    /// Bytes of the block.
    len: u64,
    /// Its CRC-32C (format version 3 on).
    checksum: Option<u32>,
}

/// Documents whose table rows are validated (and then released) at a time.
const VALIDATE_CHUNK: usize = 1 << 16;

/// A shard opened read-only through `memmap2`.
pub struct Shard {
    mmap: Mmap,
    header: Header,
    path: PathBuf,
    blocks: Vec<Block>,
    /// Per block: checked against its checksum already.
    verified: Vec<AtomicBool>,
}

impl Shard {
    /// Map and validate the shard at `path` (magic, version, block index, every
    /// document's bounds), so that [`Shard::doc`] cannot fail later.
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
        let mut shard = Shard {
            mmap,
            header,
            path: path.to_path_buf(),
            blocks: Vec::new(),
            verified: Vec::new(),
        };
        shard.blocks = shard.read_index()?;
        shard.verified = shard
            .blocks
            .iter()
            .map(|_| AtomicBool::new(false))
            .collect();
        // Training reads documents in shuffled order: no read-ahead of neighbouring pages,
        // which would read (and map) most of a cold shard for nothing.
        #[cfg(unix)]
        let _ = shard.mmap.advise(memmap2::Advice::Random);
        Ok(shard)
    }

    /// Drop the pages read so far from this process's resident set. They stay in the
    /// kernel's page cache and come back on the next read, so a long run over a large
    /// shard does not hold the whole file in its RSS. Advisory only.
    pub fn release_pages(&self) {
        self.release_range(0, self.mmap.len());
    }

    /// [`Shard::release_pages`] for bytes `at..at + len` of the file.
    fn release_range(&self, at: usize, len: usize) {
        #[cfg(unix)]
        // SAFETY: a read-only mapping of a file that does not change (see `open`): a
        // dropped page is read back unchanged, so borrows from the map stay valid.
        let _ = unsafe {
            self.mmap
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, at, len)
        };
    }

    fn read_index(&self) -> Result<Vec<Block>> {
        let h = &self.header;
        let corrupt = |what: &str| -> anyhow::Error {
            InputError::at_path(
                &self.path,
                format!("{what}: corrupt shard; re-run `dapt encode`"),
            )
            .into()
        };
        let words = (index_entry(h.version) / 8) as usize;
        let index: &[u64] = self.section(h.index_at, h.num_blocks * words as u64);
        let (mut blocks, mut next_at, mut first_doc, mut tokens) = (Vec::new(), HEADER_LEN, 0, 0);
        for (i, entry) in index.chunks_exact(words).enumerate() {
            let (at, docs, n) = (entry[0], entry[1], entry[2]);
            let checksum = entry.get(3).map(|&c| c as u32);
            let outside = || corrupt(&format!("block {i} lies outside the data"));
            let (docs_at, bits_at, len) =
                block_layout(h.token_width, docs, n).ok_or_else(outside)?;
            if at != next_at || at.checked_add(len).is_none_or(|e| e > h.index_at) {
                return Err(outside());
            }
            let block = Block {
                first_doc,
                docs,
                tokens: n,
                tokens_at: at,
                docs_at: at + docs_at,
                bits_at: at + bits_at,
                len,
                checksum,
            };
            let table: &[[u32; 3]] = self.section(block.docs_at, docs);
            // In chunks, each dropped from the RSS once checked: validating a large shard
            // does not map its whole document table at once.
            for (c, chunk) in table.chunks(VALIDATE_CHUNK).enumerate() {
                let bad = chunk.iter().position(|&[s, len, split]| {
                    s as u64 + len as u64 > n || (split != SINGLE && split > len)
                });
                if let Some(d) = bad {
                    let doc = first_doc + (c * VALIDATE_CHUNK + d) as u64;
                    return Err(corrupt(&format!("document {doc} lies outside its block")));
                }
                let at = block.docs_at as usize + c * VALIDATE_CHUNK * DOC_ROW;
                self.release_range(at, chunk.len() * DOC_ROW);
            }
            blocks.push(block);
            next_at = at + len;
            first_doc += docs;
            tokens += n;
        }
        if next_at != h.index_at || first_doc != h.num_docs || tokens != h.num_tokens {
            return Err(corrupt("blocks disagree with the header's counts"));
        }
        Ok(blocks)
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

    /// The block holding document `i`.
    fn block_of(&self, i: usize) -> usize {
        self.blocks.partition_point(|b| b.first_doc <= i as u64) - 1
    }

    /// Check block `b` against its checksum, once; shards of format version 2 have none.
    fn verify_block(&self, b: usize) -> Result<()> {
        let block = &self.blocks[b];
        let Some(expected) = block.checksum else {
            return Ok(());
        };
        if self.verified[b].load(Ordering::Relaxed) {
            return Ok(());
        }
        let bytes = &self.mmap[block.tokens_at as usize..(block.tokens_at + block.len) as usize];
        let actual = crc32c::crc32c(bytes);
        if actual != expected {
            crate::bad_input!(
                "{}: block {b} (documents {}..{}) fails its checksum (CRC-32C {actual:08x}, recorded {expected:08x}): the file is corrupt; re-run `dapt encode`",
                self.path.display(),
                block.first_doc,
                block.first_doc + block.docs
            );
        }
        self.verified[b].store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Check the block holding document `i` against its checksum, the first time any of
    /// its documents is asked for (training calls this before reading a document).
    pub fn verify_doc(&self, i: usize) -> Result<()> {
        self.verify_block(self.block_of(i))
    }

    /// Check every block; returns how many carry a checksum (0 for format version 2).
    pub fn verify_all(&self) -> Result<usize> {
        for b in 0..self.blocks.len() {
            self.verify_block(b)?;
            let block = &self.blocks[b];
            self.release_range(block.tokens_at as usize, block.len as usize);
        }
        Ok(self.blocks.iter().filter(|b| b.checksum.is_some()).count())
    }

    /// Document `i`, borrowed from the map (panics if out of range).
    pub fn doc(&self, i: usize) -> Doc<'_> {
        assert!(i < self.num_docs(), "document {i} of {}", self.num_docs());
        let b = self.blocks[self.block_of(i)];
        let [s, len, split] = self.section::<[u32; 3]>(b.docs_at, b.docs)[i - b.first_doc as usize];
        let (s, e) = (s as usize, s as usize + len as usize);
        let tokens = if self.header.token_width == 2 {
            Tokens::U16(&self.section::<u16>(b.tokens_at, b.tokens)[s..e])
        } else {
            Tokens::U32(&self.section::<u32>(b.tokens_at, b.tokens)[s..e])
        };
        Doc {
            tokens,
            bits: self.section(b.bits_at, b.tokens.div_ceil(64)),
            start: s,
            split: (split != SINGLE).then_some(split as usize),
        }
    }
}
