//! Crash-safe file output: write under a temporary name, fsync, then rename.
//!
//! A command that fails (or is killed) leaves nothing under its final output name:
//! readers only ever see complete files and directories.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// The temporary sibling of `final_path` that output is written to before the rename.
pub fn temp_sibling(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    final_path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Flush a file's data and metadata to disk.
pub fn fsync_file(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Flush a directory entry list to disk (so a rename inside it is durable).
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    // Opening a directory read-only and calling fsync is the POSIX way; on platforms where
    // it is not allowed the rename is still atomic, only not yet durable.
    match File::open(dir) {
        Ok(f) => f.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

/// Atomically move a finished temporary file or directory to its final name.
///
/// An existing directory under the final name is replaced.
pub fn commit(tmp: &Path, final_path: &Path) -> io::Result<()> {
    if tmp.is_dir() {
        for entry in fs::read_dir(tmp)? {
            let p = entry?.path();
            if p.is_file() {
                fsync_file(&p)?;
            }
        }
        fsync_dir(tmp)?;
        if final_path.is_dir() {
            let old = final_path.with_file_name(format!(
                ".{}.old-{}",
                final_path.file_name().unwrap_or_default().to_string_lossy(),
                std::process::id()
            ));
            fs::rename(final_path, &old)?;
            fs::rename(tmp, final_path)?;
            fs::remove_dir_all(&old)?;
        } else {
            fs::rename(tmp, final_path)?;
        }
    } else {
        fsync_file(tmp)?;
        fs::rename(tmp, final_path)?;
    }
    fsync_dir(final_path.parent().unwrap_or(Path::new(".")))
}

/// Removes a temporary output on drop unless it was committed: a failed command leaves
/// nothing behind, not even its temporary file.
pub struct TempOutput {
    path: PathBuf,
    armed: bool,
}

impl TempOutput {
    /// Guard `path` (a file or directory that may not exist yet).
    pub fn new(path: PathBuf) -> Self {
        TempOutput { path, armed: true }
    }

    /// The temporary path being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Move the finished output to `final_path` and disarm the guard.
    pub fn commit(mut self, final_path: &Path) -> io::Result<()> {
        commit(&self.path, final_path)?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if self.armed {
            if self.path.is_dir() {
                let _ = fs::remove_dir_all(&self.path);
            } else {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

/// Write `contents` to `path` atomically: a temporary sibling, fsynced, then renamed.
pub fn write_atomic(path: &Path, contents: &str) -> io::Result<()> {
    let tmp = TempOutput::new(temp_sibling(path));
    fs::write(tmp.path(), contents)?;
    tmp.commit(path)
}
