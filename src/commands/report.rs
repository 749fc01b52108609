//! `dapt report RUN... --out report.html`: one self-contained HTML page of the runs'
//! curves, to open in a browser in the morning.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args as ClapArgs;

use crate::fsutil::write_atomic;
use crate::progress::info;

/// Charts of pretraining runs (overlaid) and fine-tuning runs, as one HTML file with
/// inline SVG: no scripts, nothing fetched, safe to mail or archive.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Run dirs: the --out of `dapt pretrain` (overlaid: e.g. the three maskings, or
    /// last night's and tonight's) and of `dapt finetune` (one section each)
    #[arg(value_name = "RUN", required_unless_present = "runs_flag")]
    pub runs: Vec<PathBuf>,
    /// The same run dirs as a flag, for config files (`runs = [...]` in a `[report]`
    /// table of `dapt pipeline`)
    #[arg(long = "runs", id = "runs_flag", num_args = 1.., value_name = "RUN")]
    pub runs_flag: Vec<PathBuf>,
    /// The HTML file to write (atomically)
    #[arg(long, default_value = "report.html", value_name = "FILE.html")]
    pub out: PathBuf,
}

/// Run `dapt report`.
pub fn run(mut args: Args) -> Result<()> {
    args.runs.append(&mut args.runs_flag);
    let html = crate::report::render(&args.runs)?;
    write_atomic(&args.out, &html)?;
    info(format!(
        "report: {} runs -> {} ({} KB)",
        args.runs.len(),
        args.out.display(),
        html.len() / 1024
    ));
    Ok(())
}
