//! `dapt average`: wiring only; the averaging lives in `train::average`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;

use crate::infer::average::{average, expand_inputs};
use crate::progress::info;

/// Average the weights of compatible checkpoints into one Hugging Face dir.
///
/// Each input is a checkpoint dir (fold bests, `step-N` dirs of one run) or a
/// `dapt finetune` output whose `fold-*/best` all count. Configs and tensor names must
/// match. The result carries the first input's config, vocabulary and trainer state, and
/// `dapt_average.json` naming the inputs.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Checkpoint dirs, or finetune output dirs
    #[arg(required = true, value_name = "CKPT")]
    pub checkpoints: Vec<PathBuf>,
    /// Output checkpoint dir
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Run `dapt average`.
pub fn run(args: Args) -> Result<()> {
    let dirs = expand_inputs(&args.checkpoints)?;
    let n = average(&dirs, &args.out)?;
    info(format!(
        "average: {n} tensors, mean of {} checkpoints -> {}",
        dirs.len(),
        args.out.display()
    ));
    Ok(())
}
