//! Vocabulary adaptation (`dapt vocab --extend CKPT --add N`): a checkpoint's WordPiece
//! vocabulary plus the N most frequent corpus words it splits into two or more pieces,
//! appended after its last id so every pretrained row keeps its index.
//!
//! Domain words that a general vocabulary shatters ("paracetamol" → 5 pieces) cost
//! sequence length and are hard for MLM to learn; giving them whole-word tokens
//! (initialised from their pieces by `pretrain --init-from`) is the usual remedy
//! (Tai et al. 2020, exBERT; Sachidananda et al. 2021, adaptive tokenization).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use serde::Serialize;
use tokenizers::models::ModelWrapper;
use tokenizers::{Model, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};
use tokenizers::{Normalizer, Tokenizer};

use super::count::{fold_texts, ReadOptions};
use super::vocab::{TokenizerKind, Vocab, VocabMeta};

/// The report `dapt vocab --extend` writes into the vocabulary dir.
pub const EXTEND_REPORT: &str = "extend.json";

/// One word `--extend` added.
#[derive(Debug, Clone, Serialize)]
pub struct AddedWord {
    /// The word as the checkpoint's normalizer and pre-tokenizer produce it.
    pub word: String,
    /// Occurrences in the corpora.
    pub count: u64,
    /// How many pieces the checkpoint's WordPiece split it into.
    pub pieces: usize,
}

/// An extended vocabulary, ready to write (and `extend.json`, its report).
#[derive(Debug, Serialize)]
pub struct Extension {
    /// The checkpoint (or vocabulary) dir extended.
    pub checkpoint: PathBuf,
    /// Tokens of the checkpoint's vocabulary.
    pub base_size: usize,
    /// Words seen at least `min_count` times that split into two or more pieces.
    pub candidates: usize,
    /// The words appended, most frequent first (ids `base_size..`).
    pub added: Vec<AddedWord>,
    /// Texts read.
    pub texts: u64,
    /// Tokens per text with the checkpoint's tokenizer.
    pub tokens_per_text_before: f64,
    /// Tokens per text with the extended one.
    pub tokens_per_text_after: f64,
    /// All tokens in id order.
    #[serde(skip)]
    pub tokens: Vec<String>,
    /// `counts.tsv` rows: every token's count in the corpora encoded with the extension.
    #[serde(skip)]
    pub counts: Vec<(String, u64)>,
    /// The extended tokenizer.
    #[serde(skip)]
    pub tokenizer: Tokenizer,
    /// The base vocabulary's description (`dapt_vocab.json`), without a size limit and
    /// with the `min_count` of the added words.
    #[serde(skip)]
    pub meta: VocabMeta,
}

/// Words (normalized and pre-tokenized as `tok` does) of every text, with counts, and the
/// number of texts.
fn count_words(
    paths: &[PathBuf],
    read: &ReadOptions,
    tok: &Tokenizer,
) -> Result<(HashMap<String, u64>, u64)> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut texts = 0u64;
    let words_of = |text: &str, out: &mut HashMap<String, u64>| -> Result<()> {
        let mut pre = PreTokenizedString::from(text);
        if let Some(n) = tok.get_normalizer() {
            pre.normalize(|s| n.normalize(s))
                .map_err(|e| anyhow!("normalizing {text:?}: {e}"))?;
        }
        if let Some(p) = tok.get_pre_tokenizer() {
            p.pre_tokenize(&mut pre)
                .map_err(|e| anyhow!("pre-tokenizing {text:?}: {e}"))?;
        }
        for (word, _, _) in pre.get_splits(OffsetReferential::Normalized, OffsetType::Byte) {
            *out.entry(word.to_string()).or_default() += 1;
        }
        Ok(())
    };
    fold_texts(
        paths,
        read,
        || (HashMap::new(), 0u64),
        |(local, n), t| {
            *n += 1;
            words_of(t, local)
        },
        |(local, n)| {
            texts += n;
            for (w, c) in local {
                *counts.entry(w).or_default() += c;
            }
        },
    )?;
    Ok((counts, texts))
}

/// The tokenizer of `base` with `words` appended to its WordPiece vocabulary at ids
/// `base_size..` (as vocabulary entries, not added tokens: they are ordinary words that
/// the normalizer and pre-tokenizer must still see).
fn with_words(base: &Tokenizer, base_size: usize, words: &[AddedWord]) -> Result<Tokenizer> {
    let json = base
        .to_string(false)
        .map_err(|e| anyhow!("serializing the tokenizer: {e}"))?;
    let mut value: serde_json::Value = serde_json::from_str(&json)?;
    let vocab = value["model"]["vocab"]
        .as_object_mut()
        .ok_or_else(|| anyhow!("the WordPiece tokenizer has no vocab map"))?;
    for (i, w) in words.iter().enumerate() {
        vocab.insert(w.word.clone(), (base_size + i).into());
    }
    value
        .to_string()
        .parse::<Tokenizer>()
        .map_err(|e| anyhow!("rebuilding the extended tokenizer: {e}"))
}

/// Extend the WordPiece vocabulary of `dir` (a checkpoint or vocabulary dir) with the
/// `add` most frequent words of the corpora `paths` (seen at least `min_count` times) it
/// splits into two or more pieces.
pub fn extend_vocab(
    dir: &Path,
    paths: &[PathBuf],
    read: &ReadOptions,
    add: usize,
    min_count: u64,
) -> Result<Extension> {
    let base = Vocab::load(dir)?;
    if base.meta.tokenizer != TokenizerKind::Wordpiece {
        crate::bad_input!(
            "--extend {}: its vocabulary is word-level (dapt_vocab.json); --extend appends words to a WordPiece vocabulary. For a word-level corpus build a new vocabulary with `dapt vocab` and align it with `dapt pretrain --init-from {} --align-embeddings ...`",
            dir.display(),
            dir.display()
        );
    }
    let tok = super::tokenizer::load(&base)?;
    let ModelWrapper::WordPiece(model) = tok.get_model() else {
        crate::bad_input!(
            "--extend {}: its tokenizer.json model is not WordPiece; --extend only extends BERT WordPiece vocabularies",
            dir.display()
        );
    };
    let (counts, texts) = count_words(paths, read, &tok)?;
    let mut candidates: Vec<AddedWord> = counts
        .into_iter()
        .filter(|(_, c)| *c >= min_count)
        .filter_map(|(word, count)| {
            let pieces = model.tokenize(&word).ok()?.len();
            (pieces >= 2).then_some(AddedWord {
                word,
                count,
                pieces,
            })
        })
        .collect();
    if add > candidates.len() {
        crate::bad_input!(
            "--add {add}: only {} corpus words (seen at least --min-count {min_count} times) are split into two or more pieces by {}; use --add {} or less",
            candidates.len(),
            dir.display(),
            candidates.len()
        );
    }
    // Most frequent first; ties by word, so the result does not depend on hash order.
    candidates.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)));
    let n_candidates = candidates.len();
    candidates.truncate(add);
    let tokenizer = with_words(&tok, base.len(), &candidates)?;
    let mut tokens = base.tokens.clone();
    tokens.extend(candidates.iter().map(|w| w.word.clone()));
    let before: u64 = super::build::token_counts(paths, read, &tok, base.len())?
        .iter()
        .sum();
    let after = super::build::token_counts(paths, read, &tokenizer, tokens.len())?;
    let tokens_after: u64 = after.iter().sum();
    Ok(Extension {
        checkpoint: dir.to_path_buf(),
        base_size: base.len(),
        candidates: n_candidates,
        added: candidates,
        texts,
        tokens_per_text_before: before as f64 / texts.max(1) as f64,
        tokens_per_text_after: tokens_after as f64 / texts.max(1) as f64,
        counts: tokens.iter().cloned().zip(after).collect(),
        tokens,
        tokenizer,
        meta: VocabMeta {
            max_size: None,
            min_count,
            ..base.meta
        },
    })
}
