//! `dapt stack`: a second-level model over the out-of-fold probabilities of one or more
//! finetune runs plus lexical features (the competition stacking recipe).
//!
//! No pair's feature comes from a model that saw its label: training features are the
//! runs' out-of-fold probabilities, and the second level is cross-validated on the runs'
//! own folds, so the model scoring fold k was fitted on the other folds' pairs only.
//! Test pairs get each run's fold-ensemble probability and are scored by a second level
//! fitted on every training pair. Everything is checked (runs against the training file
//! and each other, the test file against every run) before anything is fitted.

pub mod features;
pub mod learners;
pub mod runs;

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::data::labels::Labels;
use crate::data::overlap::Overlap;
use crate::data::pairs::{read_pairs, PairRecord};
use crate::fsutil::write_atomic;
use crate::infer::predict::{predict_file, PredictOptions};
use crate::metrics::auc;
use crate::progress::info;
pub use learners::Learner;
use runs::{check_same_folds, Run};

/// What to stack.
pub struct StackOptions {
    /// Finetune output dirs.
    pub runs: Vec<PathBuf>,
    /// The labelled pairs the runs were trained on.
    pub train: PathBuf,
    /// Pairs to predict (labelled or not).
    pub test: PathBuf,
    /// Both files start with a header line.
    pub header: bool,
    /// Second-level models.
    pub learners: Vec<Learner>,
    /// Seed of the tree booster's subsampling.
    pub seed: u64,
    /// How the runs predict the test file.
    pub predict: PredictOptions,
}

/// AUC of one scorer: per fold of the runs' folds, their mean, over all training pairs
/// out of fold, and on the test file when it is labelled.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    /// Scorer name (learner, run dir or `baseline:measure`).
    pub name: String,
    /// Per fold.
    pub folds: Vec<f64>,
    /// Mean over folds.
    pub cv: f64,
    /// Over all training pairs.
    pub oof: f64,
    /// On the test file.
    pub test: Option<f64>,
}

/// `stack.json`.
#[derive(Debug, Clone, Serialize)]
pub struct StackReport {
    /// Feature columns, in order.
    pub features: Vec<String>,
    /// The second-level models.
    pub learners: Vec<Scores>,
    /// Each run alone.
    pub runs: Vec<Scores>,
    /// The word-overlap baselines.
    pub baselines: Vec<Scores>,
}

/// AUC of `scores` against binary `labels` over the indices `which` selects.
fn auc_over(scores: &[f64], labels: &[usize], which: impl Fn(usize) -> bool) -> f64 {
    let idx: Vec<usize> = (0..labels.len()).filter(|&i| which(i)).collect();
    let s: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
    let y: Vec<bool> = idx.iter().map(|&i| labels[i] == 1).collect();
    auc(&s, &y).unwrap_or(f64::NAN)
}

/// The scores of an out-of-fold scorer.
fn scores(
    name: String,
    oof: &[f64],
    labels: &[usize],
    assignment: &[usize],
    k: usize,
    test: Option<(&[f64], &[usize])>,
) -> Scores {
    let folds: Vec<f64> = (0..k)
        .map(|f| auc_over(oof, labels, |i| assignment[i] == f))
        .collect();
    Scores {
        name,
        cv: folds.iter().sum::<f64>() / k as f64,
        folds,
        oof: auc_over(oof, labels, |_| true),
        test: test.map(|(s, y)| auc_over(s, y, |_| true)),
    }
}

fn texts(pairs: &[PairRecord]) -> Vec<(&str, &str)> {
    pairs.iter().map(|p| (p.a.as_str(), p.b.as_str())).collect()
}

/// The second level's out-of-fold scores on the training pairs and its test scores.
pub struct Stacked {
    /// The learners, in column order.
    pub learners: Vec<Learner>,
    /// `(line, fold, label)` of every training pair.
    pub train: Vec<(u64, usize, usize)>,
    /// Line of every test pair.
    pub test_lines: Vec<u64>,
    /// `[learner][training pair]`.
    pub oof: Vec<Vec<f64>>,
    /// `[learner][test pair]`.
    pub test: Vec<Vec<f64>>,
    /// The report.
    pub report: StackReport,
}

/// Run `dapt stack` up to the scores (writing is the caller's).
pub fn stack(opts: &StackOptions) -> Result<Stacked> {
    // Read as finetune reads it (names or ids), then refused unless binary.
    let classes = Labels::of_file(&opts.train, opts.header)?;
    let train = read_pairs(&opts.train, opts.header, true, &classes)?;
    let labels: Vec<usize> = train.iter().map(|p| p.label.expect("labelled")).collect();
    let count = classes
        .names()
        .map_or_else(|| labels.iter().max().map_or(0, |m| m + 1), <[String]>::len);
    if count != 2 {
        crate::bad_input!(
            "{}: {count} classes; dapt stack combines binary pair classifiers (its features are each run's probability of class 1)",
            opts.train.display()
        );
    }
    let runs: Vec<Run> = opts
        .runs
        .iter()
        .map(|d| Run::load(d, &opts.train, &train))
        .collect::<Result<_>>()?;
    check_same_folds(&runs)?;
    let (assignment, k) = (&runs[0].folds.assignment, runs[0].folds.k);
    let test = read_pairs(&opts.test, opts.header, false, &classes)?;
    let test_labels: Option<Vec<usize>> = test.iter().map(|p| p.label).collect();
    let mut test_probs = Vec::new();
    for r in &runs {
        info(format!(
            "stack: {} predicts {}",
            r.dir.display(),
            opts.test.display()
        ));
        let p = predict_file(&r.dir, &opts.test, false, &opts.predict)?;
        test_probs.push(p.ensemble.iter().map(|row| row[1]).collect::<Vec<f64>>());
    }
    let oof_probs: Vec<Vec<f64>> = runs.iter().map(|r| r.oof.clone()).collect();
    let x = features::rows(&oof_probs, &texts(&train));
    let x_test = features::rows(&test_probs, &texts(&test));
    let labelled_test = test_labels.as_deref();
    let mut oof = Vec::new();
    let mut test_scores = Vec::new();
    let mut learners = Vec::new();
    for &learner in &opts.learners {
        let mut s = vec![0.0; train.len()];
        for f in 0..k {
            let (fit, score): (Vec<usize>, Vec<usize>) =
                (0..train.len()).partition(|&i| assignment[i] != f);
            let pick = |rows: &[Vec<f64>], idx: &[usize]| -> Vec<Vec<f64>> {
                idx.iter().map(|&i| rows[i].clone()).collect()
            };
            let y: Vec<usize> = fit.iter().map(|&i| labels[i]).collect();
            let out = learner.fit_predict(&pick(&x, &fit), &y, &pick(&x, &score), opts.seed)?;
            for (&i, v) in score.iter().zip(out) {
                s[i] = v;
            }
        }
        let t = learner.fit_predict(&x, &labels, &x_test, opts.seed)?;
        learners.push(scores(
            learner.name().into(),
            &s,
            &labels,
            assignment,
            k,
            labelled_test.map(|y| (t.as_slice(), y)),
        ));
        oof.push(s);
        test_scores.push(t);
    }
    let run_scores = runs
        .iter()
        .zip(&test_probs)
        .map(|(r, t)| {
            scores(
                r.dir.display().to_string(),
                &r.oof,
                &labels,
                assignment,
                k,
                labelled_test.map(|y| (t.as_slice(), y)),
            )
        })
        .collect();
    let report = StackReport {
        features: runs
            .iter()
            .map(|r| format!("logit:{}", r.dir.display()))
            .chain(features::LEXICAL.iter().map(|s| s.to_string()))
            .collect(),
        learners,
        runs: run_scores,
        baselines: baselines(&train, &labels, assignment, k, &test, labelled_test),
    };
    Ok(Stacked {
        learners: opts.learners.clone(),
        train: train
            .iter()
            .zip(assignment)
            .zip(&labels)
            .map(|((p, &f), &l)| (p.line, f, l))
            .collect(),
        test_lines: test.iter().map(|p| p.line).collect(),
        oof,
        test: test_scores,
        report,
    })
}

/// The word-overlap baselines as scorers.
fn baselines(
    train: &[PairRecord],
    labels: &[usize],
    assignment: &[usize],
    k: usize,
    test: &[PairRecord],
    test_labels: Option<&[usize]>,
) -> Vec<Scores> {
    let of = |ps: &[PairRecord]| -> Vec<Overlap> {
        ps.iter().map(|p| Overlap::of_texts(&p.a, &p.b)).collect()
    };
    let (tr, te) = (of(train), of(test));
    let column =
        |o: &[Overlap], m: usize| -> Vec<f64> { o.iter().map(|x| x.named()[m].1).collect() };
    (0..3)
        .map(|m| {
            let name = format!("baseline:{}", tr.first().map_or("", |o| o.named()[m].0));
            let t = column(&te, m);
            scores(
                name,
                &column(&tr, m),
                labels,
                assignment,
                k,
                test_labels.map(|y| (t.as_slice(), y)),
            )
        })
        .collect()
}

/// Write `stack.json`, `oof.tsv` (`line<TAB>fold<TAB>label<TAB>score per learner`) and
/// `test.tsv` (`line<TAB>score per learner`) into `out`.
pub fn write(out: &Path, s: &Stacked) -> Result<()> {
    let _lock = crate::lock::lock_dir(out)?;
    let header: Vec<&str> = s.learners.iter().map(|l| l.name()).collect();
    let cols = |scores: &[Vec<f64>], i: usize| -> String {
        scores
            .iter()
            .map(|o| format!("{:.8}", o[i]))
            .collect::<Vec<_>>()
            .join("\t")
    };
    let mut oof = format!("line\tfold\tlabel\t{}\n", header.join("\t"));
    for (i, (line, fold, label)) in s.train.iter().enumerate() {
        oof += &format!("{line}\t{fold}\t{label}\t{}\n", cols(&s.oof, i));
    }
    write_atomic(&out.join("oof.tsv"), &oof)?;
    let mut test = format!("line\t{}\n", header.join("\t"));
    for (i, line) in s.test_lines.iter().enumerate() {
        test += &format!("{line}\t{}\n", cols(&s.test, i));
    }
    write_atomic(&out.join("test.tsv"), &test)?;
    write_atomic(
        &out.join("stack.json"),
        &(serde_json::to_string_pretty(&s.report)? + "\n"),
    )?;
    Ok(())
}
