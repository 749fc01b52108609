//! Text: corpus readers, word counting, vocabularies and tokenizers.

pub mod corpus;
pub mod count;
pub mod table;
