//! Multi-sample dropout (Inoue 2019, <https://arxiv.org/abs/1905.09788>): N dropout masks
//! on the pooled vector through the same classifier, their logits averaged.

use super::Technique;
use crate::model::classifier::SequenceClassifier;

/// `--multi-sample-dropout N`.
pub struct MultiSampleDropout {
    n: usize,
}

impl MultiSampleDropout {
    /// The technique for `n` samples, or none for one (plain dropout).
    pub fn of(n: usize) -> Option<Self> {
        (n > 1).then_some(MultiSampleDropout { n })
    }
}

impl Technique for MultiSampleDropout {
    fn flag(&self) -> &'static str {
        "--multi-sample-dropout"
    }

    fn configure(&self, model: SequenceClassifier) -> SequenceClassifier {
        model.with_dropout_samples(self.n)
    }
}
