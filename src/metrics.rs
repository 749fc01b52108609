//! Classification metrics: ROC AUC, accuracy, F1, macro-F1, log-loss, and per class
//! precision, recall, F1 and the confusion matrix.
//!
//! Definitions follow scikit-learn so reported numbers compare with Python pipelines:
//! AUC by the Mann–Whitney statistic with ties counted half, F1 of class 1 for binary
//! tasks and macro-F1 otherwise, macro-F1 the unweighted mean of the classes' F1,
//! log-loss with probabilities clipped to [1e-15, 1-1e-15], a class never predicted has
//! precision 0 (`zero_division=0`), confusion rows are true classes and columns predicted
//! ones.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// The metric that picks each fold's best checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum MetricKind {
    /// ROC AUC of class 1 (two classes only).
    Auc,
    /// Accuracy of the argmax.
    Accuracy,
    /// F1 of class 1 (macro F1 with more classes).
    F1,
    /// Macro-averaged F1: the mean of every class's F1.
    MacroF1,
    /// Log-loss (lower is better).
    LogLoss,
}

impl MetricKind {
    /// The value of this metric in `m` (`None`: AUC of a task that has none).
    pub fn of(self, m: &Metrics) -> Option<f64> {
        match self {
            MetricKind::Auc => m.auc,
            MetricKind::Accuracy => Some(m.accuracy),
            MetricKind::F1 => Some(m.f1),
            MetricKind::MacroF1 => Some(m.macro_f1),
            MetricKind::LogLoss => Some(m.log_loss),
        }
    }

    /// Whether `new` beats `old`.
    pub fn better(self, new: f64, old: f64) -> bool {
        match self {
            MetricKind::LogLoss => new < old,
            _ => new > old,
        }
    }

    /// The flag value (`auc`, `log_loss`, ...).
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Auc => "auc",
            MetricKind::Accuracy => "accuracy",
            MetricKind::F1 => "f1",
            MetricKind::MacroF1 => "macro_f1",
            MetricKind::LogLoss => "log_loss",
        }
    }
}

/// The metrics of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// ROC AUC of class 1 (binary tasks only; `None` otherwise or if one class is absent).
    pub auc: Option<f64>,
    /// Fraction of argmax predictions equal to the label.
    pub accuracy: f64,
    /// F1 of class 1 (binary) or macro-averaged F1 (more classes).
    pub f1: f64,
    /// Macro-averaged F1, for any number of classes (absent from files written before
    /// it existed: read as 0).
    #[serde(default)]
    pub macro_f1: f64,
    /// Mean negative log-likelihood of the labels.
    pub log_loss: f64,
}

/// ROC AUC of `scores` for the positives in `labels` (true = positive); `None` when
/// either class is absent.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    // Rank the scores (1-based, ties get their average rank) and sum the positives'.
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let (pos, neg) = (pos as f64, neg as f64);
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// F1 of class `c` from argmax predictions.
fn f1_of(pred: &[usize], labels: &[usize], c: usize) -> f64 {
    let tp = pred
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == c && **l == c)
        .count() as f64;
    let fp = pred
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p == c && **l != c)
        .count() as f64;
    let fn_ = pred
        .iter()
        .zip(labels)
        .filter(|(p, l)| **p != c && **l == c)
        .count() as f64;
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fn_)
    }
}

/// All metrics from class probabilities (`probs[i]` sums to 1 over the classes) and labels.
pub fn evaluate(probs: &[Vec<f64>], labels: &[usize]) -> Metrics {
    assert_eq!(probs.len(), labels.len(), "one probability row per label");
    let num_classes = probs.first().map_or(2, |p| p.len());
    let pred: Vec<usize> = probs.iter().map(|p| argmax(p)).collect();
    let n = labels.len().max(1) as f64;
    let accuracy = pred.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / n;
    let macro_f1 = (0..num_classes)
        .map(|c| f1_of(&pred, labels, c))
        .sum::<f64>()
        / num_classes as f64;
    let f1 = match num_classes {
        2 => f1_of(&pred, labels, 1),
        _ => macro_f1,
    };
    const EPS: f64 = 1e-15;
    let log_loss = probs
        .iter()
        .zip(labels)
        .map(|(p, &l)| -p[l].clamp(EPS, 1.0 - EPS).ln())
        .sum::<f64>()
        / n;
    let auc = (num_classes == 2)
        .then(|| {
            let scores: Vec<f64> = probs.iter().map(|p| p[1]).collect();
            let pos: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
            auc(&scores, &pos)
        })
        .flatten();
    Metrics {
        auc,
        accuracy,
        f1,
        macro_f1,
        log_loss,
    }
}

/// Per-class scores and the confusion matrix of one evaluation (scikit-learn's
/// `classification_report` and `confusion_matrix`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    /// How each class is written (its name, or its id), in id order.
    pub labels: Vec<String>,
    /// Of the pairs predicted as the class, the fraction that are (0 if none is).
    pub precision: Vec<f64>,
    /// Of the pairs of the class, the fraction predicted as it.
    pub recall: Vec<f64>,
    /// Harmonic mean of precision and recall.
    pub f1: Vec<f64>,
    /// Pairs of the class.
    pub support: Vec<usize>,
    /// `confusion[true][predicted]`: pairs of class `true` predicted as `predicted`.
    pub confusion: Vec<Vec<usize>>,
}

impl ClassReport {
    /// The report of class probabilities `probs` against `labels`; `names[c]` writes
    /// class `c`.
    pub fn of(probs: &[Vec<f64>], labels: &[usize], names: Vec<String>) -> ClassReport {
        let classes = names.len();
        let mut confusion = vec![vec![0usize; classes]; classes];
        for (p, &l) in probs.iter().zip(labels) {
            confusion[l][argmax(p)] += 1;
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let support: Vec<usize> = confusion.iter().map(|row| row.iter().sum()).collect();
        let predicted: Vec<usize> = (0..classes)
            .map(|c| confusion.iter().map(|row| row[c]).sum())
            .collect();
        let precision: Vec<f64> = (0..classes)
            .map(|c| ratio(confusion[c][c], predicted[c]))
            .collect();
        let recall: Vec<f64> = (0..classes)
            .map(|c| ratio(confusion[c][c], support[c]))
            .collect();
        let f1 = (0..classes)
            .map(|c| ratio(2 * confusion[c][c], support[c] + predicted[c]))
            .collect();
        ClassReport {
            labels: names,
            precision,
            recall,
            f1,
            support,
            confusion,
        }
    }
}

/// The class with the largest probability (the last of equals).
pub fn argmax(p: &[f64]) -> usize {
    (0..p.len())
        .max_by(|&a, &b| p[a].total_cmp(&p[b]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_by_hand() {
        // Pairs (pos, neg): (0.8,0.1) (0.8,0.4) (0.35,0.1) (0.35,0.4) -> 3 of 4 ordered.
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        // A tie between a positive and a negative counts one half: (1 + 0.5) / 2.
        assert_eq!(auc(&[0.5, 0.5, 0.9], &[false, true, true]), Some(0.75));
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn metrics_by_hand() {
        let probs = vec![
            vec![0.9, 0.1],
            vec![0.3, 0.7],
            vec![0.6, 0.4],
            vec![0.2, 0.8],
        ];
        let labels = [0, 1, 1, 0];
        let m = evaluate(&probs, &labels);
        // Predictions 0,1,0,1: correct on rows 0 and 1.
        assert_eq!(m.accuracy, 0.5);
        // Class 1: tp = 1, fp = 1, fn = 1 -> F1 = 2 / 4.
        assert_eq!(m.f1, 0.5);
        let ll = -(0.9f64.ln() + 0.7f64.ln() + 0.4f64.ln() + 0.2f64.ln()) / 4.0;
        assert!((m.log_loss - ll).abs() < 1e-12);
        // Positives score 0.7, 0.4; negatives 0.1, 0.8: ordered pairs (0.7,0.1) (0.4,0.1).
        assert_eq!(m.auc, Some(0.5));
    }

    #[test]
    fn class_report_by_hand() {
        let probs = vec![
            vec![0.8, 0.1, 0.1],
            vec![0.1, 0.8, 0.1],
            vec![0.1, 0.1, 0.8],
            vec![0.1, 0.8, 0.1],
            vec![0.7, 0.2, 0.1],
        ];
        let names = ["e", "n", "c"].map(String::from).to_vec();
        let r = ClassReport::of(&probs, &[0, 1, 2, 2, 1], names);
        // True 0 -> 0; 1 -> 1 and 0; 2 -> 2 and 1.
        assert_eq!(
            r.confusion,
            vec![vec![1, 0, 0], vec![1, 1, 0], vec![0, 1, 1]]
        );
        assert_eq!(r.support, vec![1, 2, 2]);
        assert_eq!(r.precision, vec![0.5, 0.5, 1.0]);
        assert_eq!(r.recall, vec![1.0, 0.5, 0.5]);
        assert!((r.f1[0] - 2.0 / 3.0).abs() < 1e-12 && r.f1[1] == 0.5);
        let m = evaluate(&probs, &[0, 1, 2, 2, 1]);
        let mean = r.f1.iter().sum::<f64>() / 3.0;
        assert!((m.macro_f1 - mean).abs() < 1e-12 && m.f1 == m.macro_f1);
        // A class never predicted: precision 0, not NaN.
        let none = ClassReport::of(&[vec![0.9, 0.1]], &[1], vec!["0".into(), "1".into()]);
        assert_eq!(
            (none.precision[1], none.recall[1], none.f1[1]),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn multiclass_uses_macro_f1_and_no_auc() {
        let probs = vec![
            vec![0.8, 0.1, 0.1],
            vec![0.1, 0.8, 0.1],
            vec![0.1, 0.1, 0.8],
            vec![0.1, 0.8, 0.1],
        ];
        let m = evaluate(&probs, &[0, 1, 2, 2]);
        // F1: class 0 = 1, class 1 = 2/3 (tp 1, fp 1), class 2 = 2/3 (tp 1, fn 1).
        assert!((m.f1 - (1.0 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert_eq!(m.auc, None);
    }
}
