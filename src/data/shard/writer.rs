//! Writing shards: documents serialised in parallel into [`DocBlock`]s, appended in
//! order by one [`ShardWriter`] that streams to disk and renames into place at the end.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{token_width_for, Header, HEADER_LEN, SINGLE, VERSION};
use crate::fsutil::{temp_sibling, TempOutput};

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
