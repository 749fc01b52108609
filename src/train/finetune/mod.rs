//! `dapt finetune`: k-fold fine-tuning of a sentence-pair classifier.
//!
//! Every check on the data and flags happens in [`data::prepare`] before the first step.
//! Each fold writes `OUT/fold-K/best` and `OUT/fold-K/result.json`; once every fold's
//! result is there (one run, or parallel `--fold` jobs), `oof.tsv` and `cv.json` are
//! written from them.

pub mod args;
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
use crate::data::pair_batch::PairEncoder;
use crate::data::pairs::{read_pairs, PairRecord};
use crate::dist::{Collective, DistArgs};
use crate::fsutil::write_atomic;
use crate::infer::predict::PredictOptions;
pub use crate::metrics::MetricKind;
use crate::progress::info;
use crate::text::vocab::sha256_hex;
use crate::train::log::MetricsLog;
use crate::train::options::parse_device;
use crate::train::techniques;
pub use args::{FinetuneArgs, FoldResume};
pub use fold::{fold_dir, FoldResult};
pub use job::Job;
pub use report::CvReport;

/// Name of a fold's result file inside `OUT/fold-K/`.
pub const RESULT_FILE: &str = "result.json";

/// Run `dapt finetune`: the requested folds, then the CV report if every fold is done;
/// with `--pseudo`, the rounds of self-training ([`pseudo`]). Returns the
/// (last round's) report when it was written (by rank 0 of a data-parallel run).
pub fn run(args: &FinetuneArgs) -> Result<Option<CvReport>> {
    args.dist.run(|group| run_in(args, group))
}

/// [`run`] as one rank of `group`.
fn run_in(args: &FinetuneArgs, group: &dyn Collective) -> Result<Option<CvReport>> {
    crate::dist::check_same(group, &format!("{args:?}"), "flags")?;
    // The techniques are asked in train_folds (techniques::refuse_data_parallel);
    // pseudo-labelling is a loop of rounds around the folds.
    if args.pseudo.pseudo.is_some() {
        crate::dist::refuse_in_group(
            group,
            "--pseudo",
            "its relabelling rounds predict in one process",
        )?;
    }
    let ps = &args.pseudo;
    let Some(file) = &ps.pseudo else {
        return run_round(args, Job::of(args), Vec::new(), group);
    };
    ps.validate()?;
    if args.fold.is_some() {
        crate::bad_input!(
            "--pseudo relabels with the whole fold ensemble after each round; drop --fold"
        );
    }
    // The file is read before round 0 trains, so a bad one fails fast.
    read_pairs(file, false, false, None)?;
    let opts = PredictOptions {
        tta: Default::default(),
        batch_size: args.eval_batch_size,
        vocab: None,
        header: false,
        max_unk_rate: args.max_unk_rate,
        device: parse_device(&args.device)?,
    };
    let job = Job::of(args);
    let mut teacher = match &ps.pseudo_teacher {
        Some(t) => t.clone(),
        None => {
            let plain = job.into_dir(job.out.join("round-0"));
            info(format!(
                "pseudo: round 0 (no pseudo-labels) into {}",
                plain.out.display()
            ));
            run_round(args, plain.clone(), Vec::new(), group)?;
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
        report = run_round(args, round, pairs, group)?;
        teacher = out;
    }
    Ok(report)
}

/// One k-fold run of `job` with `pseudo` (labelled) pairs added to every training part.
fn run_round(
    args: &FinetuneArgs,
    job: Job,
    pseudo: Vec<PairRecord>,
    group: &dyn Collective,
) -> Result<Option<CvReport>> {
    let p = data::prepare(args, job)?.with_pseudo(pseudo, args.max_len)?;
    let folds: Vec<usize> = match p.job.fold {
        Some(f) => vec![f],
        None => (0..args.folds).collect(),
    };
    train_folds(&p, args, &folds, group)?;
    if !group.is_root() {
        return Ok(None);
    }
    let report = report::write_if_complete(&p, args)?;
    match &report {
        Some(r) => {
            info(format!(
                "finetune: CV {} {:.4} ± {:.4} over {} folds (out-of-fold {:.4}); {}",
                args.metric.name(),
                r.mean_of(args.metric),
                r.std_of(args.metric),
                r.folds.len(),
                args.metric.of(&r.oof).unwrap_or(f64::NAN),
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
    args: &FinetuneArgs,
    folds: &[usize],
    group: &dyn Collective,
) -> Result<Vec<FoldResult>> {
    let device = parse_device(&args.device)?;
    if let Some(w) = args.precision.warning(&device) {
        info(format!("warning: {w}"));
    }
    info(format!(
        "finetune: {} pairs, {} classes, {} folds by {:?}; {} tokens ({:.2}% unknown to the vocabulary, {} pairs truncated to --max-len {})",
        p.pairs.len(),
        p.num_classes,
        args.folds,
        args.fold_by,
        p.stats.tokens,
        100.0 * p.stats.unknown_rate(),
        p.stats.truncated,
        args.max_len
    ));
    // Techniques that cannot train data-parallel are refused before anything is written.
    let encoder = PairEncoder::new(&p.vocab, args.max_len)?;
    techniques::refuse_data_parallel(group, &fold::fold_techniques(p, args, &encoder)?)?;
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
        if p.job.fold.is_none() && args.resume == FoldResume::None {
            // A full run replaces the previous one's log; parallel --fold jobs and resumed
            // runs append to it.
            let _ = std::fs::remove_file(&log_path);
        }
        MetricsLog::open(&log_path, None)?.with_tensorboard(args.tensorboard.as_deref())?
    } else {
        MetricsLog::discard()
    };
    let fingerprint = fingerprint(p, args, group.world_size())?;
    let mut results = Vec::new();
    for &k in folds {
        if args.resume == FoldResume::Auto {
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
        let result = fold::train_fold(p, args, k, &fingerprint, &device, &mut log, group)?;
        info(format!(
            "finetune: fold {k}: best {} {:.4} at step {} (epoch {:.2}): auc {} accuracy {:.4} f1 {:.4} log_loss {:.4}",
            args.metric.name(),
            args.metric.of(&result.metrics).unwrap_or(f64::NAN),
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

/// sha256 of what decides a fold's outcome: the flags (all but `--fold`, `--resume`,
/// `--save-every`, `--keep-last`, `--tensorboard`, `--dist`, `--dist-timeout` and
/// `--out`, and the paths of the files read), the number of processes (the global batch
/// is `world` x `--batch-size`), the checkpoint `--init` resolved to and the
/// identity of its weights (a re-trained checkpoint in the same dir is another init),
/// the pseudo-labelled pairs and the job's files by their bytes (training pairs, soft
/// labels, `--uda`).
fn fingerprint(p: &data::Prepared, args: &FinetuneArgs, world: usize) -> Result<String> {
    let mut flags = args.clone();
    flags.fold = None;
    flags.resume = FoldResume::None;
    (flags.save_every, flags.keep_last, flags.tensorboard) = (None, 0, None);
    flags.dist = DistArgs {
        dist: Default::default(),
        dist_timeout: 0.0,
    };
    flags.out = Default::default();
    // The files read count by their bytes (below), not their paths: `dapt distill`
    // writes its training pairs inside OUT, and a moved file is the same data.
    flags.train = Default::default();
    flags.soft_labels = flags.soft_labels.map(|_| Default::default());
    flags.uda.uda = flags.uda.uda.map(|_| Default::default());
    let init = match &p.init {
        Some(dir) => crate::model::checkpoint::identity(dir)?,
        None => String::new(),
    };
    let job = &p.job;
    let mut bytes = format!(
        "{flags:?}\nheader {} soft labels {}\n{:?} {init}\n{:?}\nworld {world}",
        job.header,
        job.soft_labels.is_some(),
        p.init,
        p.pseudo
    )
    .into_bytes();
    let files = [
        Some(&job.train),
        job.soft_labels.as_ref(),
        args.uda.uda.as_ref(),
    ];
    for f in files.into_iter().flatten() {
        bytes.extend(std::fs::read(f).unwrap_or_default());
    }
    Ok(sha256_hex(&bytes))
}

/// Fold `k`'s result in `out` if it was made with `fingerprint`.
fn finished(out: &std::path::Path, k: usize, fingerprint: &str) -> Option<FoldResult> {
    let bytes = std::fs::read(fold_dir(out, k).join(RESULT_FILE)).ok()?;
    let r: FoldResult = serde_json::from_slice(&bytes).ok()?;
    (r.fingerprint == fingerprint && fold_dir(out, k).join("best").exists()).then_some(r)
}
