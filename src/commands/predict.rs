//! `dapt predict`: ensemble fold checkpoints over new pairs and write probabilities.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;

use crate::data::task::TaskKind;
use crate::fsutil::write_atomic;
use crate::infer::ensemble::Tta;
use crate::infer::predict::{predict_file, PredictOptions};
use crate::progress::info;
use crate::train::options::parse_device;

/// Flags shared by `predict` and `eval`: the models, the input and how to run them.
#[derive(ClapArgs, Debug, Clone)]
pub struct ModelArgs {
    /// A `dapt finetune` output dir (every fold-*/best is used) or one checkpoint dir
    /// (any Hugging Face BertForSequenceClassification dir)
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Pairs: text_a<TAB>text_b[<TAB>label]
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// The first line of --input is a header
    #[arg(long)]
    pub header: bool,
    /// Test-time augmentation: swap also averages over (b, a) (pair tasks whose order
    /// does not matter)
    #[arg(long, value_enum, default_value = "none")]
    pub tta: Tta,
    /// The task the models must have been fine-tuned for (default: what their
    /// config.json records); a model of another task is refused
    #[arg(long, value_enum)]
    pub task: Option<TaskKind>,
    /// Pairs per forward pass
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Read text with this vocabulary dir instead of each checkpoint's own vocab.txt
    #[arg(long, value_name = "DIR")]
    pub vocab: Option<PathBuf>,
    /// Largest fraction of tokens the vocabulary may not know (1 disables the check)
    #[arg(long, default_value_t = 0.5)]
    pub max_unk_rate: f64,
    /// cpu, or cuda:N (build with --features cuda)
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl ModelArgs {
    /// The prediction options these flags describe.
    pub fn options(&self) -> Result<PredictOptions> {
        Ok(PredictOptions {
            tta: self.tta,
            task: self.task,
            batch_size: self.batch_size,
            vocab: self.vocab.clone(),
            header: self.header,
            max_unk_rate: self.max_unk_rate,
            device: parse_device(&self.device)?,
        })
    }
}

/// Write the ensemble's probability of class 1 for every input pair, in input order.
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub model: ModelArgs,
    /// Output file (written atomically)
    #[arg(long, value_name = "FILE", default_value = "predictions.tsv")]
    pub out: PathBuf,
    /// Write a TSV with a header: line, every class probability, prediction (and label)
    #[arg(long)]
    pub with_ids: bool,
}

/// Run `dapt predict`.
pub fn run(args: Args) -> Result<()> {
    let m = &args.model;
    let preds = predict_file(&m.model, &m.input, false, &m.options()?)?;
    write_atomic(&args.out, &preds.to_text(args.with_ids))
        .with_context(|| format!("writing {}", args.out.display()))?;
    info(format!(
        "predict: {} pairs x {} model(s) ({}){} -> {}",
        preds.pairs.len(),
        preds.names.len(),
        preds.names.join(", "),
        if m.tta == Tta::Swap { ", tta swap" } else { "" },
        args.out.display()
    ));
    Ok(())
}
