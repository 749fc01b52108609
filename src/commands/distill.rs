//! `dapt distill`: wiring only; labelling and training live in `train::distill`.

use anyhow::Result;

use crate::train::distill::{run as distill, DistillArgs};

/// Run `dapt distill`.
pub fn run(args: DistillArgs) -> Result<()> {
    distill(&args).map(|_| ())
}
