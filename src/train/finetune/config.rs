//! The configuration of a `dapt finetune` run, made once from its flags
//! ([`FinetuneConfig::new`], where every check that needs no data happens) and passed
//! down: the recipe, the job's files, pseudo-labelling and the run options.

use anyhow::Result;

use super::args::{FinetuneArgs, FinetuneRecipe};
use super::job::Job;
use super::pseudo::PseudoArgs;
use crate::data::labels::Labels;
use crate::train::run::{Command, RunOptions};

/// A checked `dapt finetune` (or `dapt distill` student) run.
#[derive(Debug, Clone)]
pub struct FinetuneConfig {
    /// What decides the folds' results, apart from data, seed and precision.
    pub recipe: FinetuneRecipe,
    /// The files the flags name. Pseudo-label rounds and `dapt distill` train jobs of
    /// their own ([`Prepared::job`] is the one a run trains).
    pub job: Job,
    /// Self-training rounds (`--pseudo` and its flags), when asked for.
    pub pseudo: Option<PseudoArgs>,
    /// Save a fold checkpoint every N optimizer steps (`None`: at each epoch's end).
    pub save_every: Option<u64>,
    /// Where and how it runs.
    pub run: RunOptions,
}

impl FinetuneConfig {
    /// The configuration `args` describe; exit 2 naming the flag for any value that is
    /// wrong whatever the data (the checks against the data are in
    /// [`super::data::prepare`]).
    pub fn new(args: &FinetuneArgs) -> Result<FinetuneConfig> {
        let r = &args.recipe;
        r.task.check_augment(&r.augment)?;
        if args.uda.is_some() {
            r.task.check_uda(&r.uda.uda_augment)?;
        }
        if let Some(list) = &r.labels {
            Labels::parse_flag(list)?;
        }
        r.techniques.validate()?;
        r.soft_loss.validate()?;
        r.uda.validate()?;
        r.optim.validate()?;
        if !(0.0..1.0).contains(&r.label_smoothing) {
            crate::bad_input!(
                "--label-smoothing {} must be in [0, 1), e.g. 0.1",
                r.label_smoothing
            );
        }
        if r.epochs == 0 || r.batch_size == 0 || r.eval_batch_size == 0 {
            crate::bad_input!("--epochs, --batch-size and --eval-batch-size must be at least 1");
        }
        if let Some(f) = args.fold.filter(|&f| f >= r.folds) {
            crate::bad_input!(
                "--fold {f}: folds are numbered 0..{} (--folds {})",
                r.folds.saturating_sub(1),
                r.folds
            );
        }
        let pseudo = match &args.pseudo.pseudo {
            Some(_) => {
                args.pseudo.validate()?;
                if args.fold.is_some() {
                    crate::bad_input!(
                        "--pseudo relabels with the whole fold ensemble after each round; drop --fold"
                    );
                }
                Some(args.pseudo.clone())
            }
            None => None,
        };
        let run = args.run.options(Command::Finetune)?;
        Ok(FinetuneConfig {
            recipe: r.clone(),
            job: Job {
                train: args.train.clone(),
                header: args.header,
                soft_labels: args.soft_labels.clone(),
                uda: args.uda.clone(),
                fold: args.fold,
                out: run.out.clone(),
            },
            pseudo,
            save_every: args.save_every,
            run,
        })
    }

    /// What every rank of a data-parallel run must have been given alike.
    pub fn identity(&self) -> String {
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{} {} {:?} {} {:?}",
            self.recipe,
            self.job,
            self.pseudo,
            self.save_every,
            self.run.outcome(),
            self.run.device_name,
            self.run.resume,
            self.run.keep_last,
            self.run.tensorboard
        )
    }
}
