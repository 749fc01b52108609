//! What one k-fold run reads and where it writes, apart from the recipe (the flags that
//! decide its results): pseudo-label rounds and `dapt distill` run folds with jobs of
//! their own, the flags left as given.

use std::path::PathBuf;

/// The files of one k-fold run.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Labelled pairs (`--train`).
    pub train: PathBuf,
    /// Whether its first line is a header (`--header`).
    pub header: bool,
    /// A teacher's probabilities of its pairs (`--soft-labels`).
    pub soft_labels: Option<PathBuf>,
    /// Unlabelled pairs for UDA's consistency term (`--uda`).
    pub uda: Option<PathBuf>,
    /// The one fold to train (`--fold`; `None`: every fold).
    pub fold: Option<usize>,
    /// The output dir (`--out`).
    pub out: PathBuf,
}

impl Job {
    /// The same job writing into `out`.
    pub fn into_dir(&self, out: PathBuf) -> Job {
        Job {
            out,
            ..self.clone()
        }
    }
}
