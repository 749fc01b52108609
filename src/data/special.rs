//! The special-token layout of a dapt vocabulary, as masking and collation need it.

use rand::Rng;

use crate::error::InputError;

/// Which ids are special in a vocabulary: `[PAD]`=0, `[UNK]`=1, `[CLS]`=2, `[SEP]`=3,
/// `[MASK]`=4, then `num_rare` placeholders `[RARE0]`.. at `5..5+num_rare`, then ordinary
/// tokens up to `vocab_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialTokens {
    vocab_size: usize,
    num_rare: usize,
}

impl SpecialTokens {
    /// `[PAD]`: padding.
    pub const PAD: u32 = 0;
    /// `[UNK]`: unknown token.
    pub const UNK: u32 = 1;
    /// `[CLS]`: first token of every sequence.
    pub const CLS: u32 = 2;
    /// `[SEP]`: ends each text.
    pub const SEP: u32 = 3;
    /// `[MASK]`: replaces most chosen tokens.
    pub const MASK: u32 = 4;
    /// Number of fixed special tokens before the rare placeholders.
    pub const NUM_FIXED: usize = 5;

    /// The layout of a vocabulary of `vocab_size` ids with `num_rare` rare placeholders.
    ///
    /// Fails unless at least one ordinary token remains (random replacements need one).
    pub fn new(vocab_size: usize, num_rare: usize) -> Result<Self, InputError> {
        if vocab_size <= Self::NUM_FIXED + num_rare {
            return Err(InputError(format!(
                "vocabulary of {vocab_size} ids with {num_rare} rare placeholders has no ordinary \
                 token: it needs more than {} ids",
                Self::NUM_FIXED + num_rare
            )));
        }
        Ok(SpecialTokens {
            vocab_size,
            num_rare,
        })
    }

    /// Total number of ids in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Number of special ids, rare placeholders included (`5 + num_rare`).
    pub fn num_special(&self) -> usize {
        Self::NUM_FIXED + self.num_rare
    }

    /// Whether `id` may be chosen for masking: everything but `[PAD] [UNK] [CLS] [SEP]
    /// [MASK]`. Rare placeholders may be chosen (they stand for real words).
    #[inline]
    pub fn is_maskable(&self, id: u32) -> bool {
        id as usize >= Self::NUM_FIXED
    }

    /// A random replacement token, uniform over the ordinary ids
    /// `[num_special, vocab_size)` (never a special id or a rare placeholder).
    #[inline]
    pub fn random_ordinary<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        rng.random_range(self.num_special() as u32..self.vocab_size as u32)
    }
}
