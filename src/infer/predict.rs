//! Prediction and evaluation with an ensemble of pair classifiers: every model's class
//! probabilities over a pair file, their mean, the submission file and per-model metrics.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use candle_core::Device;

use super::ensemble::{load_models, mean, model_probs, Tta};
use crate::data::labels::Labels;
use crate::data::overlap::{baseline_aucs, Overlap};
use crate::data::pair_batch::EncodeStats;
use crate::data::pairs::{read_pairs, PairRecord};
use crate::data::task::TaskKind;
use crate::metrics::{evaluate, ClassReport, Metrics};

/// How to predict.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// Test-time augmentation.
    pub tta: Tta,
    /// The task the models must have (`None`: whatever their config.json records).
    pub task: Option<TaskKind>,
    /// Pairs per forward pass.
    pub batch_size: usize,
    /// Read text with this vocabulary instead of each checkpoint's own.
    pub vocab: Option<PathBuf>,
    /// The input's first line is a header.
    pub header: bool,
    /// Largest fraction of tokens a model's vocabulary may not know.
    pub max_unk_rate: f64,
    /// Where the models run.
    pub device: Device,
}

/// Every model's and the ensemble's probabilities over a pair file.
pub struct Predictions {
    /// The input pairs, in file order.
    pub pairs: Vec<PairRecord>,
    /// How the models write their classes (names from config.json, or ids).
    pub classes: Labels,
    /// Model names (`fold-0`, ... or the checkpoint dir).
    pub names: Vec<String>,
    /// `[model][pair][class]`.
    pub per_model: Vec<Vec<Vec<f64>>>,
    /// Mean over models, `[pair][class]`.
    pub ensemble: Vec<Vec<f64>>,
}

/// Run every checkpoint under `model_dir` (see [`super::ensemble::find_checkpoints`]) over
/// the pairs of `input`; with `labels_required` every line needs a label in range.
pub fn predict_file(
    model_dir: &Path,
    input: &Path,
    labels_required: bool,
    opts: &PredictOptions,
) -> Result<Predictions> {
    let models = load_models(model_dir, opts.vocab.as_deref(), &opts.device)?;
    for m in &models {
        if let Some(task) = opts.task.filter(|&t| t != m.task()) {
            crate::bad_input!(
                "--task {}: {} was fine-tuned for --task {} (dapt_task in its config.json); drop --task or pass that one",
                task.name(),
                m.dir.display(),
                m.task().name()
            );
        }
        if opts.tta == Tta::Swap {
            m.task().check_swap_tta(&m.dir)?;
        }
    }
    let classes = models[0].labels();
    let pairs = read_pairs(input, opts.header, labels_required, &classes)?;
    let texts: Vec<(&str, &str)> = pairs.iter().map(|p| (p.a.as_str(), p.b.as_str())).collect();
    let mut per_model = Vec::new();
    for m in &models {
        let mut stats = EncodeStats::default();
        let probs = model_probs(
            m,
            &texts,
            opts.tta,
            opts.batch_size,
            &opts.device,
            &mut stats,
        )?;
        if stats.unknown_rate() > opts.max_unk_rate {
            crate::bad_input!(
                "{}: {:.1}% of its tokens are unknown to the vocabulary of {} (limit --max-unk-rate {}): the data and the model do not belong together",
                input.display(),
                100.0 * stats.unknown_rate(),
                m.vocab.dir.display(),
                opts.max_unk_rate
            );
        }
        per_model.push(probs);
    }
    Ok(Predictions {
        pairs,
        classes,
        names: models.into_iter().map(|m| m.name).collect(),
        ensemble: mean(&per_model),
        per_model,
    })
}

impl Predictions {
    /// The submission format, one line per pair in input order: the ensemble's
    /// probability of class 1 for two classes, else its predicted class (name or id);
    /// with `with_ids`, a TSV with a header:
    /// `line<TAB>p_0<TAB>...<TAB>p_{C-1}<TAB>prediction[<TAB>predicted_label][<TAB>label]`,
    /// `prediction` the class id, `predicted_label` its name (when the classes have
    /// names), `label` the input's label as written in it.
    pub fn to_text(&self, with_ids: bool) -> String {
        let mut out = String::new();
        let argmax = |p: &[f64]| {
            (0..p.len())
                .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                .unwrap_or(0)
        };
        let classes = self.ensemble.first().map_or(2, |p| p.len());
        if !with_ids {
            for p in &self.ensemble {
                let _ = match classes {
                    2 => writeln!(out, "{:.8}", p[1]),
                    _ => writeln!(out, "{}", self.classes.name(argmax(p))),
                };
            }
            return out;
        }
        let named = self.classes.names().is_some();
        let labelled = self.pairs.iter().all(|p| p.label.is_some());
        let mut header: Vec<String> = vec!["line".into()];
        header.extend((0..classes).map(|c| format!("p_{c}")));
        header.push("prediction".into());
        if named {
            header.push("predicted_label".into());
        }
        if labelled {
            header.push("label".into());
        }
        let _ = writeln!(out, "{}", header.join("\t"));
        for (rec, p) in self.pairs.iter().zip(&self.ensemble) {
            let pred = argmax(p);
            let mut cols = vec![rec.line.to_string()];
            cols.extend(p.iter().map(|x| format!("{x:.8}")));
            cols.push(pred.to_string());
            if named {
                cols.push(self.classes.name(pred));
            }
            if let (true, Some(l)) = (labelled, rec.label) {
                cols.push(l.to_string());
            }
            let _ = writeln!(out, "{}", cols.join("\t"));
        }
        out
    }

    /// The labels of the pairs, which must be labelled.
    fn labels(&self) -> Vec<usize> {
        self.pairs
            .iter()
            .map(|p| p.label.expect("labelled pairs"))
            .collect()
    }

    /// Metrics of every model and of the ensemble (last, named `ensemble`); the pairs must
    /// be labelled.
    pub fn metrics(&self) -> Vec<(String, Metrics)> {
        let labels = self.labels();
        let mut rows: Vec<(String, Metrics)> = self
            .names
            .iter()
            .zip(&self.per_model)
            .map(|(n, probs)| (n.clone(), evaluate(probs, &labels)))
            .collect();
        rows.push(("ensemble".into(), evaluate(&self.ensemble, &labels)));
        rows
    }

    /// Per class scores and the confusion matrix of the ensemble; the pairs must be
    /// labelled.
    pub fn class_report(&self) -> ClassReport {
        let classes = self.ensemble.first().map_or(2, |p| p.len());
        let names = (0..classes).map(|c| self.classes.name(c)).collect();
        ClassReport::of(&self.ensemble, &self.labels(), names)
    }

    /// The AUC of each word-overlap baseline on the pairs, which must be labelled; `None`
    /// unless the labels are binary.
    pub fn baselines(&self) -> Option<Overlap> {
        let scores: Vec<Overlap> = self
            .pairs
            .iter()
            .map(|p| Overlap::of_texts(&p.a, &p.b))
            .collect();
        baseline_aucs(&scores, &self.labels(), |_| true)
    }
}
