//! `dapt pretrain`: wiring only; the loop lives in `train::pretrain`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;

use crate::progress::info;
use crate::train::pretrain::{run as pretrain, Outcome, PretrainArgs, PretrainConfig};

/// Run `dapt pretrain`: the flags become a checked configuration once, here.
/// SIGINT/SIGTERM ask the loop to stop after a checkpoint, and the process then exits
/// with 130 (a second signal exits at once).
pub fn run(args: PretrainArgs) -> Result<()> {
    let cfg = PretrainConfig::new(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        info("pretrain: stopping after the current step and writing a checkpoint (signal again to abort)");
    })?;
    match pretrain(&cfg, &stop)? {
        Outcome::Interrupted => {
            info(format!(
                "pretrain: interrupted; continue with the same command plus --resume auto (out: {})",
                cfg.run.out.display()
            ));
            std::process::exit(130);
        }
        Outcome::Finished | Outcome::TimeUp => Ok(()),
    }
}
