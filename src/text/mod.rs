//! Text: corpus readers, word counting, vocabularies and tokenizers.

pub mod build;
pub mod corpus;
pub mod count;
pub mod encode;
pub mod extend;
pub mod table;
pub mod tokenizer;
pub mod vocab;
