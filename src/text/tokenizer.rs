//! `tokenizer.json` files, built with the `tokenizers` crate so Python's `tokenizers`
//! and `transformers.BertTokenizerFast(tokenizer_file=...)` load them unchanged.

use std::path::Path;

use anyhow::{anyhow, Result};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::normalizers::utils::Lowercase;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{AddedToken, Tokenizer};

use super::vocab::{tokens_by_id, TokenizerKind, Vocab, SPECIAL_TOKENS};
use crate::error::InputError;

/// The `tokenizers` crate's boxed errors as anyhow errors.
fn tk<T>(r: tokenizers::Result<T>) -> Result<T> {
    r.map_err(|e| anyhow!("tokenizer: {e}"))
}

fn post_processor(tokens: &[String]) -> Result<BertProcessing> {
    let id = |name: &str| {
        tokens
            .iter()
            .position(|t| t == name)
            .map(|i| (name.to_string(), i as u32))
            .ok_or_else(|| anyhow!("vocabulary lacks {name}"))
    };
    Ok(BertProcessing::new(id("[SEP]")?, id("[CLS]")?))
}

fn special_added(tokens: &[String]) -> Vec<AddedToken> {
    tokens
        .iter()
        .filter(|t| {
            t.starts_with('[')
                && t.ends_with(']')
                && (SPECIAL_TOKENS.contains(&t.as_str()) || t.starts_with("[RARE"))
        })
        .map(|t| AddedToken::from(t.clone(), true))
        .collect()
}

/// A word-level tokenizer over `tokens` (id = index): whitespace split, optional
/// lowercasing, `[UNK]` for unknown words, `[CLS] a [SEP] b [SEP]` for pairs.
pub fn wordlevel(tokens: &[String], lowercase: bool) -> Result<Tokenizer> {
    let vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let model = WordLevel::builder()
        .vocab(vocab)
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| anyhow!("building the word-level model: {e}"))?;
    let mut tok = Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(WhitespaceSplit));
    if lowercase {
        tk(tok.with_normalizer(Some(Lowercase)))?;
    }
    tok.with_post_processor(Some(post_processor(tokens)?));
    tk(tok.add_special_tokens(special_added(tokens)))?;
    Ok(tok)
}

fn bert_normalizer(lowercase: bool) -> BertNormalizer {
    // clean_text and CJK-character splitting as in BERT; accents stripped iff lowercasing.
    BertNormalizer::new(true, true, None, lowercase)
}

/// Train a WordPiece tokenizer over `texts` (natural text): BERT normalizer and
/// pre-tokenizer, `min_count` and `max_size` as for word-level vocabularies.
/// Returns it with its tokens in id order.
pub fn train_wordpiece<I>(
    texts: I,
    lowercase: bool,
    min_count: u64,
    max_size: Option<usize>,
    rare_placeholders: usize,
) -> Result<(Tokenizer, Vec<String>)>
where
    I: Iterator<Item = String> + Send,
{
    let mut specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    specials.extend(
        (0..rare_placeholders).map(|k| AddedToken::from(super::vocab::rare_token(k), true)),
    );
    let trainer = WordPieceTrainer::builder()
        .min_frequency(min_count)
        .vocab_size(max_size.unwrap_or(30_522))
        .show_progress(false)
        .special_tokens(specials)
        .build();
    let mut tok = Tokenizer::new(WordPiece::default());
    tk(tok.with_normalizer(Some(bert_normalizer(lowercase))))?;
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    tok.with_decoder(Some(tokenizers::decoders::wordpiece::WordPiece::default()));
    let mut trainer = tokenizers::models::TrainerWrapper::from(trainer);
    tok.train(&mut trainer, texts)
        .map_err(|e| anyhow!("training WordPiece: {e}"))?;
    let mut vocab: Vec<(String, u32)> = tok.get_vocab(true).into_iter().collect();
    vocab.sort_by_key(|(_, id)| *id);
    let tokens: Vec<String> = vocab.into_iter().map(|(t, _)| t).collect();
    tok.with_post_processor(Some(post_processor(&tokens)?));
    Ok((tok, tokens))
}

/// Save a tokenizer as `tokenizer.json` at `path`.
pub fn save(tok: &Tokenizer, path: &Path) -> Result<()> {
    tok.save(path, false)
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))
}

/// The HF tokenizer of a vocabulary: its `tokenizer.json`, or (for checkpoint dirs that
/// only have `vocab.txt`) one rebuilt from the vocabulary and its description.
///
/// A hub `tokenizer.json` is read for its vocabulary, normalizer, pre-tokenizer and
/// model only. Its padding and truncation are switched off (all-MiniLM-L6-v2 ships fixed
/// padding to 128, which would put `[PAD]`s inside every pair): dapt truncates pairs
/// longest-first and pads batches itself. Its post-processor is never applied (texts are
/// encoded without special tokens; dapt adds `[CLS]`/`[SEP]` by id). Its added tokens
/// must agree with `vocab.txt`, or ids would point past the embedding matrix.
pub fn load(vocab: &Vocab) -> Result<Tokenizer> {
    if let Some(path) = vocab.tokenizer_json() {
        let mut tok = Tokenizer::from_file(&path)
            .map_err(|e| InputError::at_path(&path, format!("not a valid tokenizer.json: {e}")))?;
        tok.with_padding(None);
        tk(tok.with_truncation(None))?;
        check_agrees(&tok, vocab, &path)?;
        return Ok(tok);
    }
    match vocab.meta.tokenizer {
        TokenizerKind::Wordlevel => wordlevel(&vocab.tokens, vocab.meta.lowercase),
        TokenizerKind::Wordpiece => {
            let map: ahash::AHashMap<String, u32> = vocab
                .tokens
                .iter()
                .enumerate()
                .map(|(i, t)| (t.clone(), i as u32))
                .collect();
            let model = WordPiece::builder()
                .vocab(map)
                .unk_token("[UNK]".into())
                .build()
                .map_err(|e| anyhow!("building WordPiece from vocab.txt: {e}"))?;
            let mut tok = Tokenizer::new(model);
            tk(tok.with_normalizer(Some(bert_normalizer(vocab.meta.lowercase))))?;
            tok.with_pre_tokenizer(Some(BertPreTokenizer));
            tok.with_post_processor(Some(post_processor(&vocab.tokens)?));
            tk(tok.add_special_tokens(special_added(&vocab.tokens)))?;
            Ok(tok)
        }
    }
}

/// Every token of `tok` (added tokens included) must have the same id in `vocab`.
fn check_agrees(tok: &Tokenizer, vocab: &Vocab, path: &Path) -> Result<()> {
    for (id, t) in tokens_by_id(tok) {
        if vocab.tokens.get(id as usize) != Some(&t) {
            crate::bad_input!(
                "{}: token {t:?} has id {id} but {} has {:?} there ({} tokens); the tokenizer and vocab.txt must come from the same checkpoint (remove one of them, or rebuild the vocabulary)",
                path.display(),
                vocab.dir.join("vocab.txt").display(),
                vocab.token(id),
                vocab.len()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::text::encode::{EncodedDoc, TextEncoder};
    use crate::text::vocab::Vocab;

    /// A checkpoint dir with only `vocab.txt` (as many HF checkpoints ship) reads text
    /// with a BERT WordPiece tokenizer built from it, as `BertTokenizerFast` does:
    /// lowercased, punctuation split off, `##` continuations.
    #[test]
    fn vocab_txt_alone_gives_a_bert_wordpiece_tokenizer() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "play", "##ing",
            "!",
        ];
        std::fs::write(dir.path().join("vocab.txt"), tokens.join("\n") + "\n").unwrap();
        let vocab = Vocab::load(dir.path()).unwrap();
        assert!(vocab.tokenizer_json().is_none());
        let enc = TextEncoder::new(&vocab, None).unwrap();
        let mut doc = EncodedDoc::default();
        enc.encode(&["Hello Worlds!", "playing xyz"], &mut doc)
            .unwrap();
        assert_eq!(doc.ids, [5, 6, 7, 10, 8, 9, 1]);
        assert_eq!(doc.lens, [4, 3]);
        assert_eq!(doc.word_start, [true, true, false, true, true, false, true]);
    }
}
