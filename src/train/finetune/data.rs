//! Everything `dapt finetune` checks and prepares before any training: the pairs, the
//! folds, the vocabulary and model configuration, and every pair encoded once.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::args::FinetuneRecipe;
use super::config::FinetuneConfig;
use super::job::Job;
use crate::data::folds::{Folds, FOLDS_FILE};
use crate::data::labels::Labels;
use crate::data::pairs::{read_pairs, PairRecord};
use crate::data::soft_labels::SoftLabels;
use candle_core::Device;

use crate::data::pair_batch::{EncodeStats, EncodedPair, PairEncoder};
use crate::infer::pair_model::check_vocab_fits;
use crate::model::build::Init;
use crate::model::pooling::Pooling;
use crate::model::{checkpoint, BertConfig};
use crate::progress::info;
use crate::text::vocab::Vocab;
use crate::train::checkpoints::latest;
use crate::train::loss::parse_class_weight;
use crate::train::tasks::pair::{PairClassification, PairLoss};
use crate::train::tasks::Task;
use crate::train::techniques::uda::data::UdaData;

/// A checked fine-tuning task.
pub struct Prepared {
    /// The files of the run.
    pub job: Job,
    /// The checkpoint dir `--init` resolves to.
    pub init: Option<PathBuf>,
    /// The labelled pairs, in file order (those the folds split).
    pub pairs: Vec<PairRecord>,
    /// Their labels.
    pub labels: Vec<usize>,
    /// The task: pair classification into as many classes as the labels imply (max
    /// label + 1), with the loss `--class-weight` and `--label-smoothing` describe.
    pub task: PairClassification,
    /// The fold assignment.
    pub folds: Folds,
    /// The vocabulary text is read with.
    pub vocab: Vocab,
    /// The encoder's configuration (`vocab_size` covers the vocabulary).
    pub config: BertConfig,
    /// Every pair encoded, in file order.
    pub encoded: Vec<EncodedPair>,
    /// Encoding counts over the whole file.
    pub stats: EncodeStats,
    /// With `--soft-labels`: the teacher's probabilities of each labelled pair (in the
    /// order of `pairs`) and the unlabelled pairs, which join every fold's training part.
    pub soft: Option<SoftSet>,
    /// Pseudo-labelled pairs (`--pseudo`), which join every fold's training part.
    pub pseudo: Vec<PairRecord>,
    /// Them encoded.
    pub pseudo_encoded: Vec<EncodedPair>,
    /// The unlabelled pairs of UDA (`--uda`).
    pub uda: Option<UdaData>,
}

impl Prepared {
    /// Add pseudo-labelled pairs (labels set), encoded as the training pairs are.
    pub fn with_pseudo(mut self, pairs: Vec<PairRecord>, max_len: usize) -> Result<Prepared> {
        let encoder = PairEncoder::new(&self.vocab, max_len)?;
        let mut stats = EncodeStats::default();
        self.pseudo_encoded = pairs
            .iter()
            .map(|p| encoder.encode(&p.a, &p.b, &mut stats))
            .collect::<Result<_>>()?;
        self.pseudo = pairs;
        Ok(self)
    }
}

/// The soft labels of a fine-tuning task.
pub struct SoftSet {
    /// Teacher probabilities of the labelled pairs, in the order of [`Prepared::pairs`].
    pub labelled: Vec<Vec<f64>>,
    /// The unlabelled pairs of `--train`, in file order.
    pub unlabelled: Vec<PairRecord>,
    /// Them encoded.
    pub unlabelled_encoded: Vec<EncodedPair>,
    /// Their teacher probabilities.
    pub unlabelled_probs: Vec<Vec<f64>>,
}

/// The vocabulary dir: the checkpoint's own with `--init` (a different `--vocab` is a
/// mismatch), else `--vocab`.
fn vocab_dir(r: &FinetuneRecipe, init: Option<&PathBuf>) -> Result<PathBuf> {
    match (init, &r.vocab) {
        (Some(init), vocab) if Vocab::exists_in(init) => {
            if let Some(v) = vocab {
                let (own, given) = (Vocab::load(init)?, Vocab::load(v)?);
                if own.sha256 != given.sha256 {
                    crate::bad_input!(
                        "--vocab {} differs from the vocab.txt of --init {} (sha256 {} vs {}): the checkpoint's embeddings belong to its own vocabulary; drop --vocab",
                        v.display(),
                        init.display(),
                        &given.sha256[..12],
                        &own.sha256[..12]
                    );
                }
            }
            Ok(init.clone())
        }
        (Some(init), Some(v)) => {
            info(format!(
                "finetune: {} has no vocab.txt or tokenizer.json; reading text with --vocab {}",
                init.display(),
                v.display()
            ));
            Ok(v.clone())
        }
        (Some(init), None) => crate::bad_input!(
            "--init {}: no vocab.txt or tokenizer.json in the checkpoint; pass the vocabulary it was trained with as --vocab DIR",
            init.display()
        ),
        (None, Some(v)) => Ok(v.clone()),
        (None, None) => crate::bad_input!(
            "no model to fine-tune: pass --init DIR (a pretrained checkpoint), or --vocab DIR with --model-config tiny|small|base|FILE for a randomly initialised one"
        ),
    }
}

/// The encoder's configuration: the checkpoint's, or a preset / file for `vocab_size`.
pub fn model_config(r: &FinetuneRecipe, init: Option<&Path>, vocab: &Vocab) -> Result<BertConfig> {
    let mut config = match init {
        Some(init) => {
            let path = init.join(checkpoint::CONFIG);
            if !path.exists() {
                crate::bad_input!(
                    "--init {}: no config.json; pass a checkpoint dir (e.g. OUT/step-N from `dapt pretrain`)",
                    init.display()
                );
            }
            BertConfig::read(&path)?
        }
        None => match BertConfig::preset(&r.model_config, vocab.len()) {
            Some(c) => c,
            None => {
                let path = Path::new(&r.model_config);
                if !path.is_file() {
                    crate::bad_input!(
                        "--model-config {}: not a preset (tiny, small, base) nor a config file",
                        r.model_config
                    );
                }
                let mut c = BertConfig::read(path)?;
                c.vocab_size = vocab.len();
                c
            }
        },
    };
    let origin = r.init.as_deref().unwrap_or(Path::new(&r.model_config));
    check_vocab_fits(vocab, &config, origin)?;
    if r.max_len > config.max_position_embeddings {
        crate::bad_input!(
            "--max-len {} exceeds the model's max_position_embeddings {}",
            r.max_len,
            config.max_position_embeddings
        );
    }
    // The head's options go into config.json, so predict and eval build the same head.
    let t = &r.techniques;
    config.dapt_pooling = (t.pooling != Pooling::Cls).then_some(t.pooling);
    config.dapt_match_embedding |= t.match_embedding;
    config.dapt_task = r.task.recorded();
    if t.classifier_dropout.is_some() {
        config.classifier_dropout = t.classifier_dropout;
    }
    Ok(config)
}

/// Check the configuration against the data of `job` (classes, weights, metric, folds), load the
/// vocabulary and model configuration, and encode every pair.
pub fn prepare(cfg: &FinetuneConfig, job: Job) -> Result<Prepared> {
    let label_set = training_labels(&cfg.recipe, &job.train, job.header)?;
    let (records, c) = PairClassification::read(
        &job.train,
        job.header,
        job.soft_labels.is_none(),
        &label_set,
    )?;
    // Teacher probabilities per record, split like the records into labelled pairs (the
    // folds') and unlabelled ones (soft-only training pairs).
    let soft_probs = match &job.soft_labels {
        Some(path) => Some(SoftLabels::read(path)?.align(path, &job.train, &records, c)?),
        None => None,
    };
    let (pairs, unlabelled): (Vec<PairRecord>, Vec<PairRecord>) =
        records.iter().cloned().partition(|p| p.label.is_some());
    let soft_split = soft_probs.map(|probs| {
        let (l, u): (Vec<_>, Vec<_>) = records
            .iter()
            .zip(probs)
            .partition(|(r, _)| r.label.is_some());
        let probs = |v: Vec<(&PairRecord, Vec<f64>)>| v.into_iter().map(|(_, p)| p).collect();
        (probs(l), probs(u))
    });
    let labels: Vec<usize> = pairs.iter().map(|p| p.label.expect("labelled")).collect();
    let class_weight = match &cfg.recipe.class_weight {
        Some(s) => {
            let w = parse_class_weight(s)?;
            if w.len() != c {
                crate::bad_input!(
                    "--class-weight {s}: {} weights but {} has {c} classes (labels 0..{}); give one weight per class",
                    w.len(),
                    job.train.display(),
                    c - 1
                );
            }
            Some(w)
        }
        None => None,
    };
    PairClassification::check(c, cfg.recipe.metric, &cfg.recipe.augment, &job.train)?;
    let task = PairClassification {
        classes: c,
        labels: label_set,
        loss: PairLoss {
            class_weight,
            label_smoothing: cfg.recipe.label_smoothing,
        },
    };
    let triples: Vec<(&str, &str, usize)> = pairs
        .iter()
        .zip(&labels)
        .map(|(p, &l)| (p.a.as_str(), p.b.as_str(), l))
        .collect();
    let folds = Folds::new(
        &triples,
        c,
        cfg.recipe.folds,
        cfg.recipe.fold_by,
        cfg.recipe.fold_seed.unwrap_or(cfg.run.seed),
    )
    .map_err(|e| e.context(format!("splitting {} into folds", job.train.display())))?;
    check_existing_folds(&job.out, &folds)?;
    let init = cfg.recipe.init.as_deref().map(resolve_init);
    let vocab = Vocab::load(&vocab_dir(&cfg.recipe, init.as_ref())?)?;
    let mut config = model_config(&cfg.recipe, init.as_deref(), &vocab)?;
    config.set_label_names(task.labels.names());
    let encoder = PairEncoder::new(&vocab, cfg.recipe.max_len)?;
    let mut stats = EncodeStats::default();
    let encoded = pairs
        .iter()
        .map(|p| encoder.encode(&p.a, &p.b, &mut stats))
        .collect::<Result<Vec<_>>>()?;
    let uda = match &job.uda {
        Some(path) => {
            let unlabelled = read_pairs(path, false, false, &Labels::Ignore)?;
            if unlabelled.is_empty() {
                crate::bad_input!("--uda {}: no pairs", path.display());
            }
            Some(UdaData::new(
                unlabelled,
                &records,
                &cfg.recipe.uda,
                cfg.recipe.batch_size,
                &encoder,
            )?)
        }
        None => None,
    };
    let soft = match soft_split {
        Some((labelled, unlabelled_probs)) => Some(SoftSet {
            labelled,
            unlabelled_encoded: unlabelled
                .iter()
                .map(|p| encoder.encode(&p.a, &p.b, &mut stats))
                .collect::<Result<Vec<_>>>()?,
            unlabelled,
            unlabelled_probs,
        }),
        None => None,
    };
    if stats.unknown_rate() > cfg.recipe.max_unk_rate {
        crate::bad_input!(
            "{}: {:.1}% of its tokens are unknown to the vocabulary in {} (limit --max-unk-rate {}): the data and the vocabulary do not belong together; use the checkpoint pretrained on this kind of data, or build a vocabulary from it with `dapt vocab --input {}`",
            job.train.display(),
            100.0 * stats.unknown_rate(),
            vocab.dir.display(),
            cfg.recipe.max_unk_rate,
            job.train.display()
        );
    }
    if let Some(dir) = &init {
        // Load it once here, so that a checkpoint that does not fit its config (tensor
        // shapes, a corrupt file) is refused before anything is written.
        task.model(&config, &Device::Cpu, Init::Checkpoint(dir, cfg.run.seed))?;
    }
    Ok(Prepared {
        job,
        init,
        pairs,
        labels,
        task,
        folds,
        vocab,
        config,
        encoded,
        stats,
        soft,
        pseudo: Vec::new(),
        pseudo_encoded: Vec::new(),
        uda,
    })
}

/// How the labels of training file `path` are read: the names of `--labels`, else the
/// file's own names, else class ids.
pub fn training_labels(recipe: &FinetuneRecipe, path: &Path, header: bool) -> Result<Labels> {
    match &recipe.labels {
        Some(list) => Labels::parse_flag(list),
        None => Labels::of_file(path, header),
    }
}

/// The vocabulary a run of `recipe` reads text with (the `--init` checkpoint's own, else
/// `--vocab`), checked as [`prepare`] checks it.
pub fn student_vocab(recipe: &FinetuneRecipe) -> Result<Vocab> {
    let init = recipe.init.as_deref().map(resolve_init);
    Vocab::load(&vocab_dir(recipe, init.as_ref())?)
}

/// The checkpoint `--init` names: the dir itself, or for a `dapt pretrain` run dir
/// (no config.json, a `latest` pointer) the checkpoint `latest` points at.
fn resolve_init(dir: &Path) -> PathBuf {
    match latest(dir) {
        Some(ckpt) if !dir.join(checkpoint::CONFIG).exists() => {
            info(format!(
                "finetune: --init {} is a pretraining run; using its latest checkpoint {}",
                dir.display(),
                ckpt.display()
            ));
            ckpt
        }
        _ => dir.to_path_buf(),
    }
}

/// A `folds.json` already in `out` must be this split (parallel `--fold` jobs and
/// re-runs must agree on it).
fn check_existing_folds(out: &Path, folds: &Folds) -> Result<()> {
    let path = out.join(FOLDS_FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(());
    };
    let old: Option<Folds> = serde_json::from_slice(&bytes).ok();
    if old.as_ref() != Some(folds) {
        crate::bad_input!(
            "{} holds a different fold assignment (other data, --folds, --fold-by or --seed); use another --out, or delete it to start over",
            path.display()
        );
    }
    Ok(())
}
