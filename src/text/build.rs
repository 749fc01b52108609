//! Building a vocabulary from corpora: word-level by counting, WordPiece by training.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use anyhow::{anyhow, Result};
use tokenizers::Tokenizer;

use super::count::{
    count_words, fold_texts, for_each_batch, for_each_text, ReadOptions, WordCounts,
};
use super::vocab::{select_tokens, TokenizerKind, VocabMeta};

/// A vocabulary ready to be written.
pub struct BuiltVocab {
    /// Tokens in id order.
    pub tokens: Vec<String>,
    /// `counts.tsv` rows: every counted word (word-level), or every vocabulary token's
    /// count in the encoded corpus (WordPiece).
    pub counts: Vec<(String, u64)>,
    /// The `tokenizer.json` to save.
    pub tokenizer: Tokenizer,
    /// Corpus statistics from counting.
    pub stats: WordCounts,
    /// Occurrences (of words for word-level, of tokens for WordPiece) that the
    /// vocabulary covers, i.e. that do not become `[UNK]`.
    pub covered: u64,
    /// All occurrences counted in `covered`'s unit.
    pub occurrences: u64,
}

/// Build a vocabulary as `meta` describes from the corpora `paths`.
pub fn build_vocab(
    paths: &[PathBuf],
    read: &ReadOptions,
    meta: &VocabMeta,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<BuiltVocab> {
    let stats = count_words(paths, read, meta.lowercase, progress)?;
    match meta.tokenizer {
        TokenizerKind::Wordlevel => {
            let tokens = select_tokens(
                &stats.counts,
                meta.min_count,
                meta.max_size,
                meta.rare_placeholders,
            );
            let kept: std::collections::HashSet<&str> = tokens.iter().map(|t| t.as_str()).collect();
            let covered = stats
                .counts
                .iter()
                .filter(|(w, _)| kept.contains(w.as_str()))
                .map(|(_, c)| c)
                .sum();
            let tokenizer = super::tokenizer::wordlevel(&tokens, meta.lowercase)?;
            Ok(BuiltVocab {
                counts: stats.counts.clone(),
                occurrences: stats.words,
                tokens,
                tokenizer,
                stats,
                covered,
            })
        }
        TokenizerKind::Wordpiece => {
            let (tokenizer, tokens) = train_wordpiece(paths, read, meta)?;
            let ids = token_counts(paths, read, &tokenizer, tokens.len())?;
            let unk = tokens.iter().position(|t| t == "[UNK]").unwrap_or(1);
            let total: u64 = ids.iter().sum();
            Ok(BuiltVocab {
                counts: tokens.iter().cloned().zip(ids.iter().copied()).collect(),
                covered: total - ids[unk],
                occurrences: total,
                tokens,
                tokenizer,
                stats,
            })
        }
    }
}

/// Texts of every record, streamed from a reader thread (the WordPiece trainer wants
/// one iterator over the whole corpus).
fn train_wordpiece(
    paths: &[PathBuf],
    read: &ReadOptions,
    meta: &VocabMeta,
) -> Result<(Tokenizer, Vec<String>)> {
    let (tx, rx) = sync_channel::<String>(4096);
    let paths = paths.to_vec();
    let read = read.clone();
    let reader = std::thread::spawn(move || -> Result<()> {
        for_each_batch(&paths, read.header, 1, |chunks| {
            for chunk in chunks {
                let text = chunk.check_utf8()?;
                let walk = for_each_text(chunk, text, &read, |t| {
                    // The trainer stopped early (error): stop reading too.
                    Ok(match tx.send(t.to_string()) {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(_) => ControlFlow::Break(()),
                    })
                })?;
                if walk.is_break() {
                    return Ok(());
                }
            }
            Ok(())
        })
    });
    let trained = super::tokenizer::train_wordpiece(
        rx.into_iter(),
        meta.lowercase,
        meta.min_count,
        meta.max_size,
        meta.rare_placeholders,
    );
    reader
        .join()
        .map_err(|_| anyhow!("corpus reader thread panicked"))??;
    trained
}

/// Count how often each token id occurs when the corpora are encoded with `tok`.
pub fn token_counts(
    paths: &[PathBuf],
    read: &ReadOptions,
    tok: &Tokenizer,
    vocab_size: usize,
) -> Result<Vec<u64>> {
    let mut counts = vec![0u64; vocab_size];
    fold_texts(
        paths,
        read,
        || vec![0u64; vocab_size],
        |local, t| {
            let enc = tok
                .encode(t, false)
                .map_err(|e| anyhow!("tokenizing {t:?}: {e}"))?;
            for &id in enc.get_ids() {
                local[id as usize] += 1;
            }
            Ok(())
        },
        |local| {
            for (c, x) in counts.iter_mut().zip(local) {
                *c += x;
            }
        },
    )?;
    Ok(counts)
}

/// Total size in bytes of the given files (for progress bars); unreadable ones count 0
/// and fail later with a proper error.
pub fn total_bytes(paths: &[PathBuf]) -> u64 {
    paths
        .iter()
        .map(|p| Path::new(p).metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}
