//! Parameter groups: which parameters get weight decay.

/// Whether the parameter called `name` gets weight decay.
///
/// The Hugging Face convention from BERT's original recipe: biases (names ending in `bias`)
/// and LayerNorm weights (names containing `LayerNorm`) are not decayed; everything else,
/// embeddings included, is.
pub fn decays(name: &str) -> bool {
    !(name.ends_with("bias") || name.contains("LayerNorm"))
}
