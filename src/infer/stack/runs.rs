//! The finetune runs `dapt stack` combines: each run's fold assignment (`folds.json`) and
//! out-of-fold class-1 probabilities (`oof.tsv`), checked against the training file and
//! against each other before anything is fitted.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::data::folds::Folds;
use crate::data::folds::FOLDS_FILE;
use crate::data::pairs::PairRecord;
use crate::error::InputError;

/// One finetune run's out-of-fold view of the training pairs.
pub struct Run {
    /// Its output dir.
    pub dir: PathBuf,
    /// Its fold assignment.
    pub folds: Folds,
    /// Out-of-fold probability of class 1, per training pair in file order.
    pub oof: Vec<f64>,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        InputError::at_path(
            path,
            format!("cannot read: {e}; is the run's directory a finished `dapt finetune --out`?"),
        )
        .into()
    })
}

impl Run {
    /// Load the run in `dir`, checking that its `oof.tsv` covers exactly the pairs of
    /// `train` with the same labels (a run made on another file is refused).
    pub fn load(dir: &Path, train: &Path, pairs: &[PairRecord]) -> Result<Self> {
        let folds_path = dir.join(FOLDS_FILE);
        let folds: Folds = serde_json::from_str(&read(&folds_path)?)
            .map_err(|e| InputError::at_path(&folds_path, format!("not a folds.json: {e}")))?;
        let oof_path = dir.join("oof.tsv");
        let text = read(&oof_path)?;
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() != pairs.len() || folds.assignment.len() != pairs.len() {
            crate::bad_input!(
                "{}: {} out-of-fold lines and {} fold entries, but --train {} has {} pairs: the run was trained on another file",
                dir.display(),
                lines.len(),
                folds.assignment.len(),
                train.display(),
                pairs.len()
            );
        }
        let mut oof = Vec::with_capacity(pairs.len());
        for (i, (line, pair)) in lines.iter().zip(pairs).enumerate() {
            let bad = |what: String| InputError::at_line(&oof_path, i as u64 + 1, what);
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() != 5 {
                return Err(bad(format!(
                    "{} columns; expected line, fold, label, p_0, p_1 (stacking needs a binary task)",
                    cols.len()
                ))
                .into());
            }
            let label: usize = cols[2]
                .parse()
                .map_err(|_| bad(format!("label {:?} is not a class id", cols[2])))?;
            if Some(label) != pair.label || cols[0] != pair.line.to_string() {
                return Err(bad(format!(
                    "pair {} has label {label} here but {} at line {} of --train {}: the run was trained on another file",
                    cols[0],
                    pair.label.map_or("none".into(), |l| l.to_string()),
                    pair.line,
                    train.display()
                ))
                .into());
            }
            let p: f64 = cols[4]
                .parse()
                .ok()
                .filter(|p: &f64| (0.0..=1.0).contains(p))
                .ok_or_else(|| bad(format!("p_1 {:?} is not a probability", cols[4])))?;
            oof.push(p);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            folds,
            oof,
        })
    }
}

/// Refuse runs whose fold assignments differ: the second level is cross-validated on
/// the runs' own folds, which only works when they are the same.
pub fn check_same_folds(runs: &[Run]) -> Result<()> {
    let first = &runs[0];
    for r in &runs[1..] {
        if r.folds.assignment != first.folds.assignment {
            let at = r
                .folds
                .assignment
                .iter()
                .zip(&first.folds.assignment)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            crate::bad_input!(
                "{} and {} assign the pairs to different folds (first difference: pair {}, fold {} vs {}; k {} vs {}, fold_by {:?} vs {:?}, seed {} vs {}): stack runs made with the same --folds, --fold-by and --fold-seed",
                first.dir.display(),
                r.dir.display(),
                at + 1,
                first.folds.assignment.get(at).copied().unwrap_or(0),
                r.folds.assignment.get(at).copied().unwrap_or(0),
                first.folds.k,
                r.folds.k,
                first.folds.fold_by,
                r.folds.fold_by,
                first.folds.seed,
                r.folds.seed
            );
        }
    }
    Ok(())
}
