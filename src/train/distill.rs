//! `dapt distill`: a teacher (a finetune run's fold ensemble, or one checkpoint) labels
//! the labelled and unlabelled pairs once, then one student learns from its soft labels
//! (`finetune --soft-labels`, [`crate::train::soft`]). Serving one student instead of
//! k fold models is the point: nearly the ensemble's quality at a fraction of its cost.
//!
//! The teacher's labels are cached in `OUT/teacher/` with the identity of the teacher's
//! weights and of the input files, so a re-run (or a resumed one) does not recompute them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::data::labels::Labels;
use crate::data::pairs::{read_pairs, PairRecord};
use crate::data::task::TaskKind;
use crate::fsutil::write_atomic;
use crate::infer::ensemble::find_checkpoints;
use crate::infer::predict::{predict_file, PredictOptions};
use crate::model::checkpoint;
use crate::model::config::BertConfig;
use crate::progress::info;
use crate::text::vocab::{sha256_hex, Vocab};
use crate::train::finetune::data::training_labels;
use crate::train::finetune::{
    self, data::student_vocab, FinetuneArgs, FinetuneConfig, FoldResult, Job,
};

/// Distil a teacher into one student.
///
/// The teacher labels `--train` and every `--unlabelled` file once (cached in
/// `OUT/teacher/`); the student then trains on fold `--fold` (default 0) of `--folds`
/// of the labelled pairs plus every unlabelled pair, on α·CE(hard) + (1−α)·T²·KL, and is
/// selected on that fold's held-out labelled pairs. `OUT` is a finetune run dir with one
/// fold (`dapt predict --model OUT` serves the student).
#[derive(Args, Debug, Clone)]
pub struct DistillArgs {
    /// The teacher: a `dapt finetune` output dir (its fold ensemble) or one checkpoint dir
    #[arg(long, value_name = "DIR")]
    pub teacher: PathBuf,
    /// Unlabelled pairs (text_a<TAB>text_b; a label column is ignored) the teacher labels
    /// for the student, e.g. the test file
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub unlabelled: Vec<PathBuf>,
    /// Pairs per forward pass while the teacher labels
    #[arg(long, default_value_t = 128)]
    pub teacher_batch_size: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub finetune: FinetuneArgs,
}

/// What the cached labels were made from (`OUT/teacher/identity.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Identity {
    /// sha256 of each teacher checkpoint's manifest (or weights), in ensemble order.
    teacher: Vec<String>,
    /// sha256 of `--train` and of each `--unlabelled` file, in order.
    inputs: Vec<String>,
    /// `--header` of `--train`.
    header: bool,
}

/// Where the cache lives and what it holds.
const TEACHER_DIR: &str = "teacher";
const PAIRS_FILE: &str = "pairs.tsv";
const SOFT_FILE: &str = "soft-labels.tsv";
const IDENTITY_FILE: &str = "identity.json";

/// A checked `dapt distill` run: the teacher and what it labels, and the student's
/// fine-tuning configuration.
#[derive(Debug, Clone)]
pub struct DistillConfig {
    /// The teacher dir (`--teacher`).
    pub teacher: PathBuf,
    /// Unlabelled pairs files (`--unlabelled`).
    pub unlabelled: Vec<PathBuf>,
    /// Pairs per forward pass of the teacher.
    pub teacher_batch_size: usize,
    /// The student's run (its job's `--train`, `--header` and `--out`; soft labels come
    /// from the teacher).
    pub student: FinetuneConfig,
}

impl DistillConfig {
    /// The configuration `args` describe (exit 2 for flags distillation does not take).
    pub fn new(args: &DistillArgs) -> Result<DistillConfig> {
        let ft = &args.finetune;
        if ft.soft_labels.is_some() {
            crate::bad_input!(
                "dapt distill makes its soft labels from --teacher; drop --soft-labels (or use `dapt finetune --soft-labels`)"
            );
        }
        if ft.pseudo.pseudo.is_some() {
            crate::bad_input!(
                "dapt distill trains one student on soft labels; pseudo-labelling (--pseudo) is for `dapt finetune`"
            );
        }
        if ft.run.dist.dist == crate::dist::Backend::Mpi {
            crate::bad_input!(
                "dapt distill trains in one process; drop --dist mpi (data-parallel training is for `dapt finetune` and `dapt pretrain`)"
            );
        }
        Ok(DistillConfig {
            teacher: args.teacher.clone(),
            unlabelled: args.unlabelled.clone(),
            teacher_batch_size: args.teacher_batch_size,
            student: FinetuneConfig::new(ft)?,
        })
    }
}

/// Run `dapt distill`: label once, then train the student; returns its fold result.
pub fn run(cfg: &DistillConfig) -> Result<FoldResult> {
    if cfg.unlabelled.is_empty() {
        info("distill: no --unlabelled files; the student learns from the teacher's labels of --train only");
    }
    check_teacher(cfg)?;
    let student = &cfg.student;
    // Every input is read (and refused if bad) before OUT is created.
    let labels = training_labels(&student.recipe, &student.job.train, student.job.header)?;
    let train = read_pairs(&student.job.train, student.job.header, true, &labels)?;
    let mut unlabelled = Vec::new();
    for path in &cfg.unlabelled {
        unlabelled.extend(read_pairs(path, false, false, &Labels::Ignore)?);
    }
    let out = &student.job.out;
    let _lock = crate::lock::lock_dir(out)?;
    let (pairs, soft) = label_once(cfg, &train, &labels, &unlabelled)?;
    let k = student.job.fold.unwrap_or(0);
    let job = Job {
        train: pairs,
        header: false,
        soft_labels: Some(soft),
        fold: Some(k),
        ..student.job.clone()
    };
    let prepared = finetune::data::prepare(student, job)?;
    let result = finetune::train_folds(&prepared, student, &[k], &crate::dist::Single)?.remove(0);
    info(format!(
        "distill: the student is {}; serve it with `dapt predict --model {}`",
        finetune::fold_dir(out, k).join("best").display(),
        out.display()
    ));
    Ok(result)
}

/// The teacher must have been trained for the student's task and read text as it does.
fn check_teacher(cfg: &DistillConfig) -> Result<()> {
    let student = student_vocab(&cfg.student.recipe)?;
    let task = cfg.student.recipe.task;
    for (name, path) in find_checkpoints(&cfg.teacher)? {
        let config = BertConfig::read(&path.join(checkpoint::CONFIG))?;
        let taught = TaskKind::of_config(config.dapt_task);
        if taught != task {
            crate::bad_input!(
                "--teacher {}: {name} was fine-tuned for --task {} but the student trains --task {}; pass --task {} (or another teacher)",
                cfg.teacher.display(),
                taught.name(),
                task.name(),
                taught.name()
            );
        }
        if !Vocab::exists_in(&path) {
            continue;
        }
        let own = Vocab::load(&path)?;
        if own.sha256 != student.sha256 {
            crate::bad_input!(
                "--teacher {}: {name} reads text with another vocabulary than the student ({}, sha256 {} vs {}); distil into a student over the teacher's vocabulary (--init one of its checkpoints, or --vocab {})",
                cfg.teacher.display(),
                student.dir.display(),
                &own.sha256[..12],
                &student.sha256[..12],
                path.display()
            );
        }
    }
    Ok(())
}

/// sha256 of a file's bytes.
fn file_sha(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path)
        .map_err(|e| crate::error::InputError::at_path(path, format!("cannot read: {e}")))?;
    Ok(sha256_hex(&bytes))
}

/// The identity of the teacher's weights and of the inputs.
fn identity(cfg: &DistillConfig) -> Result<Identity> {
    let teacher = find_checkpoints(&cfg.teacher)?
        .into_iter()
        .map(|(_, dir)| checkpoint::identity(&dir))
        .collect::<Result<_>>()?;
    let inputs = std::iter::once(&cfg.student.job.train)
        .chain(&cfg.unlabelled)
        .map(|p| file_sha(p))
        .collect::<Result<_>>()?;
    Ok(Identity {
        teacher,
        inputs,
        header: cfg.student.job.header,
    })
}

/// `OUT/teacher/pairs.tsv` (the labelled pairs, then the unlabelled ones without a
/// label) and the teacher's `soft-labels.tsv` over it, made unless the cache holds them
/// for this teacher and these inputs. The identity is written last, so a crash while
/// labelling leaves no cache that looks complete.
fn label_once(
    cfg: &DistillConfig,
    train: &[PairRecord],
    labels: &Labels,
    unlabelled: &[PairRecord],
) -> Result<(PathBuf, PathBuf)> {
    let dir = cfg.student.job.out.join(TEACHER_DIR);
    let (pairs_path, soft_path, id_path) = (
        dir.join(PAIRS_FILE),
        dir.join(SOFT_FILE),
        dir.join(IDENTITY_FILE),
    );
    let id = identity(cfg)?;
    let cached: Option<Identity> = std::fs::read(&id_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if cached.as_ref() == Some(&id) && pairs_path.exists() && soft_path.exists() {
        info(format!(
            "distill: the teacher's labels of these inputs are cached in {}; not recomputing",
            dir.display()
        ));
        return Ok((pairs_path, soft_path));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _ = std::fs::remove_file(&id_path);
    let mut text = String::new();
    for p in train {
        // Written as read (names stay names), so the student finds the same labels.
        let label = labels.name(p.label.expect("labelled"));
        text += &format!("{}\t{}\t{label}\n", p.a, p.b);
    }
    for p in unlabelled {
        text += &format!("{}\t{}\n", p.a, p.b);
    }
    write_atomic(&pairs_path, &text)?;
    let opts = PredictOptions {
        tta: Default::default(),
        // The teacher must have been trained for the student's task.
        task: Some(cfg.student.recipe.task),
        batch_size: cfg.teacher_batch_size,
        vocab: None,
        header: false,
        max_unk_rate: cfg.student.recipe.max_unk_rate,
        device: cfg.student.run.device.clone(),
    };
    let start = Instant::now();
    let preds = predict_file(&cfg.teacher, &pairs_path, false, &opts)?;
    let seconds = start.elapsed().as_secs_f64();
    info(format!(
        "distill: teacher ({} model(s)) labelled {} pairs ({} labelled, {} unlabelled) in {seconds:.1} s ({:.1} pairs/s)",
        preds.names.len(),
        preds.pairs.len(),
        train.len(),
        unlabelled.len(),
        preds.pairs.len() as f64 / seconds.max(1e-9)
    ));
    write_atomic(&soft_path, &preds.to_text(true))?;
    write_atomic(&id_path, &(serde_json::to_string_pretty(&id)? + "\n"))?;
    Ok((pairs_path, soft_path))
}
