//! `dapt report`: one self-contained HTML page (inline SVG charts, no scripts, nothing
//! fetched) of pretraining and fine-tuning runs, to read in the morning.
//!
//! Pretraining runs are overlaid, one colour each (the three maskings side by side, or
//! last night's run against tonight's): training loss, held-out MLM loss, masked-token
//! accuracy against the most-frequent-token baseline (dashed), learning rate, gradient
//! norm and tokens/s, by step. Each fine-tuning run gets its per-fold validation curves,
//! the out-of-fold ROC curve with its AUC, a calibration plot and the per-fold table.

pub mod charts;
pub mod curves;
pub mod runs;

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;

use charts::{line_chart, Bounds, Series};
use runs::{FinetuneRun, PretrainRun, Run};

use crate::metrics::ClassReport;

/// Calibration bins.
const CALIBRATION_BINS: usize = 10;
/// ROC points drawn at most.
const ROC_POINTS: usize = 600;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A chart in a `<figure>` the page (and its test) can find by `id`.
fn figure(id: &str, svg: &str) -> String {
    format!("<figure class=\"chart\" data-chart=\"{id}\">{svg}</figure>\n")
}

fn pretrain_section(runs: &[&PretrainRun]) -> Result<String> {
    type Pick = fn(&PretrainRun) -> &Vec<(f64, f64)>;
    let overlay = |pick: Pick| -> Vec<Series> {
        runs.iter()
            .enumerate()
            .map(|(i, r)| Series::line(r.name.as_str(), pick(r).clone(), i))
            .collect()
    };
    let mut accuracy = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        accuracy.push(Series::line(r.name.as_str(), r.masked_accuracy.clone(), i));
        let baseline = format!("{} most-frequent-token baseline", r.name);
        accuracy.push(Series::line(baseline, r.baseline_accuracy.clone(), i).dashed());
    }
    let charts: [(&str, &str, &str, Vec<Series>); 6] = [
        (
            "pretrain-loss",
            "Training loss",
            "MLM loss",
            overlay(|r| &r.loss),
        ),
        (
            "pretrain-eval-loss",
            "Held-out loss",
            "MLM loss",
            overlay(|r| &r.eval_loss),
        ),
        (
            "pretrain-accuracy",
            "Held-out masked-token accuracy",
            "accuracy",
            accuracy,
        ),
        ("pretrain-lr", "Learning rate", "lr", overlay(|r| &r.lr)),
        (
            "pretrain-grad-norm",
            "Gradient norm",
            "L2 norm",
            overlay(|r| &r.grad_norm),
        ),
        (
            "pretrain-throughput",
            "Training throughput",
            "tokens/s",
            overlay(|r| &r.tokens_per_s),
        ),
    ];
    let mut html =
        String::from("<section class=\"pretrain\">\n<h2>Pretraining</h2>\n<div class=\"grid\">\n");
    for (id, title, y, series) in charts {
        html += &figure(id, &line_chart(title, "step", y, &series, Bounds::Fit)?);
    }
    html += "</div>\n</section>\n";
    Ok(html)
}

fn cell(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map_or("–".into(), |x| format!("{x:.4}"))
}

fn fold_table(r: &FinetuneRun) -> String {
    if r.table.is_empty() {
        return "<p>No cv.json yet: the run has not finished every fold.</p>\n".into();
    }
    let mut t = String::from(
        "<table class=\"folds\">\n<tr><th>fold</th><th>AUC</th><th>accuracy</th><th>F1</th><th>macro-F1</th><th>log-loss</th><th>best step</th></tr>\n",
    );
    for row in &r.table {
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&row.label),
            cell(row.auc),
            cell(Some(row.accuracy)),
            cell(Some(row.f1)),
            cell(Some(row.macro_f1)),
            cell(Some(row.log_loss)),
            row.best_step.map_or("–".into(), |s| s.to_string())
        );
    }
    t += "</table>\n";
    if let Some(c) = &r.classes {
        t += &class_table(c);
    }
    if let Some(j) = r.jaccard_auc {
        let _ = writeln!(
            t,
            "<p>Word-overlap baseline (Jaccard) out-of-fold AUC: {j:.4}</p>"
        );
    }
    t
}

/// Per class precision, recall, F1 and support, then the confusion matrix (rows: true
/// class, columns: predicted), of the out-of-fold predictions.
fn class_table(c: &ClassReport) -> String {
    let mut t = String::from(
        "<table class=\"classes\">\n<tr><th>class (out-of-fold)</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n",
    );
    for (i, name) in c.labels.iter().enumerate() {
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            cell(Some(c.precision[i])),
            cell(Some(c.recall[i])),
            cell(Some(c.f1[i])),
            c.support[i]
        );
    }
    t += "</table>\n<table class=\"confusion\">\n<tr><th>true \\ predicted</th>";
    for name in &c.labels {
        let _ = write!(t, "<th>{}</th>", escape(name));
    }
    t += "</tr>\n";
    for (name, row) in c.labels.iter().zip(&c.confusion) {
        let _ = write!(t, "<tr><th>{}</th>", escape(name));
        for n in row {
            let _ = write!(t, "<td>{n}</td>");
        }
        t += "</tr>\n";
    }
    t + "</table>\n"
}

fn finetune_section(r: &FinetuneRun) -> Result<String> {
    let mut html = format!(
        "<section class=\"finetune\">\n<h2>Fine-tuning: {}</h2>\n<div class=\"grid\">\n",
        escape(&r.name)
    );
    let curves: Vec<Series> = r
        .curves
        .iter()
        .map(|(k, pts)| Series::line(format!("fold {k}"), pts.clone(), *k as usize))
        .collect();
    let title = format!("Validation {} by fold", r.metric);
    html += &figure(
        "finetune-curves",
        &line_chart(&title, "step", &r.metric, &curves, Bounds::Fit)?,
    );
    if r.oof.is_empty() {
        html += "<p>No binary out-of-fold predictions (oof.tsv) to draw ROC and calibration from.</p>\n";
    } else {
        let labels: Vec<bool> = r.oof.iter().map(|o| o.0).collect();
        let p: Vec<f64> = r.oof.iter().map(|o| o.1).collect();
        let diagonal = || {
            Series::line(
                "chance / perfect calibration",
                vec![(0.0, 0.0), (1.0, 1.0)],
                7,
            )
            .dashed()
        };
        let auc = crate::metrics::auc(&p, &labels);
        let roc = curves::thin(&curves::roc(&p, &labels), ROC_POINTS);
        let title = format!("Out-of-fold ROC (AUC {})", cell(auc));
        let series = [Series::line("model", roc, 0), diagonal()];
        html += &figure(
            "finetune-roc",
            &line_chart(
                &title,
                "false-positive rate",
                "true-positive rate",
                &series,
                Bounds::Unit,
            )?,
        );
        let bins = curves::calibration(&p, &labels, CALIBRATION_BINS);
        let points = bins.iter().map(|b| (b.predicted, b.observed)).collect();
        let series = [Series::line("model", points, 1).dotted(), diagonal()];
        html += &figure(
            "finetune-calibration",
            &line_chart(
                "Calibration (out-of-fold, 10 bins)",
                "mean predicted probability",
                "fraction positive",
                &series,
                Bounds::Unit,
            )?,
        );
    }
    html += "</div>\n";
    html += &fold_table(r);
    html += "</section>\n";
    Ok(html)
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:8px}\
figure{margin:0}table{border-collapse:collapse;margin:12px 0}\
td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}";

/// Legend names of run dirs: their paths less the dirs all of them share
/// (`runs/nightly/pretrain`, `runs/ngram/pretrain` → `nightly/pretrain`, `ngram/pretrain`).
fn short_names(dirs: &[PathBuf]) -> Vec<String> {
    let parts: Vec<Vec<String>> = dirs
        .iter()
        .map(|d| d.iter().map(|c| c.to_string_lossy().into_owned()).collect())
        .collect();
    let shortest = parts.iter().map(Vec::len).min().unwrap_or(0);
    // Keep at least each path's last component.
    let shared = (0..shortest.saturating_sub(1))
        .take_while(|&i| parts.iter().all(|p| p[i] == parts[0][i]))
        .count();
    let shared = if dirs.len() == 1 {
        shortest.saturating_sub(1)
    } else {
        shared
    };
    parts.iter().map(|p| p[shared..].join("/")).collect()
}

/// The report page of run dirs `dirs`.
pub fn render(dirs: &[PathBuf]) -> Result<String> {
    let names = short_names(dirs);
    let runs: Vec<Run> = dirs
        .iter()
        .zip(&names)
        .map(|(d, n)| runs::load(d, n))
        .collect::<Result<_>>()?;
    let pretrain: Vec<&PretrainRun> = runs
        .iter()
        .filter_map(|r| match r {
            Run::Pretrain(p) => Some(p),
            Run::Finetune(_) => None,
        })
        .collect();
    let mut body = String::new();
    if !pretrain.is_empty() {
        body += &pretrain_section(&pretrain)?;
    }
    for r in &runs {
        if let Run::Finetune(f) = r {
            body += &finetune_section(f)?;
        }
    }
    let names: Vec<String> = dirs
        .iter()
        .map(|d| escape(&d.display().to_string()))
        .collect();
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>dapt report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>dapt report</h1>\n<p>Runs: {}</p>\n{body}</body>\n</html>\n",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_the_shared_dirs() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            short_names(&[p("runs/a/pretrain"), p("runs/b/pretrain")]),
            ["a/pretrain", "b/pretrain"]
        );
        assert_eq!(short_names(&[p("/x/y/run")]), ["run"]);
        assert_eq!(short_names(&[p("x/run"), p("x/run")]), ["run", "run"]);
    }
}
