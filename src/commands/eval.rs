//! `dapt eval`: metrics of every fold checkpoint and of their ensemble on labelled pairs.

use anyhow::Result;
use clap::Args as ClapArgs;

use super::predict::ModelArgs;
use crate::infer::predict::predict_file;
use crate::metrics::ClassReport;

/// Print AUC, accuracy, F1 and log-loss of each model and of the ensemble, and the AUC
/// of the word-overlap baselines (Jaccard, overlap coefficient, edit similarity of the
/// two texts' words) that a pair model has to beat.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub model: ModelArgs,
    /// Print JSON (one object per model, the ensemble last) instead of a table
    #[arg(long)]
    pub json: bool,
}

/// Run `dapt eval`.
pub fn run(args: Args) -> Result<()> {
    let m = &args.model;
    let preds = predict_file(&m.model, &m.input, true, &m.options()?)?;
    let rows = preds.metrics();
    let baselines: Vec<(String, f64)> = preds
        .baselines()
        .map(|b| {
            b.named()
                .iter()
                .map(|(n, auc)| (format!("baseline:{n}"), *auc))
                .collect()
        })
        .unwrap_or_default();
    let classes = preds.class_report();
    if args.json {
        for (name, metrics) in rows {
            let mut v = serde_json::to_value(metrics)?;
            if name == "ensemble" {
                v["classes"] = serde_json::to_value(&classes)?;
            }
            v["model"] = name.into();
            println!("{v}");
        }
        for (name, auc) in baselines {
            println!("{}", serde_json::json!({ "model": name, "auc": auc }));
        }
        return Ok(());
    }
    let width = rows
        .iter()
        .map(|(n, _)| n.len())
        .chain(baselines.iter().map(|(n, _)| n.len()))
        .max()
        .unwrap_or(5);
    println!(
        "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
        "model", "auc", "accuracy", "f1", "macro_f1", "log_loss"
    );
    for (name, r) in rows {
        let auc = r.auc.map_or("-".to_string(), |a| format!("{a:.4}"));
        println!(
            "{name:<width$}  {auc:>8}  {:>8.4}  {:>8.4}  {:>8.4}  {:>8.4}",
            r.accuracy, r.f1, r.macro_f1, r.log_loss
        );
    }
    for (name, auc) in baselines {
        println!(
            "{name:<width$}  {auc:>8.4}  {:>8}  {:>8}  {:>8}  {:>8}",
            "-", "-", "-", "-"
        );
    }
    print_classes(&classes);
    Ok(())
}

/// The ensemble's per class table and confusion matrix (rows: true class, columns:
/// predicted).
fn print_classes(c: &ClassReport) {
    let width = c.labels.iter().map(String::len).max().unwrap_or(5).max(8);
    println!(
        "\n{:<width$}  {:>9}  {:>8}  {:>8}  {:>8}",
        "class", "precision", "recall", "f1", "support"
    );
    for (i, name) in c.labels.iter().enumerate() {
        println!(
            "{name:<width$}  {:>9.4}  {:>8.4}  {:>8.4}  {:>8}",
            c.precision[i], c.recall[i], c.f1[i], c.support[i]
        );
    }
    let corner = "true \\ predicted";
    let first = width.max(corner.len());
    print!("\n{corner:<first$}");
    for name in &c.labels {
        print!("  {name:>width$}");
    }
    println!();
    for (name, row) in c.labels.iter().zip(&c.confusion) {
        print!("{name:<first$}");
        for n in row {
            print!("  {n:>width$}");
        }
        println!();
    }
}
