//! The second-level models of `dapt stack`, fitted with smartcore: L2-regularised
//! logistic regression on standardised features, and gradient-boosted regression trees
//! (smartcore's XGBoost-style booster, squared error on the 0/1 label: its output ranks
//! pairs, which is what AUC needs).

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::Serialize;
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};
use smartcore::xgboost::{XGRegressor, XGRegressorParameters};

/// A second-level model (`--learner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Learner {
    /// Logistic regression (L2, alpha 1) on standardised features.
    Logistic,
    /// 100 gradient-boosted trees of depth 3, learning rate 0.1.
    Gbt,
}

impl Learner {
    /// The name used in reports and file columns.
    pub fn name(self) -> &'static str {
        match self {
            Learner::Logistic => "logistic",
            Learner::Gbt => "gbt",
        }
    }

    /// Fit on `(x, y)` (y in {0, 1}) and score `test`: higher means class 1 is likelier
    /// (a probability for `logistic`, a regression output for `gbt`).
    pub fn fit_predict(
        self,
        x: &[Vec<f64>],
        y: &[usize],
        test: &[Vec<f64>],
        seed: u64,
    ) -> Result<Vec<f64>> {
        match self {
            Learner::Logistic => logistic(x, y, test),
            Learner::Gbt => gbt(x, y, test, seed),
        }
    }
}

fn matrix(rows: &[Vec<f64>]) -> Result<DenseMatrix<f64>> {
    DenseMatrix::from_2d_vec(&rows.to_vec()).context("building the feature matrix")
}

/// Mean and standard deviation (1 where a feature is constant) of each column.
fn moments(x: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let n = x.len().max(1) as f64;
    (0..x.first().map_or(0, Vec::len))
        .map(|j| {
            let mean = x.iter().map(|r| r[j]).sum::<f64>() / n;
            let var = x.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / n;
            (mean, if var > 0.0 { var.sqrt() } else { 1.0 })
        })
        .collect()
}

fn standardise(x: &[Vec<f64>], m: &[(f64, f64)]) -> Vec<Vec<f64>> {
    x.iter()
        .map(|r| r.iter().zip(m).map(|(v, (mu, sd))| (v - mu) / sd).collect())
        .collect()
}

fn logistic(x: &[Vec<f64>], y: &[usize], test: &[Vec<f64>]) -> Result<Vec<f64>> {
    let m = moments(x);
    let labels: Vec<i32> = y.iter().map(|&l| l as i32).collect();
    let model = LogisticRegression::fit(
        &matrix(&standardise(x, &m))?,
        &labels,
        LogisticRegressionParameters::default().with_alpha(1.0),
    )
    .context("fitting the logistic regression")?;
    // smartcore predicts labels only: P(class 1) = sigmoid(x·w + b), its binary rule.
    let (w, b) = (model.coefficients(), *model.intercept().get((0, 0)));
    Ok(standardise(test, &m)
        .iter()
        .map(|r| {
            let z: f64 = r
                .iter()
                .enumerate()
                .map(|(j, v)| v * w.get((0, j)))
                .sum::<f64>()
                + b;
            1.0 / (1.0 + (-z).exp())
        })
        .collect())
}

fn gbt(x: &[Vec<f64>], y: &[usize], test: &[Vec<f64>], seed: u64) -> Result<Vec<f64>> {
    let target: Vec<f64> = y.iter().map(|&l| l as f64).collect();
    let params = XGRegressorParameters::default()
        .with_n_estimators(100)
        .with_max_depth(3)
        .with_learning_rate(0.1)
        .with_seed(seed);
    let model = XGRegressor::fit(&matrix(x)?, &target, params)
        .context("fitting the gradient-boosted trees")?;
    model
        .predict(&matrix(test)?)
        .context("scoring with the gradient-boosted trees")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::auc;

    /// One feature that separates the classes (positives 10..19, negatives 1..9 by hand)
    /// and one of noise: both learners rank every positive above every negative.
    #[test]
    fn learners_find_the_signal() {
        let x: Vec<Vec<f64>> = (0..200)
            .map(|i| {
                vec![
                    (i % 10) as f64 + if i % 2 == 0 { 10.0 } else { 0.0 },
                    ((i * 7) % 13) as f64,
                ]
            })
            .collect();
        let y: Vec<usize> = (0..200).map(|i| usize::from(i % 2 == 0)).collect();
        let pos: Vec<bool> = y.iter().map(|&l| l == 1).collect();
        for learner in [Learner::Logistic, Learner::Gbt] {
            let s = learner.fit_predict(&x, &y, &x, 1).unwrap();
            let a = auc(&s, &pos).unwrap();
            assert!(a > 0.99, "{learner:?}: {a}");
        }
    }
}
