//! Disk room for checkpoints: before a checkpoint is written, the filesystem it goes to
//! must hold its estimated size plus a margin, so a full disk stops a run cleanly with
//! a clear error instead of half-way through a write (which, being atomic, would leave
//! the previous checkpoint intact anyway, but only after minutes of wasted work).
//!
//! Two environment variables rehearse failures: `DAPT_FREE_BYTES=N` pretends the
//! filesystem has N bytes free; `DAPT_FAIL_CHECKPOINT=N` makes the N-th checkpoint
//! write of the process fail half-way, as a failing device would.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use candle_core::Tensor;

/// Pretend the output filesystem has this many bytes free.
pub const FREE_BYTES_ENV: &str = "DAPT_FREE_BYTES";
/// Fail the N-th (1-based) checkpoint write of the process half-way.
pub const FAIL_CHECKPOINT_ENV: &str = "DAPT_FAIL_CHECKPOINT";

/// Room asked for beyond the estimate: 10% plus 16 MiB (manifests, logs, filesystem
/// metadata, and estimates that run short).
fn with_margin(bytes: u64) -> u64 {
    bytes + bytes / 10 + (16 << 20)
}

/// Bytes `tensors` take as stored.
pub fn tensors_bytes<'a>(tensors: impl IntoIterator<Item = &'a Tensor>) -> u64 {
    tensors
        .into_iter()
        .map(|t| (t.elem_count() * t.dtype().size_in_bytes()) as u64)
        .sum()
}

/// Bytes free to an unprivileged writer on the filesystem holding `path` (or its
/// nearest existing ancestor).
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    if let Some(fake) = std::env::var(FREE_BYTES_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return Ok(fake);
    }
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let c = CString::new(existing.as_os_str().as_bytes())?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Fail with a clear error, before anything is written, unless the filesystem of `dir`
/// has room for `bytes` (plus the margin). A filesystem that cannot be asked passes.
pub fn ensure_room(dir: &Path, bytes: u64) -> Result<()> {
    let Ok(free) = free_bytes(dir) else {
        return Ok(());
    };
    let need = with_margin(bytes);
    if free < need {
        let mb = |b: u64| b as f64 / (1 << 20) as f64;
        anyhow::bail!(
            "not enough disk space to write {}: it needs about {:.1} MiB (with margin) but {:.1} MiB are free; nothing was written, earlier checkpoints are intact. Free some space (or --keep-last fewer) and continue with --resume auto",
            dir.display(),
            mb(need),
            mb(free)
        );
    }
    Ok(())
}

/// Checkpoint writes so far in this process.
static WRITES: AtomicUsize = AtomicUsize::new(0);

/// Called once per checkpoint write, half-way through: fails the write chosen by
/// `DAPT_FAIL_CHECKPOINT`.
pub fn injected_failure() -> std::io::Result<()> {
    let n = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    let chosen = std::env::var(FAIL_CHECKPOINT_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    if chosen == Some(n) {
        return Err(std::io::Error::other(format!(
            "injected write failure ({FAIL_CHECKPOINT_ENV}={n})"
        )));
    }
    Ok(())
}
