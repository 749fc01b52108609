//! Turning texts into token ids and word starts, for shards.
//!
//! Word-level vocabularies take a fast path (a hash lookup per whitespace word, no
//! allocation), which is what makes `dapt encode` run at disk speed on desensitized
//! corpora; WordPiece vocabularies go through the `tokenizers` crate.

use anyhow::{anyhow, Result};
use tokenizers::Tokenizer;

use super::corpus::for_each_word;
use super::vocab::{TokenizerKind, Vocab};

/// Token ids of one document (one or two texts) with a word-start flag per token.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EncodedDoc {
    /// Token ids of all texts, concatenated.
    pub ids: Vec<u32>,
    /// `true` where a token begins a word (every token, for word-level vocabularies).
    pub word_start: Vec<bool>,
    /// Number of tokens of each text.
    pub lens: Vec<usize>,
    /// Whether any rare placeholder was assigned (their numbering is per document, so
    /// a text taken alone may then encode differently than inside its pair).
    pub used_rare: bool,
}

impl EncodedDoc {
    /// Empty the document for reuse (keeps the allocations).
    pub fn clear(&mut self) {
        self.ids.clear();
        self.word_start.clear();
        self.lens.clear();
        self.used_rare = false;
    }
}

/// Encodes texts with a vocabulary.
pub struct TextEncoder<'v> {
    vocab: &'v Vocab,
    hf: Option<Tokenizer>,
    rare: &'v [u32],
}

impl<'v> TextEncoder<'v> {
    /// An encoder for `vocab` using at most `rare_placeholders` of its `[RARE{k}]` tokens
    /// (`None`: all it reserves).
    pub fn new(vocab: &'v Vocab, rare_placeholders: Option<usize>) -> Result<Self> {
        let n = rare_placeholders.unwrap_or(vocab.rare.len());
        if n > vocab.rare.len() {
            crate::bad_input!(
                "--rare-placeholders {n}: the vocabulary in {} reserves only {}; rebuild it with `dapt vocab --rare-placeholders {n}`",
                vocab.dir.display(),
                vocab.rare.len()
            );
        }
        let hf = match vocab.meta.tokenizer {
            TokenizerKind::Wordlevel => None,
            TokenizerKind::Wordpiece => Some(super::tokenizer::load(vocab)?),
        };
        Ok(TextEncoder {
            vocab,
            hf,
            rare: &vocab.rare[..n],
        })
    }

    /// Encode the texts of one document (a single text or the two of a pair) into `out`.
    ///
    /// With rare placeholders, each distinct out-of-vocabulary word of the document gets
    /// its own `[RARE{k}]` (in order of first occurrence, `[UNK]` once they run out), so
    /// "the same unknown word is in both sentences" survives encoding.
    pub fn encode(&self, texts: &[&str], out: &mut EncodedDoc) -> Result<()> {
        out.clear();
        match &self.hf {
            None => self.encode_wordlevel(texts, out),
            Some(tok) => {
                for text in texts {
                    let enc = tok
                        .encode(*text, false)
                        .map_err(|e| anyhow!("tokenizing {text:?}: {e}"))?;
                    let mut prev_word = None;
                    for (&id, word) in enc.get_ids().iter().zip(enc.get_word_ids()) {
                        out.ids.push(id);
                        out.word_start.push(word.is_none() || *word != prev_word);
                        prev_word = *word;
                    }
                    out.lens.push(enc.get_ids().len());
                }
            }
        }
        Ok(())
    }

    fn encode_wordlevel(&self, texts: &[&str], out: &mut EncodedDoc) {
        if self.vocab.meta.lowercase {
            let lowered: Vec<String> = texts.iter().map(|t| t.to_lowercase()).collect();
            self.encode_words(lowered.iter().map(|s| s.as_str()), out);
        } else {
            self.encode_words(texts.iter().copied(), out);
        }
    }

    fn encode_words<'t>(&self, texts: impl Iterator<Item = &'t str>, out: &mut EncodedDoc) {
        // Distinct unknown words of this document, index = placeholder number. Documents
        // are short queries, so a linear scan beats hashing.
        let mut unknown: Vec<&'t [u8]> = Vec::new();
        for text in texts {
            let before = out.ids.len();
            for_each_word(text, |w, int| {
                let id = match self.vocab.id_of_word(w, int) {
                    Some(id) => id,
                    None => self.unknown_id(w, &mut unknown),
                };
                out.ids.push(id);
            });
            // Word-level: every token is a word.
            out.word_start.resize(out.ids.len(), true);
            out.lens.push(out.ids.len() - before);
        }
        out.used_rare = !unknown.is_empty();
    }

    /// The id of an out-of-vocabulary word: its rare placeholder within the document
    /// (`unknown` lists the document's unknown words so far), or `[UNK]`. Out of line:
    /// the common case is a known word.
    #[cold]
    #[inline(never)]
    fn unknown_id<'t>(&self, w: &'t [u8], unknown: &mut Vec<&'t [u8]>) -> u32 {
        if let Some(k) = unknown.iter().position(|u| *u == w) {
            return self.rare[k];
        }
        if unknown.len() < self.rare.len() {
            unknown.push(w);
            return self.rare[unknown.len() - 1];
        }
        self.vocab.special.unk
    }
}
