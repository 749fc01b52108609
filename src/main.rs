//! The `dapt` command line: parsing only; each subcommand is handed to `dapt::commands`.

use clap::{Parser, Subcommand};
use dapt::commands::{
    average, distill, encode, eval, finetune, inspect, pipeline, predict, pretrain, report, stack,
    vocab,
};

/// Domain-adaptive MLM pretraining and sentence-pair fine-tuning of BERT-style encoders.
///
/// The usual chain: `vocab` → `encode` → `pretrain` → `finetune` → `predict`,
/// or all of it from one TOML file with `pipeline --config`.
///
/// Every subcommand also takes `--config FILE.toml`: its keys are flag names in
/// snake_case (`min_count = 3`), at the top level or in a `[vocab]`-style table named
/// after the subcommand; flags on the command line win.
#[derive(Parser, Debug)]
#[command(name = "dapt", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Count word frequencies over corpora and write a BERT vocabulary
    Vocab(vocab::Args),
    /// Turn text corpora into memory-mapped shards of token ids
    Encode(encode::Args),
    /// Masked-language-model pretraining (token, whole-word or n-gram masking)
    Pretrain(Box<dapt::train::pretrain::PretrainArgs>),
    /// Fine-tune a sentence-pair classifier with k-fold cross-validation
    Finetune(Box<dapt::train::finetune::FinetuneArgs>),
    /// Distil a teacher (a fold ensemble) into one student through its soft labels
    Distill(Box<dapt::train::distill::DistillArgs>),
    /// Ensemble fold checkpoints over new pairs and write probabilities
    Predict(predict::Args),
    /// Metrics of a model on labelled pairs
    Eval(eval::Args),
    /// Run the stages a TOML config names, skipping those already up to date
    Pipeline(pipeline::Args),
    /// Stack finetune runs: a second-level model on their out-of-fold probabilities
    Stack(stack::Args),
    /// Average the weights of compatible checkpoints (fold bests, last steps) into one dir
    Average(average::Args),
    /// Show what a vocabulary dir, a shard or a checkpoint holds
    Inspect(inspect::Args),
    /// One self-contained HTML page of runs' curves (loss, accuracy, ROC, calibration)
    Report(report::Args),
}

fn main() {
    dapt::malloc::tune();
    dapt::threads::tune_candle();
    // `--config FILE.toml` turns into flags before clap sees them (flags given win).
    let args = match dapt::commands::config::expand(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(dapt::error::exit_code(&err));
        }
    };
    let cli = Cli::parse_from(args);
    let result = dapt::threads::run(|| match cli.command {
        Command::Vocab(a) => vocab::run(a),
        Command::Encode(a) => encode::run(a),
        Command::Pretrain(a) => pretrain::run(*a),
        Command::Finetune(a) => finetune::run(*a),
        Command::Distill(a) => distill::run(*a),
        Command::Predict(a) => predict::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Pipeline(a) => pipeline::run(a),
        Command::Stack(a) => stack::run(a),
        Command::Average(a) => average::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Report(a) => report::run(a),
    });
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(dapt::error::exit_code(&err));
    }
}
