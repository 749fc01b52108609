//! Everything a pretraining run needs before its first step: data split, collator,
//! model (fresh, from a checkpoint, or resumed), optimizer and schedule.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use candle_core::Device;
use rand::seq::index::sample;

use super::args::ObjectiveFlag;
use super::config::PretrainConfig;
use super::continue_from::{align_from, continue_from, init_rule, run_checkpoint};
use super::objective::PretrainModel;
use super::state::TrainerState;
use crate::data::batching::{BatchingConfig, DocInfo, EpochPlan};
use crate::data::collate::Collator;
use crate::data::doc::{DocStore, Excluding, Subset};
use crate::data::mask::Masker;
use crate::data::rng::{keyed_rng, Purpose};
use crate::data::shards::{default_cache_dir, resolve, ShardSet};
use crate::data::special::SpecialTokens;
use crate::dist::Collective;
use crate::model::checkpoint;
use crate::model::checkpoint::TRAINER_STATE;
use crate::model::BertConfig;
use crate::progress::info;
use crate::text::vocab::checkpoint_files;
use crate::text::vocab::Vocab;
use crate::train::checkpoints;
use crate::train::run::ResumeFrom;
use crate::train::trainer::{TrainedModel, Trainer};

/// A run ready to train.
pub struct Setup<'g> {
    pub model: PretrainModel,
    pub trainer: Trainer<'g>,
    pub state: TrainerState,
    pub train: Excluding<ShardSet>,
    pub heldout: Subset<ShardSet>,
    pub batching: BatchingConfig,
    pub collator: Collator,
    pub device: Device,
    /// Vocabulary files copied into every checkpoint (name, source).
    pub vocab_files: Vec<(&'static str, PathBuf)>,
}

/// Whether paths `a` and `b` name one dir.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// For `--continue-from OUT --out OUT`: OUT's newest checkpoint when its run finished
/// (tonight goes on from last night), None when OUT holds no run yet; an unfinished run
/// there is resumed with `--resume auto`, and refused without it.
fn own_continuation(cfg: &PretrainConfig) -> Result<Option<PathBuf>> {
    let Some(dir) = checkpoints::newest_valid(&cfg.run.out)? else {
        return Ok(None);
    };
    if TrainerState::load(&dir.join(TRAINER_STATE))?.finished {
        return Ok(Some(dir));
    }
    if matches!(cfg.run.resume, ResumeFrom::None) {
        crate::bad_input!(
            "{}: an unfinished run (an interrupted night?); pass --resume auto to finish it first",
            dir.display()
        );
    }
    Ok(None)
}

/// Held-out documents at most (a larger eval set costs time and changes little).
const MAX_HELDOUT: usize = 20_000;

/// The model's configuration: from the config.json of the checkpoint it starts `from`
/// (resumed, continued or `--init-from`), else a preset or a file.
fn model_config(
    cfg: &PretrainConfig,
    from: Option<&Path>,
    vocab_size: usize,
) -> Result<BertConfig> {
    let mut c = match from {
        Some(dir) => BertConfig::read(&dir.join(checkpoint::CONFIG))?,
        None => match BertConfig::preset(&cfg.recipe.model_config, vocab_size) {
            Some(c) => c,
            None => BertConfig::read(cfg.recipe.model_config.as_ref())?,
        },
    };
    let origin = from.unwrap_or(cfg.recipe.model_config.as_ref()).display();
    match (cfg.recipe.objective, c.model_type == "electra") {
        (ObjectiveFlag::Mlm, true) => crate::bad_input!(
            "{origin}: an ELECTRA checkpoint, but --objective mlm trains a BERT masked LM: pretrain it with --objective rtd, or fine-tune it with `dapt finetune --init`"
        ),
        (ObjectiveFlag::Rtd, false) if from.is_some() => crate::bad_input!(
            "{origin}: a {} checkpoint, but --objective rtd trains an ELECTRA discriminator: give --init-from an ELECTRA discriminator dir, or a size preset with --model-config",
            c.model_type
        ),
        (ObjectiveFlag::Rtd, _) => {
            // An ELECTRA config always names its embedding width (transformers defaults
            // a missing one to 128).
            c.model_type = "electra".into();
            c.embedding_size = Some(c.embedding_width());
        }
        (ObjectiveFlag::Mlm, false) => {}
    }
    c.vocab_size = vocab_size;
    c.dapt_match_embedding |= cfg.recipe.match_embedding;
    if cfg.recipe.max_len > c.max_position_embeddings {
        crate::bad_input!(
            "--max-len {} exceeds the model's max_position_embeddings {}",
            cfg.recipe.max_len,
            c.max_position_embeddings
        );
    }
    Ok(c)
}

/// Documents sampled for the unknown-token check.
const UNK_SAMPLE_DOCS: usize = 20_000;

/// Refuse corpora the vocabulary cannot read: more than `max_rate` of the sampled tokens
/// are `[UNK]` or rare placeholders (a hub checkpoint's tokenizer over another script or
/// over desensitized ids it was not built for).
fn check_unknown(
    store: &ShardSet,
    vocab: &Vocab,
    corpora: &[PathBuf],
    max_rate: f64,
) -> Result<()> {
    let mut unknown = vocab.rare.clone();
    unknown.push(vocab.special.unk);
    let (rate, docs) = store.unknown_rate(&unknown, UNK_SAMPLE_DOCS);
    if rate > max_rate {
        crate::bad_input!(
            "{}: {:.1}% of the tokens (in {docs} sampled documents) are unknown to the vocabulary in {}, above --max-unk-rate {max_rate}: its tokenizer cannot read this corpus. Build a vocabulary from the corpus with `dapt vocab` (and align it to a checkpoint with --init-from CKPT --align-embeddings), or raise --max-unk-rate",
            corpora.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            100.0 * rate,
            vocab.dir.display()
        );
    }
    Ok(())
}

/// Held-out documents come in blocks of this many consecutive documents (fewer when the
/// held-out set is smaller): the texts of one input line (`a`, `b` and the pair with
/// `--pairs-as both`: 48 is a multiple of 2 and 3) stay on one side of the split, and an
/// evaluation reads a few hundred regions of the shard instead of a page per document.
const HELDOUT_BLOCK: usize = 48;

/// The held-out documents of `n` (seeded, sorted): `round(n * fraction)` (at least 1, at
/// most [`MAX_HELDOUT`] and half the documents), rounded down to whole blocks of
/// [`HELDOUT_BLOCK`]. Only these ids are kept: the training part is their complement
/// ([`Excluding`]), so memory does not grow with `n`.
fn heldout_ids(n: usize, fraction: f64, seed: u64) -> Result<Vec<u32>> {
    if !(0.0..1.0).contains(&fraction) {
        crate::bad_input!("--eval-fraction {fraction} must be in [0, 1), e.g. 0.01");
    }
    if u32::try_from(n).is_err() {
        crate::bad_input!("{n} documents: at most {} fit one training set", u32::MAX);
    }
    let k = ((n as f64 * fraction).round() as usize).clamp(1, MAX_HELDOUT.min(n / 2).max(1));
    let block = HELDOUT_BLOCK.min(k);
    let mut rng = keyed_rng(seed, 0, 0, Purpose::Holdout);
    let mut blocks = sample(&mut rng, n / block, k / block).into_vec();
    blocks.sort_unstable();
    Ok(blocks
        .into_iter()
        .flat_map(|b| (b * block..(b + 1) * block).map(|d| d as u32))
        .collect())
}

/// The plan of epoch `epoch` over the training documents (lengths read from the shards).
pub fn epoch_plan(
    train: &Excluding<ShardSet>,
    batching: &BatchingConfig,
    seed: u64,
    epoch: u64,
) -> Result<EpochPlan> {
    let info = DocInfo::in_store(train);
    Ok(EpochPlan::new(
        train.num_docs(),
        info,
        batching,
        seed,
        epoch,
    )?)
}

impl<'g> Setup<'g> {
    /// Open the data, build or restore the model and optimizer, as rank
    /// `group.rank()` of a data-parallel run of `group.world_size()` processes (one for a
    /// plain run): every rank builds the same model and plans the same global batches of
    /// `group.world_size() x --batch-size` sequences.
    pub fn new(cfg: &PretrainConfig, group: &'g dyn Collective) -> Result<Self> {
        let world = group.world_size();
        if cfg.recipe.objective == ObjectiveFlag::Rtd {
            crate::dist::refuse_in_group(
                group,
                "--objective rtd",
                "data-parallel pretraining covers the MLM objective so far",
            )?;
        }
        let resume_dir = match &cfg.run.resume {
            ResumeFrom::None => {
                let own = cfg
                    .recipe
                    .continue_from
                    .as_ref()
                    .is_some_and(|r| same_dir(r, &cfg.run.out));
                if let Some((_, dir)) = checkpoints::list(&cfg.run.out)?.last().filter(|_| !own) {
                    crate::bad_input!(
                        "{} already holds checkpoints (e.g. {}); pass --resume auto to continue that run, or choose another --out",
                        cfg.run.out.display(),
                        dir.display()
                    );
                }
                None
            }
            ResumeFrom::Auto => checkpoints::newest_valid(&cfg.run.out)?,
            ResumeFrom::Dir(d) => Some(d.clone()),
        };
        // A run continuing another starts from that run's checkpoint, unless its own
        // --out already holds checkpoints to resume. `--continue-from OUT` (a nightly job
        // growing one run dir) goes on from OUT's own run once it finished.
        let (resume_dir, continue_dir) = match (resume_dir, &cfg.recipe.continue_from) {
            (resume, Some(run)) if same_dir(run, &cfg.run.out) => match own_continuation(cfg)? {
                Some(finished) => (None, Some(finished)),
                None => (resume, None),
            },
            (None, Some(run)) => (None, Some(run_checkpoint(run)?)),
            (resume, _) => (resume, None),
        };
        let vocab = Vocab::load(&cfg.recipe.vocab)?;
        let mask = cfg.mask.clone();
        let special = SpecialTokens::new(vocab.len(), vocab.rare.len())?;
        let collator = Collator::new(
            cfg.recipe.max_len,
            cfg.recipe.swap_prob,
            Masker::new(mask, special)?,
        )?;
        let cache = cfg
            .recipe
            .cache_dir
            .clone()
            .unwrap_or_else(|| default_cache_dir(&cfg.run.out));
        // Rank 0 encodes text corpora into the cache first; the others then read it.
        if !group.is_root() {
            group.barrier()?;
        }
        let shards = resolve(&cfg.recipe.corpus, &vocab, cfg.recipe.corpus_format, &cache)?;
        if group.is_root() && world > 1 {
            group.barrier()?;
        }
        let store = Arc::new(ShardSet::open(&shards, &vocab)?);
        if store.num_docs() < 2 {
            crate::bad_input!(
                "the corpora hold {} documents; pretraining needs at least 2",
                store.num_docs()
            );
        }
        check_unknown(&store, &vocab, &cfg.recipe.corpus, cfg.recipe.max_unk_rate)?;
        let heldout = heldout_ids(store.num_docs(), cfg.recipe.eval_fraction, cfg.run.seed)?;
        let train = Excluding::new(store.clone(), &heldout);
        let heldout = Subset::new(store.clone(), heldout);
        let batching = BatchingConfig {
            batch_size: cfg.recipe.batch_size * world,
            max_len: cfg.recipe.max_len,
            pack: cfg.recipe.pack,
            group_by_length: cfg.recipe.group_by_length,
            drop_last: true,
            ..BatchingConfig::default()
        };
        let device = cfg.run.device.clone();
        if let Some(w) = cfg.run.precision.warning(&device) {
            info(format!("warning: {w}"));
        }
        // The architecture of the checkpoint a run starts from (its own when resuming).
        let from = resume_dir
            .as_deref()
            .or(continue_dir.as_deref())
            .or(cfg.recipe.init_from.as_deref());
        let config = model_config(cfg, from, vocab.len())?;
        let collator = collator.with_match_flags(config.dapt_match_embedding);
        let model = PretrainModel::new(&config, cfg, &device)?;
        let opt = cfg.recipe.optim.optimizer(model.params(), |_| 1.0)?;
        let per_epoch = epoch_plan(&train, &batching, cfg.run.seed, 0)?.num_batches() as u64
            / cfg.recipe.optim.grad_accum as u64;
        if per_epoch == 0 {
            crate::bad_input!(
                "{} training documents make no full batch of {} x {} micro-batches{}; lower --batch-size",
                train.num_docs(),
                cfg.recipe.batch_size * world,
                cfg.recipe.optim.grad_accum,
                if world > 1 {
                    format!(" ({world} processes x --batch-size {})", cfg.recipe.batch_size)
                } else {
                    String::new()
                }
            );
        }
        let total_steps = match (cfg.recipe.max_steps, cfg.recipe.epochs) {
            (Some(s), _) => s,
            (None, e) => e.unwrap_or(1) * per_epoch,
        };
        let schedule = cfg.recipe.optim.schedule(total_steps)?;
        let mut trainer = Trainer::new(
            opt,
            schedule,
            group,
            cfg.recipe.optim.max_grad_norm,
            cfg.run.out.clone(),
            String::new(),
        );
        let mut state = TrainerState {
            seed: cfg.run.seed,
            ..TrainerState::default()
        };
        if let Some(dir) = &resume_dir {
            let trained_with = Vocab::load(dir)?.sha256;
            if trained_with != vocab.sha256 {
                crate::bad_input!(
                    "{}: trained with vocabulary sha256 {trained_with} but --vocab {} has sha256 {}; resume with the same vocabulary, or start a new run in another --out",
                    dir.display(),
                    cfg.recipe.vocab.display(),
                    vocab.sha256
                );
            }
            let restored = trainer.restore(&model, dir)?;
            state = TrainerState::load(&dir.join(TRAINER_STATE))?;
            if state.seed != cfg.run.seed {
                crate::bad_input!(
                    "{}: the run used --seed {} but this one has --seed {}; an exact resume needs the same seed",
                    dir.display(),
                    state.seed,
                    cfg.run.seed
                );
            }
            // A continued run's schedule starts at the step it continued from.
            let expected = trainer
                .schedule
                .clone()
                .starting_at(restored.schedule.start_step);
            if restored.schedule != expected {
                info("warning: the schedule differs from the checkpoint's (changed --lr, --max-steps or --epochs?); continuing with the checkpoint's");
                trainer.schedule = restored.schedule;
            }
            info(format!(
                "pretrain: resuming from {} at step {}",
                dir.display(),
                state.step
            ));
        } else if let Some(dir) = &continue_dir {
            state = continue_from(
                dir,
                &model,
                trainer.opt.as_mut(),
                &vocab,
                cfg,
                config.initializer_range,
            )?;
            trainer.schedule = trainer.schedule.clone().starting_at(state.step);
        } else if let Some(dir) = &cfg.recipe.init_from {
            let rule = init_rule(cfg, &vocab);
            align_from(dir, &model, &vocab, rule, cfg, config.initializer_range)?;
        }
        if resume_dir.is_some() && state.world_size != world {
            info(format!(
                "warning: the run was trained by {} process(es) and this one has {world}: a step now takes {world} x --batch-size sequences, sliced differently, so the data order from here on differs from an uninterrupted run's",
                state.world_size
            ));
        }
        state.world_size = world;
        // Every rank starts from rank 0's weights (they are equal already when every rank
        // initialised or loaded the same; the broadcast makes sure).
        crate::dist::broadcast_params(group, &model.params())?;
        info(format!(
            "pretrain: {} training / {} held-out documents, {} steps ({} per epoch), {} parameters on {:?}",
            train.num_docs(),
            heldout.num_docs(),
            trainer.schedule.total_steps,
            per_epoch,
            model.num_parameters(),
            device
        ));
        let vocab_files = checkpoint_files(&cfg.recipe.vocab);
        Ok(Setup {
            model,
            trainer,
            state,
            train,
            heldout,
            batching,
            collator,
            device,
            vocab_files,
        })
    }
}
