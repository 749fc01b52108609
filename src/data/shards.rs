//! The pretraining corpus: several shards read as one document store. Text corpora are
//! encoded once into a cached shard beside them and reused while newer than the text.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::doc::DocStore;
use super::encode::{encode_corpus, EncodeOptions, PairsAs};
use super::shard::{Doc, Shard};
use crate::text::corpus::Format;
use crate::text::count::ReadOptions;
use crate::text::vocab::Vocab;
use crate::train::progress::info;

/// Several shards, their documents numbered one after the other.
pub struct ShardSet {
    shards: Vec<Shard>,
    /// Index of the first document of each shard, then the total.
    starts: Vec<usize>,
}

impl ShardSet {
    /// The shards at `paths`, each checked against `vocab`.
    pub fn open(paths: &[PathBuf], vocab: &Vocab) -> Result<Self> {
        let mut shards = Vec::new();
        let mut starts = vec![0];
        for p in paths {
            let s = Shard::open(p)?;
            s.check_vocab(&vocab.sha256, &vocab.dir)?;
            starts.push(starts.last().expect("non-empty") + s.num_docs());
            shards.push(s);
        }
        Ok(Self { shards, starts })
    }

    /// Total tokens of all shards.
    pub fn num_tokens(&self) -> u64 {
        self.shards.iter().map(|s| s.header().num_tokens).sum()
    }

    /// The fraction of tokens in `unknown` ([UNK] and the rare placeholders) over at most
    /// `max_docs` documents spread evenly over the set (a sample keeps the check
    /// instant on large corpora), and the number of documents read.
    pub fn unknown_rate(&self, unknown: &[u32], max_docs: usize) -> (f64, usize) {
        let n = self.num_docs();
        let step = n.div_ceil(max_docs.max(1)).max(1);
        let (mut unk, mut all, mut docs) = (0u64, 0u64, 0usize);
        for i in (0..n).step_by(step) {
            let d = self.doc(i);
            unk += (0..d.len()).filter(|&j| unknown.contains(&d.id(j))).count() as u64;
            all += d.len() as u64;
            docs += 1;
        }
        (unk as f64 / all.max(1) as f64, docs)
    }
}

impl DocStore for ShardSet {
    type Doc<'a> = Doc<'a>;

    fn num_docs(&self) -> usize {
        *self.starts.last().expect("non-empty")
    }

    fn doc(&self, i: usize) -> Doc<'_> {
        let s = self.starts.partition_point(|&start| start <= i) - 1;
        self.shards[s].doc(i - self.starts[s])
    }

    fn release_pages(&self) {
        self.shards.iter().for_each(Shard::release_pages);
    }
}

/// The cached shard of text corpus `path` for a vocabulary with hash `vocab_sha256`:
/// `path.<first 12 hex digits>.shard`, beside it.
pub fn cache_path(path: &Path, vocab_sha256: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}.shard", &vocab_sha256[..12]));
    PathBuf::from(name)
}

/// Shard paths for `corpora`: `.shard` files as they are, text files (pair TSV or
/// lines, per `format`) through their cache, encoded with `--pairs-as both` when
/// missing or older than the text. The cache is not truncated: the collator truncates
/// when it draws a document, so one cache serves every `--max-len`.
pub fn resolve(corpora: &[PathBuf], vocab: &Vocab, format: Format) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in corpora {
        if path.extension().is_some_and(|e| e == "shard") {
            out.push(path.clone());
            continue;
        }
        let cache = cache_path(path, &vocab.sha256);
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let text_time = modified(path).ok_or_else(|| {
            crate::error::InputError::at_path(path, "cannot read corpus; check --corpus")
        })?;
        if modified(&cache).is_some_and(|c| c >= text_time) {
            out.push(cache);
            continue;
        }
        info(format!(
            "encoding {} into {} (cached for later runs)",
            path.display(),
            cache.display()
        ));
        let opts = EncodeOptions {
            read: ReadOptions {
                format,
                header: false,
                skip_bad_lines: false,
            },
            pairs_as: PairsAs::Both,
            max_len: None,
            rare_placeholders: None,
        };
        encode_corpus(std::slice::from_ref(path), vocab, &opts, &cache, &|_| {})?;
        out.push(cache);
    }
    Ok(out)
}
