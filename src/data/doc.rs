//! Documents as the collator reads them: token ids, word starts and the pair split,
//! from a shard or from memory.

/// One document without special tokens: a single text, or a pair (text a then text b).
pub trait DocSource {
    /// Number of tokens (both texts of a pair).
    fn len(&self) -> usize;
    /// Token id at position `i`.
    fn id(&self, i: usize) -> u32;
    /// Whether token `i` begins a word (false for WordPiece continuations).
    fn is_word_start(&self, i: usize) -> bool;
    /// For a pair, the number of tokens of text a; `None` for a single text.
    fn split(&self) -> Option<usize>;

    /// True for a document without tokens.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Anything that hands out documents by index (a shard, a slice of [`MemDoc`]s).
pub trait DocStore: Sync {
    /// The borrowed document type.
    type Doc<'a>: DocSource
    where
        Self: 'a;
    /// Number of documents.
    fn num_docs(&self) -> usize;
    /// Document `i` (panics if out of range).
    fn doc(&self, i: usize) -> Self::Doc<'_>;
    /// Drop the pages of a memory-mapped store read so far from the process's resident
    /// set (callers do so once a batch is collated); nothing for stores in memory.
    fn release_pages(&self) {}
    /// Check the stored bytes of document `i` (a shard block's checksum, the first time
    /// one of its documents is read); nothing to check for stores in memory.
    fn verify(&self, _i: usize) -> anyhow::Result<()> {
        Ok(())
    }
}

impl DocSource for super::shard::Doc<'_> {
    fn len(&self) -> usize {
        super::shard::Doc::len(self)
    }
    fn id(&self, i: usize) -> u32 {
        super::shard::Doc::id(self, i)
    }
    fn is_word_start(&self, i: usize) -> bool {
        super::shard::Doc::is_word_start(self, i)
    }
    fn split(&self) -> Option<usize> {
        super::shard::Doc::split(self)
    }
}

impl DocStore for super::shard::Shard {
    type Doc<'a> = super::shard::Doc<'a>;
    fn num_docs(&self) -> usize {
        super::shard::Shard::num_docs(self)
    }
    fn doc(&self, i: usize) -> super::shard::Doc<'_> {
        super::shard::Shard::doc(self, i)
    }
    fn release_pages(&self) {
        super::shard::Shard::release_pages(self)
    }

    fn verify(&self, i: usize) -> anyhow::Result<()> {
        self.verify_doc(i)
    }
}

/// A document held in memory (tests, small corpora, text read on the fly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemDoc {
    /// Token ids, text a then text b for a pair.
    pub ids: Vec<u32>,
    /// Word-start bit of each token.
    pub word_start: Vec<bool>,
    /// For a pair, the number of tokens of text a.
    pub split: Option<usize>,
}

impl MemDoc {
    /// A single text whose every token starts a word (whitespace-split ids, as in
    /// desensitized corpora).
    pub fn single(ids: Vec<u32>) -> Self {
        let word_start = vec![true; ids.len()];
        MemDoc {
            ids,
            word_start,
            split: None,
        }
    }

    /// A pair of texts whose every token starts a word.
    pub fn pair(a: &[u32], b: &[u32]) -> Self {
        let ids: Vec<u32> = a.iter().chain(b).copied().collect();
        let word_start = vec![true; ids.len()];
        MemDoc {
            ids,
            word_start,
            split: Some(a.len()),
        }
    }
}

impl DocSource for MemDoc {
    fn len(&self) -> usize {
        self.ids.len()
    }
    fn id(&self, i: usize) -> u32 {
        self.ids[i]
    }
    fn is_word_start(&self, i: usize) -> bool {
        self.word_start[i]
    }
    fn split(&self) -> Option<usize> {
        self.split
    }
}

impl<T: DocSource + ?Sized> DocSource for &T {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn id(&self, i: usize) -> u32 {
        (**self).id(i)
    }
    fn is_word_start(&self, i: usize) -> bool {
        (**self).is_word_start(i)
    }
    fn split(&self) -> Option<usize> {
        (**self).split()
    }
}

impl DocStore for [MemDoc] {
    type Doc<'a> = &'a MemDoc;
    fn num_docs(&self) -> usize {
        self.len()
    }
    fn doc(&self, i: usize) -> &MemDoc {
        &self[i]
    }
}

/// Some documents of a shared store, renumbered `0..ids.len()` (a train or held-out
/// part).
pub struct Subset<S> {
    store: std::sync::Arc<S>,
    ids: Vec<u32>,
}

impl<S: DocStore> Subset<S> {
    /// Documents `ids` of `store`, in that order.
    pub fn new(store: std::sync::Arc<S>, ids: Vec<u32>) -> Self {
        Self { store, ids }
    }
}

impl<S: DocStore + Send> DocStore for Subset<S> {
    type Doc<'a>
        = S::Doc<'a>
    where
        Self: 'a;

    fn num_docs(&self) -> usize {
        self.ids.len()
    }

    fn doc(&self, i: usize) -> S::Doc<'_> {
        self.store.doc(self.ids[i] as usize)
    }

    fn verify(&self, i: usize) -> anyhow::Result<()> {
        self.store.verify(self.ids[i] as usize)
    }

    fn release_pages(&self) {
        self.store.release_pages()
    }
}

/// A shared store without some of its documents, the rest renumbered in order (the
/// training part beside a held-out [`Subset`]). Keeps only the excluded ids, so its memory
/// does not grow with the store.
pub struct Excluding<S> {
    store: std::sync::Arc<S>,
    /// For the j-th excluded document, how many kept documents precede it (its id minus
    /// j): non-decreasing, so a binary search maps a kept index to a store index.
    kept_before: Vec<u32>,
}

impl<S: DocStore> Excluding<S> {
    /// All documents of `store` but `excluded` (sorted, distinct, in range).
    pub fn new(store: std::sync::Arc<S>, excluded: &[u32]) -> Self {
        assert!(
            excluded.windows(2).all(|w| w[0] < w[1])
                && excluded
                    .last()
                    .is_none_or(|&e| (e as usize) < store.num_docs()),
            "excluded ids must be sorted, distinct and in range"
        );
        let kept_before = excluded
            .iter()
            .enumerate()
            .map(|(j, &e)| e - j as u32)
            .collect();
        Self { store, kept_before }
    }
}

impl<S: DocStore> Excluding<S> {
    /// The store's index of kept document `i`.
    fn store_index(&self, i: usize) -> usize {
        i + self.kept_before.partition_point(|&k| k as usize <= i)
    }
}

impl<S: DocStore + Send> DocStore for Excluding<S> {
    type Doc<'a>
        = S::Doc<'a>
    where
        Self: 'a;

    fn num_docs(&self) -> usize {
        self.store.num_docs() - self.kept_before.len()
    }

    fn doc(&self, i: usize) -> S::Doc<'_> {
        self.store.doc(self.store_index(i))
    }

    fn verify(&self, i: usize) -> anyhow::Result<()> {
        self.store.verify(self.store_index(i))
    }

    fn release_pages(&self) {
        self.store.release_pages()
    }
}
