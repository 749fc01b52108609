//! The run options `pretrain` and `finetune` share: where a run writes, what it runs on,
//! its seed, how many processes train it, and how it continues after a stop. [`RunArgs`]
//! are the flags; [`RunArgs::options`] checks them once and gives the [`RunOptions`] the
//! training code reads.

use std::path::PathBuf;

use anyhow::Result;
use candle_core::Device;
use clap::Args;

use crate::dist::DistArgs;
use crate::model::Precision;
use crate::train::options::parse_device;

/// Where a run starts from (`--resume`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeFrom {
    /// A fresh run.
    None,
    /// Continue the run in `--out` from its newest valid checkpoint (a fresh run if
    /// there is none).
    Auto,
    /// This checkpoint dir (pretraining).
    Dir(PathBuf),
}

impl std::str::FromStr for ResumeFrom {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "none" => ResumeFrom::None,
            "auto" => ResumeFrom::Auto,
            dir => ResumeFrom::Dir(PathBuf::from(dir)),
        })
    }
}

/// Which command the options are for: the defaults that differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `dapt pretrain`.
    Pretrain,
    /// `dapt finetune` (and `dapt distill`).
    Finetune,
}

/// The flags every training command shares.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Output dir: checkpoints, metrics.jsonl and results
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seed of everything drawn at random: initialisation of new weights, data order,
    /// masks, folds (see --fold-seed) and dropout
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// cpu, cuda (GPU 0; under a launcher, the GPU of the local rank) or cuda:N (build
    /// with --features cuda)
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// f32, or bf16 mixed precision: bf16 matrix products over f32 master weights and
    /// optimizer state, f32 LayerNorm, softmax and loss. For GPUs (--device cuda:N); on
    /// the CPU it runs but is slower than f32
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: Precision,
    /// Data-parallel training (--dist, --dist-timeout)
    #[command(flatten)]
    pub dist: DistArgs,
    /// none: a fresh run; auto: continue the run in --out after a crash or a kill, from
    /// its newest checkpoint (bit-identical to an uninterrupted run; finetune also skips
    /// the folds it finished with the same data and flags); pretrain also takes a
    /// checkpoint dir
    #[arg(long, default_value = "none", value_name = "none|auto|DIR")]
    pub resume: ResumeFrom,
    /// Checkpoints to keep, the newest (0 keeps all; default: pretrain 3, finetune 1
    /// per fold)
    #[arg(long, value_name = "K")]
    pub keep_last: Option<usize>,
    /// Also write the logged scalars (train/loss, train/lr, eval/..., tagged foldK/ by
    /// finetune) as TensorBoard event files in DIR: `tensorboard --logdir DIR`
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
}

/// [`RunArgs`], checked: the device opened, the command's defaults filled in.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The output dir (`--out`).
    pub out: PathBuf,
    /// The seed (`--seed`).
    pub seed: u64,
    /// The device `--device` names.
    pub device: Device,
    /// `--device` as given (the same on every rank of a data-parallel run).
    pub device_name: String,
    /// Numeric precision of training (`--precision`).
    pub precision: Precision,
    /// The data-parallel flags.
    pub dist: DistArgs,
    /// Where the run starts from (`--resume`).
    pub resume: ResumeFrom,
    /// Checkpoints to keep (`--keep-last`; 0: all).
    pub keep_last: usize,
    /// TensorBoard event dir (`--tensorboard`).
    pub tensorboard: Option<PathBuf>,
}

impl RunArgs {
    /// The options of a run of `command` (exit 2 for a device that cannot be opened, or a
    /// `--resume DIR` given to finetune).
    pub fn options(&self, command: Command) -> Result<RunOptions> {
        if command == Command::Finetune {
            if let ResumeFrom::Dir(dir) = &self.resume {
                crate::bad_input!(
                    "--resume {}: finetune continues its own --out; use --resume auto (or none)",
                    dir.display()
                );
            }
        }
        Ok(RunOptions {
            out: self.out.clone(),
            seed: self.seed,
            device: parse_device(&self.device)?,
            device_name: self.device.clone(),
            precision: self.precision,
            dist: self.dist.clone(),
            resume: self.resume.clone(),
            keep_last: self.keep_last.unwrap_or(match command {
                Command::Pretrain => 3,
                Command::Finetune => 1,
            }),
            tensorboard: self.tensorboard.clone(),
        })
    }
}

impl RunOptions {
    /// The options that decide a run's results (seed, precision), for a resume
    /// fingerprint; where and how it runs are left out.
    pub fn outcome(&self) -> String {
        format!("seed {} precision {:?}", self.seed, self.precision)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn options(flags: &[&str], command: Command) -> Result<RunOptions> {
        let cli = Cli::try_parse_from(["dapt"].iter().chain(flags)).unwrap();
        cli.run.options(command)
    }

    #[test]
    fn keep_last_defaults_per_command() {
        let o = |c| options(&["--out", "x"], c).unwrap().keep_last;
        assert_eq!((o(Command::Pretrain), o(Command::Finetune)), (3, 1));
        let given = options(&["--out", "x", "--keep-last", "0"], Command::Finetune).unwrap();
        assert_eq!(given.keep_last, 0);
    }

    #[test]
    fn finetune_refuses_a_resume_dir() {
        let flags = ["--out", "x", "--resume", "some/step-00000010"];
        let err = options(&flags, Command::Finetune).unwrap_err().to_string();
        assert!(err.contains("use --resume auto"), "{err}");
        let ok = options(&flags, Command::Pretrain).unwrap();
        assert_eq!(ok.resume, ResumeFrom::Dir("some/step-00000010".into()));
    }
}
