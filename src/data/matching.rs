//! The exact-match input feature (`--match-embedding`): for every token of a
//! `[CLS] a [SEP] b [SEP]` sequence, whether its id also occurs in the other text, as the
//! exact-match feature of reading-comprehension models (DrQA, Chen et al. 2017). A small
//! model trained from scratch on a few thousand pairs does not learn to match identical
//! tokens as well as counting shared words does; this hands it the match directly.

use std::collections::HashSet;

/// 1 where the token is text (`is_text`) and its id occurs among the text tokens of the
/// other segment (token type 0 against 1), 0 elsewhere: special tokens, padding, and
/// every token of a single text. Computed on the ids the model sees, after rare
/// placeholders (numbered per pair, so the same rare word matches itself) and after
/// masking when pretraining (a `[MASK]` never matches, so the flag does not give away
/// the masked word).
pub fn match_flags(ids: &[u32], types: &[u32], is_text: impl Fn(u32) -> bool) -> Vec<u32> {
    let segment = |t: u32| -> HashSet<u32> {
        ids.iter()
            .zip(types)
            .filter(|&(&id, &ty)| ty == t && is_text(id))
            .map(|(&id, _)| id)
            .collect()
    };
    let segments = [segment(0), segment(1)];
    ids.iter()
        .zip(types)
        .map(|(&id, &ty)| {
            let other = &segments[usize::from(ty == 0)];
            u32::from(is_text(id) && other.contains(&id))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::match_flags;

    #[test]
    fn flags_by_hand() {
        // [CLS]=2 7 8 9 [SEP]=3 | 9 7 7 [SEP]=3 ; ids below 5 are special.
        let ids = [2, 7, 8, 9, 3, 9, 7, 7, 3];
        let types = [0, 0, 0, 0, 0, 1, 1, 1, 1];
        assert_eq!(
            match_flags(&ids, &types, |id| id >= 5),
            [0, 1, 0, 1, 0, 1, 1, 1, 0]
        );
        // A single text has no other segment.
        assert_eq!(match_flags(&[2, 7, 7, 3], &[0; 4], |id| id >= 5), [0; 4]);
    }
}
