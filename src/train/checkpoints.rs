//! The checkpoints of a training run: `OUT/step-NNNNNNNN/` dirs in the Hugging Face
//! layout (plus optimizer and trainer state), a `latest` pointer replaced atomically,
//! rotation to the last K, and finding the newest valid one to resume from.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::fsutil::{temp_sibling, TempOutput};
use crate::model::checkpoint::{self, TRAINER_STATE};
use crate::progress::info;

/// Name of the pointer file inside a run dir.
pub const LATEST: &str = "latest";

/// The dir name of the checkpoint after `step` optimizer steps (zero-padded, so names
/// sort by step).
pub fn step_dir_name(step: u64) -> String {
    format!("step-{step:08}")
}

/// The step of a checkpoint dir name, if it is one.
fn step_of(name: &str) -> Option<u64> {
    name.strip_prefix("step-")?.parse().ok()
}

/// Checkpoint dirs of run dir `out`, oldest first.
pub fn list(out: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(found);
    };
    for e in entries {
        let path = e?.path();
        let step = path.file_name().and_then(|n| n.to_str()).and_then(step_of);
        if let (Some(step), true) = (step, path.is_dir()) {
            found.push((step, path));
        }
    }
    found.sort();
    Ok(found)
}

/// Point `out/latest` at checkpoint dir `name` (write a temporary file, fsync, rename).
pub fn set_latest(out: &Path, name: &str) -> Result<()> {
    let path = out.join(LATEST);
    let tmp = TempOutput::new(temp_sibling(&path));
    std::fs::write(tmp.path(), format!("{name}\n"))?;
    tmp.commit(&path)
        .with_context(|| format!("updating {}", path.display()))
}

/// The checkpoint dir `out/latest` points at, if any.
pub fn latest(out: &Path) -> Option<PathBuf> {
    let name = std::fs::read_to_string(out.join(LATEST)).ok()?;
    Some(out.join(name.trim()))
}

/// Delete the oldest checkpoints so that at most `keep_last` remain (0 keeps all);
/// `latest`'s target is never deleted.
pub fn rotate(out: &Path, keep_last: usize) -> Result<()> {
    if keep_last == 0 {
        return Ok(());
    }
    let keep = latest(out);
    let all = list(out)?;
    let excess = all.len().saturating_sub(keep_last);
    for (_, dir) in all.into_iter().take(excess) {
        if Some(&dir) != keep.as_ref() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing old checkpoint {}", dir.display()))?;
        }
    }
    Ok(())
}

/// The newest checkpoint of `out` that verifies, trying `latest` first, then the
/// others newest first; each corrupt one is skipped with a warning.
pub fn newest_valid(out: &Path) -> Result<Option<PathBuf>> {
    let mut candidates: Vec<PathBuf> = latest(out).into_iter().collect();
    for (_, dir) in list(out)?.into_iter().rev() {
        if !candidates.contains(&dir) {
            candidates.push(dir);
        }
    }
    for dir in candidates {
        let complete = dir.join(TRAINER_STATE).exists() && dir.join(checkpoint::MANIFEST).exists();
        match checkpoint::verify(&dir) {
            Ok(()) if complete => return Ok(Some(dir)),
            Ok(()) => info(format!(
                "warning: {} is incomplete (no manifest or trainer state); skipping it",
                dir.display()
            )),
            Err(e) => info(format!("warning: skipping corrupt checkpoint: {e:#}")),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_checkpoint(out: &Path, step: u64) -> PathBuf {
        let dir = out.join(step_dir_name(step));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(TRAINER_STATE), "{}").unwrap();
        let sum = crate::text::vocab::sha256_hex(b"{}");
        std::fs::write(
            dir.join(checkpoint::MANIFEST),
            format!("{{\"{TRAINER_STATE}\": \"{sum}\"}}"),
        )
        .unwrap();
        dir
    }

    #[test]
    fn rotation_keeps_the_last_k_and_resume_skips_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        for step in [10, 20, 30, 40] {
            fake_checkpoint(out, step);
            set_latest(out, &step_dir_name(step)).unwrap();
            rotate(out, 2).unwrap();
        }
        let steps: Vec<u64> = list(out).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(steps, [30, 40]);
        assert_eq!(latest(out), Some(out.join("step-00000040")));
        // Corrupt the newest: resume falls back to the one before.
        std::fs::write(out.join("step-00000040").join(TRAINER_STATE), "{\"x\":1}").unwrap();
        assert_eq!(newest_valid(out).unwrap(), Some(out.join("step-00000030")));
        // Nothing valid at all.
        std::fs::remove_dir_all(out.join("step-00000030")).unwrap();
        assert_eq!(newest_valid(out).unwrap(), None);
    }
}
