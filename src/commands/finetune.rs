//! `dapt finetune`: wiring only; the training lives in `train::finetune`.

use anyhow::Result;

use crate::train::finetune::{run as finetune, FinetuneArgs, FinetuneConfig};

/// Run `dapt finetune`: the flags become a checked configuration once, here.
pub fn run(args: FinetuneArgs) -> Result<()> {
    finetune(&FinetuneConfig::new(&args)?).map(|_| ())
}
