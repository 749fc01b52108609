//! `dapt pretrain`: wiring only; the loop lives in `train::pretrain`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;

use crate::progress::info;
use crate::train::pretrain::{run as pretrain, Outcome, PretrainArgs};

/// Run `dapt pretrain`; SIGINT/SIGTERM ask the loop to stop after a checkpoint, and the
/// process then exits with 130 (a second signal exits at once).
pub fn run(args: PretrainArgs) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        info("pretrain: stopping after the current step and writing a checkpoint (signal again to abort)");
    })?;
    match pretrain(&args, &stop)? {
        Outcome::Interrupted => {
            info(format!(
                "pretrain: interrupted; continue with the same command plus --resume auto (out: {})",
                args.out.display()
            ));
            std::process::exit(130);
        }
        Outcome::Finished | Outcome::TimeUp => Ok(()),
    }
}
