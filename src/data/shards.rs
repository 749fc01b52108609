//! The pretraining corpus: several shards read as one document store. `--corpus` takes
//! files, directories (their `.shard` files) and glob patterns, read as they stand when
//! the run starts, so a nightly run picks up the day's new shards. Text corpora are
//! encoded once into a cached shard in a cache dir (never beside the input, which may be
//! read-only) and reused while newer than the text.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::doc::DocStore;
use super::encode::{encode_corpus, EncodeOptions, PairsAs};
use super::shard::{Doc, Shard};
use crate::error::InputError;
use crate::progress::info;
use crate::text::corpus::Format;
use crate::text::count::ReadOptions;
use crate::text::vocab::{sha256_hex, Vocab};

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

impl ShardSet {
    /// The shard holding document `i`.
    fn shard_of(&self, i: usize) -> usize {
        self.starts.partition_point(|&start| start <= i) - 1
    }
}

impl DocStore for ShardSet {
    type Doc<'a> = Doc<'a>;

    fn num_docs(&self) -> usize {
        *self.starts.last().expect("non-empty")
    }

    fn doc(&self, i: usize) -> Doc<'_> {
        let s = self.shard_of(i);
        self.shards[s].doc(i - self.starts[s])
    }

    fn verify(&self, i: usize) -> Result<()> {
        let s = self.shard_of(i);
        self.shards[s].verify_doc(i - self.starts[s])
    }

    fn release_pages(&self) {
        self.shards.iter().for_each(Shard::release_pages);
    }
}

/// The cached shard of text corpus `path` for a vocabulary with hash `vocab_sha256`:
/// `CACHE/<file name>.<path hash>.<vocab hash>.shard` (12 hex digits each; the path's
/// hash tells apart files of one name in different dirs).
pub fn cache_path(cache: &Path, path: &Path, vocab_sha256: &str) -> PathBuf {
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path_sha = sha256_hex(full.as_os_str().as_encoded_bytes());
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    cache.join(format!(
        "{name}.{}.{}.shard",
        &path_sha[..12],
        &vocab_sha256[..12]
    ))
}

/// Whether path argument `p` is a glob pattern.
pub fn is_pattern(p: &Path) -> bool {
    p.to_string_lossy().contains(['*', '?', '['])
}

/// The files glob `pattern` matches, sorted by name.
pub fn glob_files(pattern: &Path) -> Result<Vec<PathBuf>> {
    let text = pattern.to_string_lossy();
    let matches = glob::glob(&text)
        .map_err(|e| InputError(format!("{text}: not a valid glob pattern ({e})")))?;
    let mut found: Vec<PathBuf> = matches
        .filter_map(|m| m.ok())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    Ok(found)
}

/// Input files named by `entries` (`dapt encode --input`): files, and glob patterns
/// (quoted, so a config or cron line works without a shell) giving their matches. An
/// entry that gives nothing is bad input.
pub fn input_files(entries: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in entries {
        if !is_pattern(entry) {
            out.push(entry.clone());
            continue;
        }
        let found = glob_files(entry)?;
        if found.is_empty() {
            crate::bad_input!(
                "--input {}: matches no file; check the pattern",
                entry.display()
            );
        }
        out.extend(found);
    }
    Ok(out)
}

/// The files `--corpus` names: a glob pattern gives its matches, a directory its
/// `.shard` files, each sorted by name; a file is itself. An entry that gives nothing is
/// bad input.
pub fn expand(corpora: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in corpora {
        let mut found: Vec<PathBuf> = if is_pattern(entry) {
            glob_files(entry)?
        } else if entry.is_dir() {
            std::fs::read_dir(entry)
                .map_err(|e| InputError::at_path(entry, format!("cannot list: {e}")))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "shard"))
                .collect()
        } else if entry.exists() {
            vec![entry.clone()]
        } else {
            crate::bad_input!("--corpus {}: no such file or directory", entry.display());
        };
        if found.is_empty() {
            crate::bad_input!(
                "--corpus {}: matches no {}; check the path (quote a glob so the shell does not expand it)",
                entry.display(),
                if is_pattern(entry) { "file" } else { ".shard file" }
            );
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Shard paths for `corpora` (expanded by [`expand`]): `.shard` files as they are, text
/// files (pair TSV or lines, per `format`) through their cache in `cache`, encoded with
/// `--pairs-as both` when missing or older than the text. The cache is not truncated:
/// the collator truncates when it draws a document, so one cache serves every
/// `--max-len`.
pub fn resolve(
    corpora: &[PathBuf],
    vocab: &Vocab,
    format: Format,
    cache: &Path,
) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in expand(corpora)? {
        if path.extension().is_some_and(|e| e == "shard") {
            out.push(path);
            continue;
        }
        let cached = cache_path(cache, &path, &vocab.sha256);
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let text_time = modified(&path).ok_or_else(|| {
            crate::error::InputError::at_path(&path, "cannot read corpus; check --corpus")
        })?;
        if modified(&cached).is_some_and(|c| c >= text_time) {
            out.push(cached);
            continue;
        }
        std::fs::create_dir_all(cache)
            .map_err(|e| InputError::at_path(cache, format!("cannot create the cache dir: {e}")))?;
        info(format!(
            "encoding {} into {} (cached for later runs)",
            path.display(),
            cached.display()
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
        encode_corpus(std::slice::from_ref(&path), vocab, &opts, &cached, &|_| {})?;
        out.push(cached);
    }
    Ok(out)
}

/// The default cache dir of text corpora: `$XDG_CACHE_HOME/dapt` or `~/.cache/dapt`,
/// else `OUT/cache`.
pub fn default_cache_dir(out: &Path) -> PathBuf {
    let user = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    match user {
        Some(dir) => dir.join("dapt"),
        None => out.join("cache"),
    }
}
