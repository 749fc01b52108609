//! `dapt pipeline --config FILE.toml`: run the configured stages in order, each as its own
//! `dapt <stage>` process with the flags of its table, skipping stages that are up to date.
//!
//! A stage is up to date when its output exists with a stamp (`OUTPUT.dapt-stamp`,
//! written after the stage succeeded) recording the same flags, and no input named by
//! its flags ([`INPUT_KEYS`]; a glob pattern's matches and the dir they are listed from;
//! a dir's list of files) changed since. A failed stage's exit code is the pipeline's.
//! `pretrain` and `finetune` get the pipeline's `--resume` (default `auto`) unless their
//! table sets `resume`, so an interrupted nightly run continues where it stopped.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use clap::Args as ClapArgs;

use super::config::config_flags;
use crate::data::shards::{glob_files, is_pattern};
use crate::error::{ChildFailed, InputError};
use crate::progress::info;

/// Stages in the order they run.
pub const STAGES: [&str; 6] = [
    "vocab", "encode", "pretrain", "finetune", "predict", "report",
];

/// Flags naming a stage's inputs (their changes make the stage stale).
const INPUT_KEYS: [&str; 10] = [
    "input",
    "corpus",
    "vocab",
    "extend",
    "init",
    "init_from",
    "continue_from",
    "train",
    "model",
    "runs",
];

/// Run the stages of a TOML config (`[vocab]`, `[encode]`, `[pretrain]`, `[finetune]`,
/// `[predict]`, `[report]` tables, keys = flag names in snake_case), skipping up-to-date ones.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The pipeline config
    #[arg(long, value_name = "FILE.toml")]
    pub config: PathBuf,
    /// Run every stage even if it is up to date
    #[arg(long)]
    pub force: bool,
    /// Print the stages and their commands without running them
    #[arg(long)]
    pub dry_run: bool,
    /// Passed to `pretrain` and `finetune` (unless their table sets `resume`): auto
    /// continues an interrupted run, none starts afresh
    #[arg(long, default_value = "auto", value_name = "auto|none")]
    pub resume: String,
}

/// Path of the stamp of a stage output.
fn stamp_path(output: &Path) -> PathBuf {
    let mut p = output.as_os_str().to_owned();
    p.push(".dapt-stamp");
    PathBuf::from(p)
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// When an input last changed: its stamp's time for a stage output, else its own (a
/// dir's changes when a file is added or removed). A glob pattern changed when one of
/// its matches or the dir it lists did.
fn changed_at(p: &Path) -> Option<SystemTime> {
    if !is_pattern(p) {
        return modified(&stamp_path(p)).or_else(|| modified(p));
    }
    let listed = p
        .ancestors()
        .find(|a| !a.as_os_str().is_empty() && !is_pattern(a))
        .unwrap_or(Path::new("."));
    let matches = glob_files(p).unwrap_or_default();
    matches
        .iter()
        .chain([&listed.to_path_buf()])
        .filter_map(|m| modified(m))
        .max()
}

/// Values following `--key` in `flags` (several for list flags).
fn values<'a>(flags: &'a [OsString], key: &str) -> Vec<&'a OsString> {
    let flag = format!("--{}", key.replace('_', "-"));
    let Some(at) = flags.iter().position(|f| *f == *flag) else {
        return Vec::new();
    };
    flags[at + 1..]
        .iter()
        .take_while(|v| !v.to_string_lossy().starts_with("--"))
        .collect()
}

/// Whether a stage with `flags` and output `out` can be skipped.
fn up_to_date(flags: &[OsString], out: &Path) -> bool {
    let stamp = stamp_path(out);
    let (Ok(recorded), Some(stamped)) = (std::fs::read_to_string(&stamp), modified(&stamp)) else {
        return false;
    };
    if recorded != stamp_text(flags) || !out.exists() {
        return false;
    }
    INPUT_KEYS
        .iter()
        .flat_map(|k| values(flags, k))
        .all(|v| changed_at(Path::new(v)).is_none_or(|t| t <= stamped))
}

fn stamp_text(flags: &[OsString]) -> String {
    let words: Vec<String> = flags
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    serde_json::to_string(&words).expect("strings serialise") + "\n"
}

/// Run `dapt pipeline`.
pub fn run(args: Args) -> Result<()> {
    if crate::dist::under_launcher() {
        // Each stage is a child dapt; under a launcher they would all join its job.
        crate::bad_input!(
            "dapt pipeline runs its stages in one process; under mpirun or srun, launch `dapt pretrain` and `dapt finetune` themselves (their flags as in the config's tables)"
        );
    }
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| InputError::at_path(&args.config, format!("cannot read config: {e}")))?;
    let doc: toml::Table = text
        .parse()
        .map_err(|e| InputError::at_path(&args.config, format!("invalid TOML: {e}")))?;
    if let Some((k, _)) = doc.iter().find(|(k, v)| !v.is_table() && *k != "pipeline") {
        crate::bad_input!(
            "{}: top-level key {k}: a pipeline config keeps flags in stage tables ([vocab], [encode], [pretrain], [finetune], [predict], [report])",
            args.config.display()
        );
    }
    if let Some(k) = doc.keys().find(|k| !STAGES.contains(&k.as_str())) {
        crate::bad_input!(
            "{}: unknown table [{k}]; stages are {STAGES:?}",
            args.config.display()
        );
    }
    let exe = std::env::current_exe().context("locating the dapt executable")?;
    let stages: Vec<&str> = STAGES
        .into_iter()
        .filter(|s| doc.contains_key(*s))
        .collect();
    if stages.is_empty() {
        crate::bad_input!(
            "{}: no stage tables; add e.g. [vocab] and [encode]",
            args.config.display()
        );
    }
    for stage in stages {
        let table = doc[stage].as_table().expect("checked: a table");
        let mut given = Vec::new();
        let resumable = stage == "pretrain" || stage == "finetune";
        if resumable && !table.contains_key("resume") {
            given.extend(["--resume".into(), args.resume.clone().into()]);
        }
        let mut flags = config_flags(&args.config, stage, &given)?;
        flags.extend(given);
        let out = values(&flags, "out")
            .first()
            .map(|v| PathBuf::from(v.as_os_str()))
            .ok_or_else(|| {
                InputError::at_path(&args.config, format!("[{stage}] needs an `out` key"))
            })?;
        let shown: Vec<String> = flags
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect();
        if !args.force && up_to_date(&flags, &out) {
            info(format!("pipeline: {stage}: up to date ({})", out.display()));
            continue;
        }
        info(format!(
            "pipeline: {stage}: dapt {stage} {}",
            shown.join(" ")
        ));
        if args.dry_run {
            continue;
        }
        let _ = std::fs::remove_file(stamp_path(&out));
        let status = std::process::Command::new(&exe)
            .arg(stage)
            .args(&flags)
            .status()
            .with_context(|| format!("starting dapt {stage}"))?;
        if !status.success() {
            // The stage's own code (75: another job holds its output; 2: bad input;
            // 130: interrupted), or 1 when a signal killed it.
            return Err(anyhow::Error::new(ChildFailed(
                status.code().unwrap_or(1),
                format!("pipeline: stage {stage} failed ({status}); fix it and re-run the pipeline: finished stages are skipped"),
            )));
        }
        std::fs::write(stamp_path(&out), stamp_text(&flags))
            .with_context(|| format!("writing the stamp of {}", out.display()))?;
    }
    Ok(())
}
