//! `dapt finetune`: k-fold fine-tuning of a sentence-pair classifier.
//!
//! Every check on the data and flags happens in [`data::prepare`] before the first step.
//! Each fold writes `OUT/fold-K/best` and `OUT/fold-K/result.json`; once every fold's
//! result is there (one run, or parallel `--fold` jobs), `oof.tsv` and `cv.json` are
//! written from them.

pub mod args;
pub mod config;
pub mod data;
pub mod fold;
pub mod job;
mod parallel;
pub mod pseudo;
pub mod report;
pub mod resume;
pub mod step;
mod training_set;

use anyhow::Result;

pub use crate::data::augment::AugmentRule;
use crate::data::labels::Labels;
use crate::data::pair_batch::PairEncoder;
use crate::data::pairs::{read_pairs, PairRecord};
use crate::dist::Collective;
use crate::fsutil::write_atomic;
use crate::infer::predict::PredictOptions;
pub use crate::metrics::MetricKind;
use crate::progress::info;
use crate::train::log::MetricsLog;
use crate::train::run::ResumeFrom;
use crate::train::techniques;
pub use args::{FinetuneArgs, FinetuneRecipe};
pub use config::FinetuneConfig;
pub use fold::{fold_dir, FoldResult};
pub use job::Job;
pub use report::CvReport;

/// Name of a fold's result file inside `OUT/fold-K/`.
pub const RESULT_FILE: &str = "result.json";

/// Run `dapt finetune`: the requested folds, then the CV report if every fold is done;
/// with `--pseudo`, the rounds of self-training ([`pseudo`]). Returns the
/// (last round's) report when it was written (by rank 0 of a data-parallel run).
pub fn run(cfg: &FinetuneConfig) -> Result<Option<CvReport>> {
    cfg.run.dist.run(|group| run_in(cfg, group))
}

/// [`run`] as one rank of `group`.
fn run_in(cfg: &FinetuneConfig, group: &dyn Collective) -> Result<Option<CvReport>> {
    crate::dist::check_same(group, &cfg.identity(), "flags")?;
    // The techniques are asked in train_folds (techniques::refuse_data_parallel);
    // pseudo-labelling is a loop of rounds around the folds.
    let Some(ps) = &cfg.pseudo else {
        return run_round(cfg, cfg.job.clone(), Vec::new(), group);
    };
    crate::dist::refuse_in_group(
        group,
        "--pseudo",
        "its relabelling rounds predict in one process",
    )?;
    let file = ps.pseudo.as_ref().expect("a pseudo config has its file");
    // The file is read before round 0 trains, so a bad one fails fast.
    read_pairs(file, false, false, &Labels::Ignore)?;
    let opts = PredictOptions {
        tta: Default::default(),
        // The teacher must have been trained for the task the rounds train.
        task: Some(cfg.recipe.task),
        batch_size: cfg.recipe.eval_batch_size,
        vocab: None,
        header: false,
        max_unk_rate: cfg.recipe.max_unk_rate,
        device: cfg.run.device.clone(),
    };
    let job = &cfg.job;
    let mut teacher = match &ps.pseudo_teacher {
        Some(t) => t.clone(),
        None => {
            let plain = job.into_dir(job.out.join("round-0"));
            info(format!(
                "pseudo: round 0 (no pseudo-labels) into {}",
                plain.out.display()
            ));
            run_round(cfg, plain.clone(), Vec::new(), group)?;
            plain.out
        }
    };
    let mut report = None;
    for r in 1..=ps.pseudo_rounds {
        let round = match r < ps.pseudo_rounds {
            true => job.into_dir(job.out.join(format!("round-{r}"))),
            false => job.clone(),
        };
        info(format!("pseudo: round {r} into {}", round.out.display()));
        let pairs = pseudo::label(&teacher, file, ps.pseudo_threshold, &opts, &round.out)?;
        let out = round.out.clone();
        report = run_round(cfg, round, pairs, group)?;
        teacher = out;
    }
    Ok(report)
}

/// One k-fold run of `job` with `pseudo` (labelled) pairs added to every training part.
fn run_round(
    cfg: &FinetuneConfig,
    job: Job,
    pseudo: Vec<PairRecord>,
    group: &dyn Collective,
) -> Result<Option<CvReport>> {
    let p = data::prepare(cfg, job)?.with_pseudo(pseudo, cfg.recipe.max_len)?;
    let folds: Vec<usize> = match p.job.fold {
        Some(f) => vec![f],
        None => (0..cfg.recipe.folds).collect(),
    };
    train_folds(&p, cfg, &folds, group)?;
    if !group.is_root() {
        return Ok(None);
    }
    let report = report::write_if_complete(&p, cfg)?;
    match &report {
        Some(r) => {
            info(format!(
                "finetune: CV {} {:.4} ± {:.4} over {} folds (out-of-fold {:.4}); {}",
                cfg.recipe.metric.name(),
                r.mean_of(cfg.recipe.metric),
                r.std_of(cfg.recipe.metric),
                r.folds.len(),
                cfg.recipe.metric.of(&r.oof).unwrap_or(f64::NAN),
                p.job.out.join("cv.json").display()
            ));
            if let Some(b) = &r.baselines {
                info(format!(
                    "finetune: word-overlap baselines' AUC on the same validation parts: {}",
                    b.summary()
                ));
            }
        }
        None => info(format!(
            "finetune: other folds are not finished yet; the job that completes them writes {} and {}",
            p.job.out.join("oof.tsv").display(),
            p.job.out.join("cv.json").display()
        )),
    }
    Ok(report)
}

/// Train `folds` of the prepared task into `p.job.out` (its `folds.json`, `metrics.jsonl`
/// and each fold's `fold-K/best` and `result.json`), one after the other, as one rank of
/// `group`: every rank trains every fold on its slice of each batch; rank 0 writes.
pub fn train_folds(
    p: &data::Prepared,
    cfg: &FinetuneConfig,
    folds: &[usize],
    group: &dyn Collective,
) -> Result<Vec<FoldResult>> {
    if let Some(w) = cfg.run.precision.warning(&cfg.run.device) {
        info(format!("warning: {w}"));
    }
    info(format!(
        "finetune: {} pairs, {} classes, {} folds by {:?}; {} tokens ({:.2}% unknown to the vocabulary, {} pairs truncated to --max-len {})",
        p.pairs.len(),
        p.task.classes,
        cfg.recipe.folds,
        cfg.recipe.fold_by,
        p.stats.tokens,
        100.0 * p.stats.unknown_rate(),
        p.stats.truncated,
        cfg.recipe.max_len
    ));
    // Techniques that cannot train data-parallel are refused before anything is written.
    let encoder = PairEncoder::new(&p.vocab, cfg.recipe.max_len)?;
    techniques::refuse_data_parallel(group, &fold::fold_techniques(p, cfg, &encoder)?)?;
    let root = group.is_root();
    let _locks = match (root, p.job.fold) {
        (false, _) => vec![],
        // Parallel one-fold jobs share the run dir; each holds its fold's.
        (true, Some(k)) => vec![
            crate::lock::share_dir(&p.job.out)?,
            crate::lock::lock_dir(&fold_dir(&p.job.out, k))?,
        ],
        (true, None) => vec![crate::lock::lock_dir(&p.job.out)?],
    };
    let log_path = p.job.out.join("metrics.jsonl");
    let mut log = if root {
        write_atomic(
            &p.job.out.join(crate::data::folds::FOLDS_FILE),
            &(serde_json::to_string(&p.folds)? + "\n"),
        )?;
        if p.job.fold.is_none() && cfg.run.resume == ResumeFrom::None {
            // A full run replaces the previous one's log; parallel --fold jobs and resumed
            // runs append to it.
            let _ = std::fs::remove_file(&log_path);
        }
        MetricsLog::open(&log_path, None)?.with_tensorboard(cfg.run.tensorboard.as_deref())?
    } else {
        MetricsLog::discard()
    };
    let fingerprint = resume::fingerprint(cfg, p, group.world_size())?;
    let mut results = Vec::new();
    for &k in folds {
        if cfg.run.resume == ResumeFrom::Auto {
            if let Some(done) = finished(&p.job.out, k, &fingerprint) {
                info(format!(
                    "finetune: fold {k}: finished by an earlier run with the same data and flags ({}); skipping",
                    fold_dir(&p.job.out, k).join(RESULT_FILE).display()
                ));
                if root {
                    resume::clear(&fold_dir(&p.job.out, k))?;
                }
                results.push(done);
                continue;
            }
        }
        let result = fold::train_fold(p, cfg, k, &fingerprint, &mut log, group)?;
        info(format!(
            "finetune: fold {k}: best {} {:.4} at step {} (epoch {:.2}): auc {} accuracy {:.4} f1 {:.4} log_loss {:.4}",
            cfg.recipe.metric.name(),
            cfg.recipe.metric.of(&result.metrics).unwrap_or(f64::NAN),
            result.best_step,
            result.best_epoch,
            result.metrics.auc.map_or("-".into(), |a| format!("{a:.4}")),
            result.metrics.accuracy,
            result.metrics.f1,
            result.metrics.log_loss
        ));
        if root {
            write_atomic(
                &fold_dir(&p.job.out, k).join(RESULT_FILE),
                &(serde_json::to_string(&result)? + "\n"),
            )?;
            resume::clear(&fold_dir(&p.job.out, k))?;
        }
        results.push(result);
    }
    Ok(results)
}

/// Fold `k`'s result in `out` if it was made with `fingerprint`.
fn finished(out: &std::path::Path, k: usize, fingerprint: &str) -> Option<FoldResult> {
    let bytes = std::fs::read(fold_dir(out, k).join(RESULT_FILE)).ok()?;
    let r: FoldResult = serde_json::from_slice(&bytes).ok()?;
    (r.fingerprint == fingerprint && fold_dir(out, k).join("best").exists()).then_some(r)
}
