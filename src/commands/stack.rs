//! `dapt stack`: wiring only; the stacking lives in `train::stack`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;

use crate::infer::ensemble::Tta;
use crate::infer::predict::PredictOptions;
use crate::infer::stack::{stack, write, Learner, StackOptions};
use crate::progress::info;
use crate::train::options::parse_device;

/// Fit a second-level model on the out-of-fold probabilities of finetune runs plus
/// lexical features (word overlap, lengths), cross-validated on the runs' own folds, and
/// score a test file with it.
///
/// Writes OUT/stack.json (CV and test AUC of each learner next to each run's and the
/// word-overlap baselines'), OUT/oof.tsv and OUT/test.tsv (one score column per learner).
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Finetune output dirs (same training file and the same folds)
    #[arg(long, num_args = 1.., required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// The labelled pairs the runs were trained on
    #[arg(long, value_name = "FILE")]
    pub train: PathBuf,
    /// Pairs to score (labelled: test AUC is reported)
    #[arg(long, value_name = "FILE")]
    pub test: PathBuf,
    /// Both files start with a header line
    #[arg(long)]
    pub header: bool,
    /// Second-level models
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "logistic,gbt"
    )]
    pub learner: Vec<Learner>,
    /// Seed of the tree booster
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Largest fraction of test tokens a run's vocabulary may not know
    #[arg(long, default_value_t = 0.5)]
    pub max_unk_rate: f64,
    /// cpu, or cuda:N (build with --features cuda)
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output dir
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Run `dapt stack`.
pub fn run(args: Args) -> Result<()> {
    let opts = StackOptions {
        runs: args.runs,
        train: args.train,
        test: args.test,
        header: args.header,
        learners: args.learner,
        seed: args.seed,
        predict: PredictOptions {
            tta: Tta::None,
            task: None,
            batch_size: 128,
            vocab: None,
            header: args.header,
            max_unk_rate: args.max_unk_rate,
            device: parse_device(&args.device)?,
        },
    };
    let stacked = stack(&opts)?;
    write(&args.out, &stacked)?;
    for s in stacked
        .report
        .learners
        .iter()
        .chain(&stacked.report.runs)
        .chain(&stacked.report.baselines)
    {
        info(format!(
            "stack: {:<40} CV AUC {:.4} (out-of-fold {:.4}), test AUC {}",
            s.name,
            s.cv,
            s.oof,
            s.test.map_or("-".into(), |t| format!("{t:.4}"))
        ));
    }
    Ok(())
}
