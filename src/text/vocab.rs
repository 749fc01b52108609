//! BERT vocabularies: building one from word counts, and the vocabulary directory on disk.
//!
//! A vocabulary dir holds `vocab.txt` (one token per line, id = line index),
//! `counts.tsv` (`token<TAB>count`), `tokenizer.json` (loadable by the `tokenizers`
//! library and by `BertTokenizerFast(tokenizer_file=...)`) and `dapt_vocab.json`
//! (how it was built). Only `vocab.txt` is required to load one, as in many HF checkpoints.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::table::TokenMap;
use crate::error::InputError;

/// The five BERT special tokens, at ids 0..5 of every vocabulary dapt builds.
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Name of the k-th rare-word placeholder.
pub fn rare_token(k: usize) -> String {
    format!("[RARE{k}]")
}

/// Which tokenizer model a vocabulary is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerKind {
    /// One token per whitespace-separated word (desensitized integer-id corpora).
    Wordlevel,
    /// BERT WordPiece sub-words over BERT pre-tokenization (natural text).
    Wordpiece,
}

/// The files of a vocabulary dir that every checkpoint carries, so that it reads text
/// on its own and a later `dapt vocab --extend` sees the counts.
pub const CHECKPOINT_FILES: [&str; 5] = [
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "dapt_vocab.json",
    "counts.tsv",
];

/// The [`CHECKPOINT_FILES`] of vocabulary dir `dir` that exist, as `(name, path)`.
pub fn checkpoint_files(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    CHECKPOINT_FILES
        .iter()
        .map(|n| (*n, dir.join(n)))
        .filter(|(_, p)| p.exists())
        .collect()
}

/// How a vocabulary was built (`dapt_vocab.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VocabMeta {
    /// Tokenizer model.
    pub tokenizer: TokenizerKind,
    /// Text is lowercased before lookup.
    pub lowercase: bool,
    /// Number of `[RARE{k}]` placeholders reserved after `[MASK]`.
    pub rare_placeholders: usize,
    /// Minimum count a word needed.
    pub min_count: u64,
    /// Maximum vocabulary size (special tokens included), if any.
    pub max_size: Option<usize>,
}

/// Ids of the special tokens, looked up by string (foreign vocabularies such as
/// bert-base-uncased put them elsewhere than 0..5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    /// `[PAD]`
    pub pad: u32,
    /// `[UNK]`
    pub unk: u32,
    /// `[CLS]`
    pub cls: u32,
    /// `[SEP]`
    pub sep: u32,
    /// `[MASK]`
    pub mask: u32,
}

/// A loaded vocabulary.
#[derive(Debug, Clone)]
pub struct Vocab {
    /// Tokens in id order.
    pub tokens: Vec<String>,
    index: TokenMap<u32>,
    /// Special token ids.
    pub special: SpecialIds,
    /// Ids of the rare-word placeholders, in order.
    pub rare: Vec<u32>,
    /// How it was built (defaults for foreign vocabularies: WordPiece, lowercase).
    pub meta: VocabMeta,
    /// sha256 of `vocab.txt`, hex: what shards record to refuse a mismatched vocabulary.
    pub sha256: String,
    /// The directory it was loaded from.
    pub dir: PathBuf,
}

/// Choose the tokens of a new word-level vocabulary from counts sorted by descending
/// count: specials, then `rare_placeholders` placeholders, then every word with at least
/// `min_count` occurrences, up to `max_size` tokens in all.
pub fn select_tokens(
    counts: &[(String, u64)],
    min_count: u64,
    max_size: Option<usize>,
    rare_placeholders: usize,
) -> Vec<String> {
    let mut tokens: Vec<String> = SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect();
    tokens.extend((0..rare_placeholders).map(rare_token));
    let limit = max_size.unwrap_or(usize::MAX);
    let reserved: std::collections::HashSet<String> = tokens.iter().cloned().collect();
    for (w, c) in counts {
        if tokens.len() >= limit || *c < min_count {
            break;
        }
        // A corpus word spelled like a special token must not get a second id.
        if !reserved.contains(w) {
            tokens.push(w.clone());
        }
    }
    tokens
}

/// Write `vocab.txt`, `counts.tsv` and `dapt_vocab.json` into `dir` (which must exist).
pub fn write_files(
    dir: &Path,
    tokens: &[String],
    counts: &[(String, u64)],
    meta: &VocabMeta,
) -> Result<()> {
    let mut vocab = std::io::BufWriter::new(fs::File::create(dir.join("vocab.txt"))?);
    for t in tokens {
        writeln!(vocab, "{t}")?;
    }
    vocab.flush()?;
    let mut out = std::io::BufWriter::new(fs::File::create(dir.join("counts.tsv"))?);
    for (t, c) in counts {
        writeln!(out, "{t}\t{c}")?;
    }
    out.flush()?;
    fs::write(
        dir.join("dapt_vocab.json"),
        serde_json::to_string_pretty(meta)? + "\n",
    )?;
    fs::write(
        dir.join("tokenizer_config.json"),
        serde_json::to_string_pretty(&hf_tokenizer_config(meta))? + "\n",
    )?;
    Ok(())
}

/// transformers' `tokenizer_config.json` for a vocabulary: without it, `AutoTokenizer`
/// builds a `BertTokenizer` that lowercases and strips accents, which, among other
/// things, decomposes every Hangul syllable into jamo that a cased vocabulary does not
/// hold (all Korean text would read as `[UNK]`).
fn hf_tokenizer_config(meta: &VocabMeta) -> serde_json::Value {
    serde_json::json!({
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": meta.lowercase,
        "tokenize_chinese_chars": true,
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    })
}

/// Every token of `tok` (added tokens included) with its id, in id order.
pub fn tokens_by_id(tok: &tokenizers::Tokenizer) -> Vec<(u32, String)> {
    let mut by_id: Vec<(u32, String)> = tok
        .get_vocab(true)
        .into_iter()
        .map(|(t, id)| (id, t))
        .collect();
    by_id.sort_unstable();
    by_id
}

/// The `vocab.txt` bytes equivalent to a `tokenizer.json` (tokens in id order): recent
/// transformers versions save tokenizers without `vocab.txt`.
fn vocab_txt_of_tokenizer(path: &Path) -> Result<Vec<u8>> {
    let tok = tokenizers::Tokenizer::from_file(path)
        .map_err(|e| InputError::at_path(path, format!("not a valid tokenizer.json: {e}")))?;
    let by_id = tokens_by_id(&tok);
    if let Some((i, (id, t))) = by_id
        .iter()
        .enumerate()
        .find(|(i, (id, _))| *id as usize != *i)
    {
        crate::bad_input!(
            "{}: token ids are not 0..{}: {t:?} has id {id} at position {i}; add a vocab.txt to the dir",
            path.display(),
            by_id.len()
        );
    }
    Ok(by_id
        .into_iter()
        .flat_map(|(_, t)| [t.into_bytes(), b"\n".to_vec()])
        .flatten()
        .collect())
}

impl Vocab {
    /// Whether `dir` has a vocabulary [`Vocab::load`] can read.
    pub fn exists_in(dir: &Path) -> bool {
        dir.join("vocab.txt").exists() || dir.join("tokenizer.json").exists()
    }

    /// Load the vocabulary of a vocab dir or checkpoint dir: `vocab.txt`, or the
    /// vocabulary of `tokenizer.json` when a dir has no `vocab.txt`.
    pub fn load(dir: &Path) -> Result<Vocab> {
        let path = dir.join("vocab.txt");
        if !dir.is_dir() {
            crate::bad_input!(
                "{}: not a directory; pass the vocabulary dir written by `dapt vocab --out`",
                dir.display()
            );
        }
        let tokenizer_json = dir.join("tokenizer.json");
        let (path, bytes) = if !path.exists() && tokenizer_json.exists() {
            let bytes = vocab_txt_of_tokenizer(&tokenizer_json)?;
            (tokenizer_json, bytes)
        } else {
            let bytes = fs::read(&path).map_err(|e| {
                InputError::at_path(
                    &path,
                    format!(
                        "cannot read vocab.txt ({e}); build one with `dapt vocab --out {}`",
                        dir.display()
                    ),
                )
            })?;
            (path, bytes)
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            InputError::at_path(
                &path,
                format!("invalid UTF-8 at byte offset {}", e.valid_up_to()),
            )
        })?;
        let tokens: Vec<String> = crate::text::corpus::strip_bom(text)
            .lines()
            .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
            .collect();
        let mut index = TokenMap::default();
        for (i, t) in tokens.iter().enumerate() {
            if index.get(t.as_bytes()).is_some() {
                return Err(InputError::at_line(
                    &path,
                    i as u64 + 1,
                    format!("token {t:?} appears twice"),
                )
                .into());
            }
            index.insert(t.as_bytes(), i as u32);
        }
        let find = |name: &str| -> Result<u32> {
            index.get(name.as_bytes()).copied().ok_or_else(|| {
                InputError::at_path(&path, format!("special token {name} is missing; a BERT vocabulary needs {SPECIAL_TOKENS:?}")).into()
            })
        };
        let special = SpecialIds {
            pad: find("[PAD]")?,
            unk: find("[UNK]")?,
            cls: find("[CLS]")?,
            sep: find("[SEP]")?,
            mask: find("[MASK]")?,
        };
        let meta_path = dir.join("dapt_vocab.json");
        let meta: VocabMeta = if meta_path.exists() {
            serde_json::from_slice(&fs::read(&meta_path)?).map_err(|e| {
                InputError::at_path(
                    &meta_path,
                    format!("not a dapt vocabulary description: {e}"),
                )
            })?
        } else {
            VocabMeta {
                tokenizer: TokenizerKind::Wordpiece,
                lowercase: true,
                rare_placeholders: 0,
                min_count: 0,
                max_size: None,
            }
        };
        let rare = (0..meta.rare_placeholders)
            .map(|k| find(&rare_token(k)))
            .collect::<Result<Vec<u32>>>()?;
        Ok(Vocab {
            sha256: sha256_hex(&bytes),
            tokens,
            index,
            special,
            rare,
            meta,
            dir: dir.to_path_buf(),
        })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True for an empty vocabulary (never the case for a loaded one).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Id of a token, if present.
    #[inline]
    pub fn id(&self, token: &[u8]) -> Option<u32> {
        self.index.get(token).copied()
    }

    /// Id of a token whose canonical-decimal value `int` is known (see
    /// [`crate::text::corpus::for_each_word`]), else by its bytes.
    #[inline]
    pub fn id_of_word(&self, token: &[u8], int: Option<u32>) -> Option<u32> {
        match int {
            Some(v) => self.index.get_int(v).copied(),
            None => self.index.get(token).copied(),
        }
    }

    /// The token of an id (`"<id N>"` when out of range, for display only).
    pub fn token(&self, id: u32) -> &str {
        self.tokens
            .get(id as usize)
            .map_or("<out of range>", |s| s.as_str())
    }

    /// Path of `tokenizer.json` in the vocab dir, if there is one.
    pub fn tokenizer_json(&self) -> Option<PathBuf> {
        let p = self.dir.join("tokenizer.json");
        p.exists().then_some(p)
    }

    /// Per-token counts from `counts.tsv` in vocabulary order (0 for tokens not listed),
    /// if the file exists.
    pub fn counts(&self) -> Result<Option<Vec<u64>>> {
        let path = self.dir.join("counts.tsv");
        if !path.exists() {
            return Ok(None);
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut counts = vec![0u64; self.len()];
        for (i, line) in text.lines().enumerate() {
            let (tok, c) = line.rsplit_once('\t').ok_or_else(|| {
                InputError::at_line(&path, i as u64 + 1, "expected token<TAB>count")
            })?;
            let c: u64 = c.parse().map_err(|_| {
                InputError::at_line(
                    &path,
                    i as u64 + 1,
                    format!("count {c:?} is not a whole number"),
                )
            })?;
            if let Some(id) = self.id(tok.as_bytes()) {
                counts[id as usize] = c;
            }
        }
        Ok(Some(counts))
    }
}

/// Lowercase hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
