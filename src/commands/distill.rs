//! `dapt distill`: wiring only; labelling and training live in `train::distill`.

use anyhow::Result;

use crate::train::distill::{run as distill, DistillArgs, DistillConfig};

/// Run `dapt distill`: the flags become a checked configuration once, here.
pub fn run(args: DistillArgs) -> Result<()> {
    distill(&DistillConfig::new(&args)?).map(|_| ())
}
