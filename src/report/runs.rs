//! What a report reads from a run dir: a pretraining run's `metrics.jsonl`, or a
//! fine-tuning run's `metrics.jsonl`, `cv.json` and `oof.tsv`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::error::InputError;
use crate::metrics::ClassReport;

/// A pretraining run's curves, by optimizer step.
#[derive(Debug, Default)]
pub struct PretrainRun {
    /// The run's name in legends (its dir less the dirs all runs share).
    pub name: String,
    /// Training loss.
    pub loss: Vec<(f64, f64)>,
    /// Learning rate.
    pub lr: Vec<(f64, f64)>,
    /// Gradient norm (before clipping).
    pub grad_norm: Vec<(f64, f64)>,
    /// Training throughput.
    pub tokens_per_s: Vec<(f64, f64)>,
    /// Held-out MLM loss.
    pub eval_loss: Vec<(f64, f64)>,
    /// Held-out masked-token accuracy.
    pub masked_accuracy: Vec<(f64, f64)>,
    /// The most-frequent-token baseline's accuracy on the same masked tokens.
    pub baseline_accuracy: Vec<(f64, f64)>,
}

/// One row of a fine-tuning run's per-fold table.
#[derive(Debug, Clone)]
pub struct FoldRow {
    /// "0", "1", ..., or "mean", "std", "out-of-fold".
    pub label: String,
    /// AUC (binary tasks).
    pub auc: Option<f64>,
    /// Accuracy.
    pub accuracy: f64,
    /// F1.
    pub f1: f64,
    /// Macro-F1 (NaN in a `cv.json` written before dapt reported it).
    pub macro_f1: f64,
    /// Log-loss.
    pub log_loss: f64,
    /// Step of the best checkpoint (folds only).
    pub best_step: Option<u64>,
}

/// A fine-tuning run: validation curves, out-of-fold predictions and the CV table.
#[derive(Debug, Default)]
pub struct FinetuneRun {
    /// The run's name in legends (its dir less the dirs all runs share).
    pub name: String,
    /// `--metric` (from `cv.json`; `auc` while a run has none yet).
    pub metric: String,
    /// Per fold: the validation value of `metric` by step.
    pub curves: BTreeMap<u64, Vec<(f64, f64)>>,
    /// Out-of-fold (label, probability of class 1), binary tasks only.
    pub oof: Vec<(bool, f64)>,
    /// Per-fold rows, then mean, std and out-of-fold (empty before `cv.json`).
    pub table: Vec<FoldRow>,
    /// The Jaccard baseline's out-of-fold AUC (binary tasks).
    pub jaccard_auc: Option<f64>,
    /// Per class scores and the confusion matrix of the out-of-fold predictions.
    pub classes: Option<ClassReport>,
}

/// A run a report shows.
#[derive(Debug)]
pub enum Run {
    /// `dapt pretrain --out`.
    Pretrain(PretrainRun),
    /// `dapt finetune --out` (or `distill`).
    Finetune(FinetuneRun),
}

fn records(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::at_path(path, format!("cannot read: {e}")))?;
    // A torn last line (a run killed mid-write) is skipped, not an error.
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key)?.as_f64()
}

/// Read run dir `dir`, shown as `name`: fine-tuning when it has `folds.json` (or
/// `cv.json`), else pretraining; either needs `metrics.jsonl`.
pub fn load(dir: &Path, name: &str) -> Result<Run> {
    let log = dir.join("metrics.jsonl");
    if !log.exists() {
        crate::bad_input!(
            "{}: no metrics.jsonl; give dapt report the --out dir of a pretrain or finetune run",
            dir.display()
        );
    }
    let name = name.to_string();
    let recs = records(&log)?;
    if dir.join("folds.json").exists() || dir.join("cv.json").exists() {
        return Ok(Run::Finetune(finetune(name, dir, &recs)?));
    }
    let mut r = PretrainRun {
        name,
        ..PretrainRun::default()
    };
    for v in &recs {
        let Some(step) = num(v, "step") else { continue };
        let push = |series: &mut Vec<(f64, f64)>, key: &str| {
            if let Some(y) = num(v, key).filter(|y| y.is_finite()) {
                series.push((step, y));
            }
        };
        match v.get("event").and_then(Value::as_str) {
            None => {
                push(&mut r.loss, "loss");
                push(&mut r.lr, "lr");
                push(&mut r.grad_norm, "grad_norm");
                push(&mut r.tokens_per_s, "tokens_per_s");
            }
            Some("eval") => {
                push(&mut r.eval_loss, "eval_loss");
                push(&mut r.masked_accuracy, "masked_accuracy");
                push(&mut r.baseline_accuracy, "unigram_accuracy");
            }
            Some(_) => {}
        }
    }
    Ok(Run::Pretrain(r))
}

fn finetune(name: String, dir: &Path, recs: &[Value]) -> Result<FinetuneRun> {
    let cv: Option<Value> = std::fs::read_to_string(dir.join("cv.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let metric = cv
        .as_ref()
        .and_then(|c| c["metric"].as_str())
        .unwrap_or("auc")
        .to_string();
    let mut r = FinetuneRun {
        name,
        metric,
        ..FinetuneRun::default()
    };
    for v in recs {
        let (Some(step), Some(fold)) = (num(v, "step"), v["fold"].as_u64()) else {
            continue;
        };
        if v["event"] == "eval" {
            if let Some(y) = num(&v["metrics"], &r.metric) {
                r.curves.entry(fold).or_default().push((step, y));
            }
        }
    }
    if let Some(cv) = &cv {
        let row = |label: String, m: &Value| FoldRow {
            label,
            auc: num(m, "auc"),
            accuracy: num(m, "accuracy").unwrap_or(f64::NAN),
            f1: num(m, "f1").unwrap_or(f64::NAN),
            macro_f1: num(m, "macro_f1").unwrap_or(f64::NAN),
            log_loss: num(m, "log_loss").unwrap_or(f64::NAN),
            best_step: m["best_step"].as_u64(),
        };
        for f in cv["folds"].as_array().into_iter().flatten() {
            r.table.push(row(f["fold"].to_string(), f));
        }
        for key in ["mean", "std"] {
            r.table.push(row(key.into(), &cv[key]));
        }
        r.table.push(row("out-of-fold".into(), &cv["oof"]));
        r.jaccard_auc = num(&cv["baselines"]["all"], "jaccard");
        r.classes = serde_json::from_value(cv["classes"].clone()).ok();
    }
    r.oof = read_oof(&dir.join("oof.tsv"))?;
    Ok(r)
}

/// `oof.tsv` (`line fold label p_0 p_1`) of a binary task as (label is 1, p_1); empty
/// when missing or not binary.
fn read_oof(path: &PathBuf) -> Result<Vec<(bool, f64)>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 5 {
            return Ok(Vec::new());
        }
        let bad = || InputError::at_line(path, i as u64 + 1, "not a line of oof.tsv");
        let label: usize = cols[2].parse().map_err(|_| bad())?;
        let p1: f64 = cols[4].parse().map_err(|_| bad())?;
        if !(0.0..=1.0).contains(&p1) {
            return Err(bad().into());
        }
        out.push((label == 1, p1));
    }
    Ok(out)
}
