//! The curves of a binary classifier's out-of-fold predictions: ROC and calibration.

/// ROC curve of `scores` for `labels` (true = positive): (false-positive rate,
/// true-positive rate) from (0, 0) to (1, 1), one point per distinct score (tied scores
/// move both rates at once). Empty when either class is absent.
pub fn roc(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &j) in order.iter().enumerate() {
        if labels[j] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let tie_follows = order.get(i + 1).is_some_and(|&n| scores[n] == scores[j]);
        if !tie_follows {
            points.push((fp / neg, tp / pos));
        }
    }
    points
}

/// At most `max` points of a curve: evenly spaced ones, the first and last kept (an SVG
/// of 100,000 ROC points draws no better than one of 500).
pub fn thin(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let last = points.len() - 1;
    (0..max).map(|i| points[i * last / (max - 1)]).collect()
}

/// One bin of a calibration (reliability) diagram.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationBin {
    /// Mean predicted probability of the positive class in the bin.
    pub predicted: f64,
    /// Fraction of positives in the bin.
    pub observed: f64,
    /// Predictions in the bin.
    pub count: usize,
}

/// Calibration of probabilities `p` (of the positive class) against `labels`: `bins`
/// equal-width bins over [0, 1] (the last closed), empty bins left out.
pub fn calibration(p: &[f64], labels: &[bool], bins: usize) -> Vec<CalibrationBin> {
    let mut sums = vec![(0.0, 0usize, 0usize); bins];
    for (&x, &l) in p.iter().zip(labels) {
        let b = ((x * bins as f64) as usize).min(bins - 1);
        sums[b].0 += x;
        sums[b].1 += l as usize;
        sums[b].2 += 1;
    }
    sums.into_iter()
        .filter(|s| s.2 > 0)
        .map(|(sum, positives, count)| CalibrationBin {
            predicted: sum / count as f64,
            observed: positives as f64 / count as f64,
            count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_by_hand_with_a_tie() {
        // Scores 0.9 (+), 0.8 (-), 0.8 (+), 0.1 (-): 2 positives, 2 negatives. Lowering
        // the threshold passes 0.9 → (0, 0.5); the tied 0.8s together → (0.5, 1);
        // 0.1 → (1, 1).
        let r = roc(&[0.9, 0.8, 0.8, 0.1], &[true, false, true, false]);
        assert_eq!(r, [(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
        assert!(roc(&[0.3, 0.4], &[true, true]).is_empty());
    }

    #[test]
    fn calibration_by_hand() {
        // Two bins: [0, 0.5) holds 0.1 (-), 0.3 (+); [0.5, 1] holds 0.8 (+), 1.0 (+).
        let c = calibration(&[0.1, 0.3, 0.8, 1.0], &[false, true, true, true], 2);
        assert_eq!(c.len(), 2);
        assert!((c[0].predicted - 0.2).abs() < 1e-12 && c[0].observed == 0.5 && c[0].count == 2);
        assert!((c[1].predicted - 0.9).abs() < 1e-12 && c[1].observed == 1.0);
    }

    #[test]
    fn thinning_keeps_the_ends() {
        let pts: Vec<(f64, f64)> = (0..=10).map(|i| (i as f64, 0.0)).collect();
        let t = thin(&pts, 3);
        assert_eq!(t, [(0.0, 0.0), (5.0, 0.0), (10.0, 0.0)]);
    }
}
