//! Writing shards: documents serialised in parallel into [`DocBlock`]s, appended in
//! order by one [`ShardWriter`] that streams them to disk as blocks and renames the file
//! into place at the end.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use super::{block_layout, token_width_for, Header, HEADER_LEN, SINGLE, VERSION};
use crate::fsutil::{temp_sibling, TempOutput};

/// Documents serialised in the shard's layout, ready for [`ShardWriter::append`]: the
/// per-token work of writing a shard, done by parallel workers. Tokens are added with
/// [`DocBlock::extend`]; documents are views over them added with [`DocBlock::add_doc`].
#[derive(Debug, Clone)]
pub struct DocBlock {
    token_width: u32,
    tokens: Vec<u8>,
    /// Start, length and split of each document, as the shard stores them.
    docs: Vec<[u32; 3]>,
    bits: Vec<u64>,
    num_tokens: u64,
    num_pairs: u64,
}

impl DocBlock {
    /// An empty block for a vocabulary of `vocab_size` tokens.
    pub fn new(vocab_size: usize) -> Self {
        DocBlock {
            token_width: token_width_for(vocab_size),
            tokens: Vec::new(),
            docs: Vec::new(),
            bits: Vec::new(),
            num_tokens: 0,
            num_pairs: 0,
        }
    }

    /// Empty the block for reuse, keeping its buffers.
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.docs.clear();
        self.bits.clear();
        self.num_tokens = 0;
        self.num_pairs = 0;
    }

    /// Append tokens (no document yet: see [`DocBlock::add_doc`]).
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

    /// Add a document over the block's tokens `start..start + len` (`start` counts from
    /// the block's first token, see [`DocBlock::num_tokens`]); for a pair, `split` is the
    /// number of tokens of its first text. A block holds less than 2^32 tokens (it is
    /// one input chunk).
    pub fn add_doc(&mut self, start: u64, len: usize, split: Option<usize>) {
        debug_assert!(start + len as u64 <= self.num_tokens);
        debug_assert!(split.is_none_or(|s| s <= len));
        self.docs
            .push([start as u32, len as u32, split.map_or(SINGLE, |s| s as u32)]);
        self.num_pairs += split.is_some() as u64;
    }

    /// Documents in the block.
    pub fn num_docs(&self) -> usize {
        self.docs.len()
    }

    /// Tokens in the block (the start of the next token added).
    pub fn num_tokens(&self) -> u64 {
        self.num_tokens
    }
}

/// Streams documents into a new shard, one block per [`ShardWriter::append`]. Memory
/// stays constant whatever the corpus size, and nothing appears under the final name
/// until [`ShardWriter::finish`].
pub struct ShardWriter {
    tmp: TempOutput,
    file: BufWriter<File>,
    /// Bytes written so far (the next block's offset).
    at: u64,
    /// Bytes written since the data was last synced.
    unsynced: u64,
    index: Vec<u8>,
    header: Header,
}

/// Sync written data every this many bytes: the disk then writes while the next blocks
/// are encoded, instead of all at once in the final fsync (which took a second per
/// 450 MB here).
const SYNC_EVERY: u64 = 64 << 20;

impl ShardWriter {
    /// Start a shard for a vocabulary of `vocab_size` tokens with hash `vocab_sha256`,
    /// to be committed at `final_path`.
    pub fn create(final_path: &Path, vocab_size: usize, vocab_sha256: &str) -> Result<Self> {
        if let Some(parent) = final_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the output dir {}", parent.display()))?;
        }
        let tmp = TempOutput::new(temp_sibling(final_path));
        let f = File::create(tmp.path())
            .with_context(|| format!("creating {}", tmp.path().display()))?;
        let mut file = BufWriter::with_capacity(1 << 20, f);
        file.write_all(&[0u8; HEADER_LEN as usize])?;
        Ok(ShardWriter {
            tmp,
            file,
            at: HEADER_LEN,
            unsynced: 0,
            index: Vec::new(),
            header: Header {
                version: VERSION,
                token_width: token_width_for(vocab_size),
                vocab_sha256: vocab_sha256.to_string(),
                vocab_size: vocab_size as u32,
                num_docs: 0,
                num_tokens: 0,
                num_pairs: 0,
                index_at: 0,
                num_blocks: 0,
                file_len: 0,
            },
        })
    }

    /// Append a block of documents serialised by [`DocBlock`] (in parallel, elsewhere).
    pub fn append(&mut self, block: &DocBlock) -> Result<()> {
        debug_assert_eq!(block.token_width, self.header.token_width);
        if block.docs.is_empty() {
            return Ok(());
        }
        let (docs_at, bits_at, len) =
            block_layout(block.token_width, block.docs.len() as u64, block.num_tokens)
                .expect("an in-memory block's layout fits in 64 bits");
        let zeros = [0u8; 8];
        let docs: &[u8] = bytemuck::cast_slice(&block.docs);
        let parts: [&[u8]; 5] = [
            &block.tokens,
            &zeros[..(docs_at - block.tokens.len() as u64) as usize],
            docs,
            &zeros[..(bits_at - docs_at - docs.len() as u64) as usize],
            bytemuck::cast_slice(&block.bits),
        ];
        let mut crc = 0;
        for part in parts {
            self.file.write_all(part)?;
            crc = crc32c::crc32c_append(crc, part);
        }
        for v in [
            self.at,
            block.docs.len() as u64,
            block.num_tokens,
            crc as u64,
        ] {
            self.index.extend_from_slice(&v.to_le_bytes());
        }
        self.at += len;
        self.unsynced += len;
        if self.unsynced >= SYNC_EVERY {
            self.file.flush()?;
            self.file.get_ref().sync_data()?;
            self.unsynced = 0;
        }
        let h = &mut self.header;
        h.num_docs += block.docs.len() as u64;
        h.num_tokens += block.num_tokens;
        h.num_pairs += block.num_pairs;
        h.num_blocks += 1;
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

    /// Write the block index and the header, fsync and rename to `final_path`.
    pub fn finish(mut self, final_path: &Path) -> Result<Header> {
        let h = &mut self.header;
        h.index_at = self.at;
        h.file_len = self.at + self.index.len() as u64;
        self.file.write_all(&self.index)?;
        self.file.flush()?;
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
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
