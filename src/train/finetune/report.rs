//! The cross-validation report: `oof.tsv` (out-of-fold probabilities in input order) and
//! `cv.json` (per-fold metrics, their mean and standard deviation, and the metrics of
//! all out-of-fold predictions together, next to the word-overlap baselines' AUC on the
//! same validation parts).

use anyhow::{Context, Result};
use serde::Serialize;

use super::config::FinetuneConfig;
use super::data::Prepared;
use super::fold::{fold_dir, FoldResult};
use super::RESULT_FILE;
use crate::data::augment::AugmentReport;
use crate::data::folds::FoldBy;
use crate::data::overlap::{baseline_aucs, Overlap};
use crate::fsutil::write_atomic;
use crate::metrics::MetricKind;
use crate::metrics::{evaluate, ClassReport, Metrics};

/// One fold's line of `cv.json`.
#[derive(Debug, Clone, Serialize)]
pub struct FoldSummary {
    /// The fold.
    pub fold: usize,
    /// Metrics of its best checkpoint on its validation part.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Step and epoch of the best checkpoint.
    pub best_step: u64,
    /// Epoch of the best checkpoint.
    pub best_epoch: f64,
    /// Steps trained.
    pub steps: u64,
    /// Training pairs, augmentation included.
    pub train_examples: usize,
    /// Validation pairs.
    pub valid_examples: usize,
    /// Pairs each augmentation rule added.
    pub augment: AugmentReport,
}

/// `cv.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CvReport {
    /// `--metric`.
    pub metric: MetricKind,
    /// Number of folds.
    pub num_folds: usize,
    /// How the folds were made.
    pub fold_by: FoldBy,
    /// `--seed`.
    pub seed: u64,
    /// Per fold.
    pub folds: Vec<FoldSummary>,
    /// Mean over folds of each metric (`auc` absent unless every fold has one).
    pub mean: Metrics,
    /// Population standard deviation over folds (numpy's default).
    pub std: Metrics,
    /// The metrics of all out-of-fold predictions together.
    pub oof: Metrics,
    /// Per class precision, recall, F1 and the confusion matrix of the out-of-fold
    /// predictions.
    pub classes: ClassReport,
    /// The word-overlap baselines' AUC on the same validation parts (binary tasks only).
    pub baselines: Option<Baselines>,
}

/// The AUC of each word-overlap baseline (`crate::data::overlap`) on the folds'
/// validation parts: what the model's CV AUC must beat.
#[derive(Debug, Clone, Serialize)]
pub struct Baselines {
    /// Per fold, in fold order.
    pub folds: Vec<Overlap>,
    /// Mean over folds.
    pub mean: Overlap,
    /// Over all pairs together (compare with `oof`).
    pub all: Overlap,
}

impl Baselines {
    /// The baselines of the pairs in `p` under its fold assignment; `None` unless the
    /// labels are binary and every fold's validation part has both classes.
    fn of(p: &Prepared, num_folds: usize) -> Option<Self> {
        let scores: Vec<Overlap> = p
            .pairs
            .iter()
            .map(|r| Overlap::of_texts(&r.a, &r.b))
            .collect();
        let folds = (0..num_folds)
            .map(|k| baseline_aucs(&scores, &p.labels, |i| p.folds.assignment[i] == k))
            .collect::<Option<Vec<_>>>()?;
        let n = folds.len() as f64;
        let mean_of = |f: fn(&Overlap) -> f64| folds.iter().map(f).sum::<f64>() / n;
        Some(Self {
            mean: Overlap {
                jaccard: mean_of(|o| o.jaccard),
                overlap: mean_of(|o| o.overlap),
                edit: mean_of(|o| o.edit),
            },
            all: baseline_aucs(&scores, &p.labels, |_| true)?,
            folds,
        })
    }

    /// `jaccard 0.7912, overlap 0.7803, edit 0.7551` (means over folds).
    pub fn summary(&self) -> String {
        self.mean
            .named()
            .iter()
            .map(|(n, v)| format!("{n} {v:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl CvReport {
    /// Mean of `metric` over folds (NaN when undefined).
    pub fn mean_of(&self, metric: MetricKind) -> f64 {
        metric.of(&self.mean).unwrap_or(f64::NAN)
    }

    /// Standard deviation of `metric` over folds (NaN when undefined).
    pub fn std_of(&self, metric: MetricKind) -> f64 {
        metric.of(&self.std).unwrap_or(f64::NAN)
    }
}

/// Mean and population standard deviation of `xs`.
fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Mean and standard deviation, metric by metric, of the folds' metrics.
fn summarise(ms: &[Metrics]) -> (Metrics, Metrics) {
    let of = |f: fn(&Metrics) -> f64| mean_std(&ms.iter().map(f).collect::<Vec<_>>());
    let aucs: Option<Vec<f64>> = ms.iter().map(|m| m.auc).collect();
    let auc = aucs.map(|a| mean_std(&a));
    let (acc, f1, ll) = (of(|m| m.accuracy), of(|m| m.f1), of(|m| m.log_loss));
    let macro_f1 = of(|m| m.macro_f1);
    (
        Metrics {
            auc: auc.map(|a| a.0),
            accuracy: acc.0,
            f1: f1.0,
            macro_f1: macro_f1.0,
            log_loss: ll.0,
        },
        Metrics {
            auc: auc.map(|a| a.1),
            accuracy: acc.1,
            f1: f1.1,
            macro_f1: macro_f1.1,
            log_loss: ll.1,
        },
    )
}

/// Write `oof.tsv` and `cv.json` when every fold has its `result.json`; `None` otherwise.
///
/// `oof.tsv` has one line per input pair, in input order:
/// `line<TAB>fold<TAB>label<TAB>p_0<TAB>...<TAB>p_{C-1}` (line: 1-based line in `--train`).
pub fn write_if_complete(p: &Prepared, cfg: &FinetuneConfig) -> Result<Option<CvReport>> {
    let mut results = Vec::new();
    for k in 0..cfg.recipe.folds {
        let path = fold_dir(&p.job.out, k).join(RESULT_FILE);
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(None);
        };
        let r: FoldResult = serde_json::from_slice(&bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        results.push(r);
    }
    let mut oof: Vec<Option<&Vec<f64>>> = vec![None; p.pairs.len()];
    for r in &results {
        for (i, probs) in &r.oof {
            oof[*i] = Some(probs);
        }
    }
    let oof: Vec<Vec<f64>> = oof
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            o.cloned().with_context(|| {
                format!(
                    "no out-of-fold prediction for line {} of {}: fold results in {} come from another split; re-run without --fold",
                    p.pairs[i].line,
                    p.job.train.display(),
                    p.job.out.display()
                )
            })
        })
        .collect::<Result<_>>()?;
    let mut tsv = String::new();
    for (i, probs) in oof.iter().enumerate() {
        let cols: Vec<String> = probs.iter().map(|x| format!("{x:.8}")).collect();
        tsv += &format!(
            "{}\t{}\t{}\t{}\n",
            p.pairs[i].line,
            p.folds.assignment[i],
            p.labels[i],
            cols.join("\t")
        );
    }
    write_atomic(&p.job.out.join("oof.tsv"), &tsv)?;
    let metrics: Vec<Metrics> = results.iter().map(|r| r.metrics).collect();
    let (mean, std) = summarise(&metrics);
    let report = CvReport {
        metric: cfg.recipe.metric,
        num_folds: cfg.recipe.folds,
        fold_by: cfg.recipe.fold_by,
        seed: cfg.run.seed,
        folds: results
            .into_iter()
            .map(|r| FoldSummary {
                fold: r.fold,
                metrics: r.metrics,
                best_step: r.best_step,
                best_epoch: r.best_epoch,
                steps: r.steps,
                train_examples: r.train_examples,
                valid_examples: r.valid_examples,
                augment: r.augment,
            })
            .collect(),
        mean,
        std,
        oof: evaluate(&oof, &p.labels),
        classes: ClassReport::of(&oof, &p.labels, p.task.class_names()),
        baselines: Baselines::of(p, cfg.recipe.folds),
    };
    write_atomic(
        &p.job.out.join("cv.json"),
        &(serde_json::to_string_pretty(&report)? + "\n"),
    )?;
    Ok(Some(report))
}

#[cfg(test)]
mod tests {
    use super::mean_std;

    #[test]
    fn population_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - 1.25f64.sqrt()).abs() < 1e-12);
    }
}
