//! One writer per output: a job takes an exclusive `flock` on a lock file in its output
//! dir (or beside its output file) before writing, so two jobs on the same `--out` (a
//! nightly cron entry that overlaps the previous night's) never interleave. The second
//! exits with [`EXIT_LOCKED`] without writing there. Within one process the lock is
//! re-entrant (`dapt distill` locks its dir and then trains in it).

use std::collections::HashSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

/// Exit code of a job refused because another holds its output: sysexits' EX_TEMPFAIL,
/// which cron wrappers read as "try again later".
pub const EXIT_LOCKED: i32 = 75;

/// Name of the lock file inside an output dir.
pub const LOCK_FILE: &str = ".dapt.lock";

/// Another job holds the output.
#[derive(Debug)]
pub struct Locked(pub String);

impl std::fmt::Display for Locked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Locked {}

/// Lock files this process holds.
static HELD: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// The held lock; released when dropped (or when the process dies). A lock the process
/// already held is a no-op guard.
#[derive(Debug)]
pub struct OutLock {
    held: Option<(File, PathBuf)>,
}

impl Drop for OutLock {
    fn drop(&mut self) {
        if let Some((_, path)) = self.held.take() {
            if let Some(set) = HELD.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                set.remove(&path);
            }
        }
    }
}

/// Lock output dir `dir` (created if missing) through `dir/.dapt.lock`.
pub fn lock_dir(dir: &Path) -> Result<OutLock> {
    lock_dir_as(dir, false)
}

/// Share output dir `dir` with other jobs that share it, and exclude jobs that lock it:
/// parallel `finetune --fold K` jobs share the run dir and each locks its own fold dir.
pub fn share_dir(dir: &Path) -> Result<OutLock> {
    lock_dir_as(dir, true)
}

fn lock_dir_as(dir: &Path, shared: bool) -> Result<OutLock> {
    if !dir.join(LOCK_FILE).exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    take(&dir.join(LOCK_FILE), dir, shared)
}

/// Lock output file `file` through `FILE.lock` beside it.
pub fn lock_file(file: &Path) -> Result<OutLock> {
    let mut name = file.as_os_str().to_owned();
    name.push(".lock");
    take(&PathBuf::from(name), file, false)
}

fn take(lock: &Path, what: &Path, shared: bool) -> Result<OutLock> {
    let key = std::fs::canonicalize(lock.parent().unwrap_or(Path::new(".")))
        .unwrap_or_default()
        .join(lock.file_name().unwrap_or_default());
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    let set = held.get_or_insert_with(HashSet::new);
    if set.contains(&key) {
        return Ok(OutLock { held: None });
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)
        .with_context(|| format!("opening the lock file {}", lock.display()))?;
    let taken = if shared {
        file.try_lock_shared()
    } else {
        file.try_lock()
    };
    match taken {
        Ok(()) => {
            set.insert(key.clone());
            Ok(OutLock { held: Some((file, key)) })
        }
        Err(TryLockError::WouldBlock) => Err(anyhow::Error::new(Locked(format!(
            "{} is being written by another dapt job (it holds {}); wait for it to finish or use another --out (exit {EXIT_LOCKED}: try again later)",
            what.display(),
            lock.display()
        )))),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", lock.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_reentrant_within_a_process_and_held_until_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let first = lock_dir(&out).unwrap();
        assert!(out.join(LOCK_FILE).exists());
        let again = lock_dir(&out).unwrap();
        assert!(again.held.is_none(), "a no-op guard");
        // Another open file description of the lock file cannot take it meanwhile.
        let other = File::open(out.join(LOCK_FILE)).unwrap();
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop(again);
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        drop(first);
        assert!(other.try_lock().is_ok());
    }
}
