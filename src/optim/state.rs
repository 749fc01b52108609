//! Saving and restoring optimizer state: `optimizer.safetensors` holds the optimizer's
//! tensors (moments, step counts, Lookahead slow weights, keyed by parameter name) and, in
//! its metadata, the schedule and the number of optimizer steps taken.
//!
//! Tensor keys: `adamw.step.NAME` (i64 scalar), `adamw.exp_avg.NAME`, `adamw.exp_avg_sq.NAME`
//! for every parameter that has been stepped; with Lookahead also `lookahead.steps` (i64
//! scalar) and `lookahead.slow.NAME` for every parameter. Metadata: `format`
//! (`dapt-optimizer-1`), `optimizer` (e.g. `lookahead(adamw)`), `schedule` (JSON), `step`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use safetensors::SafeTensors;

use super::{Optimizer, Schedule};
use crate::bad_input;
use crate::error::InputError;
use crate::fsutil::{temp_sibling, TempOutput};

/// The state file's name inside a checkpoint directory.
pub const STATE_FILE: &str = "optimizer.safetensors";

const FORMAT: &str = "dapt-optimizer-1";

/// What a resumed run needs besides the restored optimizer.
#[derive(Clone, Debug, PartialEq)]
pub struct Resume {
    /// The schedule the run was using.
    pub schedule: Schedule,
    /// Optimizer steps taken: the next step's learning rate is `schedule.lr(step)`.
    pub step: u64,
}

/// Write the optimizer's state, the schedule and the step count to `path`, atomically
/// (a temporary file, fsynced, then renamed).
pub fn save_state<O: Optimizer + ?Sized>(
    path: &Path,
    opt: &O,
    schedule: &Schedule,
    step: u64,
) -> Result<()> {
    let tensors = opt.state_tensors()?;
    let metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("optimizer".to_string(), opt.kind()),
        ("schedule".to_string(), serde_json::to_string(schedule)?),
        ("step".to_string(), step.to_string()),
    ]);
    let tmp = TempOutput::new(temp_sibling(path));
    safetensors::serialize_to_file(tensors, Some(metadata), tmp.path())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.commit(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Restore `opt` from a file written by [`save_state`] and return the schedule and step.
///
/// Fails (as bad input) when the file was written by another kind of optimizer or holds
/// state for parameters `opt` does not have.
pub fn load_state<O: Optimizer + ?Sized>(path: &Path, opt: &mut O) -> Result<Resume> {
    let (resume, tensors) = read_state(path, opt)?;
    apply_state(path, opt, tensors)?;
    Ok(resume)
}

/// The schedule, step and tensors of a file written by [`save_state`] for an optimizer
/// of `opt`'s kind (bad input otherwise), for a caller that rearranges them before
/// [`apply_state`].
pub fn read_state<O: Optimizer + ?Sized>(
    path: &Path,
    opt: &O,
) -> Result<(Resume, HashMap<String, Tensor>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bad = |what: String| anyhow::Error::new(InputError::at_path(path, what));
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e}); was it truncated?")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let field = |key: &str| {
        meta.get(key).cloned().ok_or_else(|| {
            bad(format!(
                "no `{key}` in the metadata: not a dapt optimizer state"
            ))
        })
    };
    if field("format")? != FORMAT {
        return Err(bad(format!("format is not {FORMAT}")));
    }
    let kind = field("optimizer")?;
    if kind != opt.kind() {
        return Err(bad(format!(
            "the state was written by {kind} but this run uses {}; use the same optimizer \
             settings or start without --resume",
            opt.kind()
        )));
    }
    let schedule: Schedule = serde_json::from_str(&field("schedule")?)
        .map_err(|e| bad(format!("bad schedule in the metadata: {e}")))?;
    let step: u64 = field("step")?
        .parse()
        .map_err(|e| bad(format!("bad step in the metadata: {e}")))?;
    let tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .with_context(|| format!("reading {}", path.display()))?;
    Ok((Resume { schedule, step }, tensors))
}

/// Restore `opt` from `tensors` read by [`read_state`] from `path`; every tensor must
/// belong to one of its parameters.
pub fn apply_state<O: Optimizer + ?Sized>(
    path: &Path,
    opt: &mut O,
    mut tensors: HashMap<String, Tensor>,
) -> Result<()> {
    opt.load_state(&mut tensors)
        .with_context(|| format!("restoring optimizer state from {}", path.display()))?;
    if !tensors.is_empty() {
        let mut names: Vec<_> = tensors.into_keys().collect();
        names.sort();
        bad_input!(
            "{}: state for parameters this model does not have ({}); it belongs to a different \
             model",
            path.display(),
            names.join(", ")
        )
    }
    Ok(())
}
