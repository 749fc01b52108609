//! Self-training with pseudo-labels (Lee 2013, "Pseudo-Label"): an ensemble labels
//! unlabelled pairs; those it is confident about (probability of its argmax class at
//! least `--pseudo-threshold`) join every fold's training part with that class, and the
//! folds are trained again. `--pseudo-rounds R` repeats with the new ensemble.
//!
//! Round 0 (a plain run in `OUT/round-0`) is the first teacher unless `--pseudo-teacher`
//! names one; rounds before the last write `OUT/round-R`, the last writes `OUT` itself,
//! so `dapt predict --model OUT` serves the final ensemble. Pseudo-labelled pairs never
//! enter a validation part. The teacher's models saw every labelled pair, so a round's
//! CV figures are slightly optimistic: compare rounds on a held-out test file.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::data::pairs::PairRecord;
use crate::fsutil::write_atomic;
use crate::infer::predict::{predict_file, PredictOptions};
use crate::progress::info;

/// The flags of self-training.
#[derive(Args, Debug, Clone)]
pub struct PseudoArgs {
    /// Unlabelled pairs (text_a<TAB>text_b; a label column is ignored) to pseudo-label
    #[arg(long, value_name = "FILE", help_heading = "Pseudo-labels")]
    pub pseudo: Option<PathBuf>,
    /// The first teacher (a finetune output dir or a checkpoint); default: a plain run
    /// of the same flags in OUT/round-0
    #[arg(long, value_name = "DIR", help_heading = "Pseudo-labels")]
    pub pseudo_teacher: Option<PathBuf>,
    /// Keep a pair when the teacher's probability of its argmax class is at least P, in (0.5, 1]
    #[arg(
        long,
        default_value_t = 0.95,
        value_name = "P",
        help_heading = "Pseudo-labels"
    )]
    pub pseudo_threshold: f64,
    /// Rounds of labelling and retraining, each with the previous round's ensemble
    #[arg(
        long,
        default_value_t = 1,
        value_name = "R",
        help_heading = "Pseudo-labels"
    )]
    pub pseudo_rounds: usize,
}

impl PseudoArgs {
    /// Refuse P outside (0.5, 1] and zero rounds (exit 2).
    pub fn validate(&self) -> Result<()> {
        if !(self.pseudo_threshold > 0.5 && self.pseudo_threshold <= 1.0) {
            crate::bad_input!(
                "--pseudo-threshold {} must be in (0.5, 1]: below 0.5 a pair could be kept for two classes, e.g. 0.95",
                self.pseudo_threshold
            );
        }
        if self.pseudo_rounds == 0 {
            crate::bad_input!("--pseudo-rounds must be at least 1");
        }
        Ok(())
    }
}

/// The class of each pair whose largest probability is at least `threshold`.
pub fn select(probs: &[Vec<f64>], threshold: f64) -> Vec<Option<usize>> {
    probs
        .iter()
        .map(|p| {
            let (c, &max) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
            (max >= threshold).then_some(c)
        })
        .collect()
}

/// What a round added (`pseudo.json` in the round's dir).
#[derive(Debug, Clone, Serialize)]
pub struct PseudoReport {
    /// The model dir that labelled.
    pub teacher: PathBuf,
    /// The unlabelled file.
    pub file: PathBuf,
    /// `--pseudo-threshold`.
    pub threshold: f64,
    /// Unlabelled pairs read.
    pub candidates: usize,
    /// Pairs kept, per class.
    pub added_per_class: Vec<usize>,
}

/// Let `teacher` label `file` and keep the pairs that clear `threshold`, labelled with
/// the teacher's class, in file order; writes the counts to `report_dir/pseudo.json` and logs them.
pub fn label(
    teacher: &Path,
    file: &Path,
    threshold: f64,
    opts: &PredictOptions,
    report_dir: &Path,
) -> Result<Vec<PairRecord>> {
    let preds = predict_file(teacher, file, false, opts)?;
    let classes = preds.ensemble.first().map_or(2, Vec::len);
    let mut added_per_class = vec![0; classes];
    let mut pairs = Vec::new();
    for (rec, class) in preds.pairs.iter().zip(select(&preds.ensemble, threshold)) {
        if let Some(c) = class {
            added_per_class[c] += 1;
            pairs.push(PairRecord {
                label: Some(c),
                ..rec.clone()
            });
        }
    }
    let report = PseudoReport {
        teacher: teacher.to_path_buf(),
        file: file.to_path_buf(),
        threshold,
        candidates: preds.pairs.len(),
        added_per_class,
    };
    info(format!(
        "pseudo: {} labelled {} of {} pairs of {} at p >= {threshold} (per class: {:?})",
        teacher.display(),
        pairs.len(),
        report.candidates,
        file.display(),
        report.added_per_class
    ));
    std::fs::create_dir_all(report_dir)?;
    write_atomic(
        &report_dir.join("pseudo.json"),
        &(serde_json::to_string_pretty(&report)? + "\n"),
    )?;
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_keeps_confident_argmaxes() {
        let probs = vec![
            vec![0.97, 0.03],
            vec![0.5, 0.5],
            vec![0.04, 0.96],
            vec![0.94, 0.06],
            vec![0.1, 0.05, 0.85],
        ];
        assert_eq!(
            select(&probs, 0.95),
            vec![Some(0), None, Some(1), None, None]
        );
        assert_eq!(select(&probs, 0.85)[4], Some(2));
    }

    #[test]
    fn threshold_and_rounds_are_checked() {
        let ok = PseudoArgs {
            pseudo: None,
            pseudo_teacher: None,
            pseudo_threshold: 0.9,
            pseudo_rounds: 1,
        };
        assert!(ok.validate().is_ok());
        assert!(PseudoArgs {
            pseudo_threshold: 0.5,
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(PseudoArgs {
            pseudo_threshold: 1.01,
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(PseudoArgs {
            pseudo_rounds: 0,
            ..ok
        }
        .validate()
        .is_err());
    }
}
