//! `dapt finetune`: wiring only; the training lives in `train::finetune`.

use anyhow::Result;

use crate::train::finetune::{run as finetune, FinetuneArgs};

/// Run `dapt finetune`.
pub fn run(args: FinetuneArgs) -> Result<()> {
    finetune(&args).map(|_| ())
}
