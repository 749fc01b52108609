//! `dapt encode --append`: a shard dir that grows by one shard per run, holding only
//! inputs not encoded before. `DIR/encoded.json` stamps every input already encoded
//! (its path, size, mtime and sha256, and the shard that holds it), so a nightly job
//! that lists all its days' files encodes only the new day's.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::error::InputError;
use crate::fsutil::write_atomic;
use crate::progress::info;
use crate::text::vocab::sha256_hex;

/// The stamp file inside a shard dir.
pub const STAMP_FILE: &str = "encoded.json";

/// One input already encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    /// The input's canonical path.
    pub file: PathBuf,
    /// Its size in bytes when encoded.
    pub size: u64,
    /// Its modification time when encoded (nanoseconds since the epoch).
    pub mtime_ns: u128,
    /// sha256 of its bytes.
    pub sha256: String,
    /// The shard (a file name in the dir) that holds it.
    pub shard: String,
}

/// What `--append` has to do.
pub struct AppendPlan {
    /// Inputs not encoded before, in the order given.
    pub new: Vec<PathBuf>,
    /// The shard to encode them into.
    pub shard: PathBuf,
    /// The stamps so far, each refreshed where only the mtime moved.
    stamps: Vec<Stamp>,
    /// The stamps of the new inputs.
    new_stamps: Vec<Stamp>,
}

fn read_stamps(dir: &Path) -> Result<Vec<Stamp>> {
    let path = dir.join(STAMP_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(serde_json::from_str(&text).map_err(|e| {
            InputError::at_path(&path, format!("not a dapt encode stamp file: {e}"))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(InputError::at_path(&path, format!("cannot read: {e}")).into()),
    }
}

/// The size, mtime and sha256 of `file` (a stamp without its shard).
fn stamp_of(file: &Path) -> Result<Stamp> {
    let bad = |e: std::io::Error| InputError::at_path(file, format!("cannot read input: {e}"));
    let meta = std::fs::metadata(file).map_err(bad)?;
    let mtime_ns = meta
        .modified()
        .map_err(bad)?
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Ok(Stamp {
        file: std::fs::canonicalize(file).map_err(bad)?,
        size: meta.len(),
        mtime_ns,
        sha256: sha256_hex(&std::fs::read(file).map_err(bad)?),
        shard: String::new(),
    })
}

/// Plan an append of `inputs` to shard dir `dir`: inputs stamped before with the same
/// bytes are skipped; an input whose bytes changed since is bad input (its old text is
/// in a shard already: re-encoding would train on it twice). `part-` shards no stamp
/// names (left by a run killed between writing its shard and its stamps) are removed.
pub fn plan(dir: &Path, inputs: &[PathBuf]) -> Result<AppendPlan> {
    std::fs::create_dir_all(dir)
        .map_err(|e| InputError::at_path(dir, format!("cannot create the shard dir: {e}")))?;
    let mut stamps = read_stamps(dir)?;
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        // Only this module's own `part-` shards: other shards a user put there are theirs.
        let ours = name.starts_with("part-") && name.ends_with(".shard");
        if ours && !stamps.iter().any(|s| s.shard == name) {
            info(format!(
                "encode: removing {} (no stamp names it: left by an interrupted run)",
                path.display()
            ));
            std::fs::remove_file(&path)?;
        }
    }
    let mut new = Vec::new();
    let mut new_stamps: Vec<Stamp> = Vec::new();
    for input in inputs {
        let now = stamp_of(input)?;
        match stamps.iter_mut().find(|s| s.file == now.file) {
            Some(old) if old.sha256 == now.sha256 => {
                (old.size, old.mtime_ns) = (now.size, now.mtime_ns);
            }
            Some(old) => crate::bad_input!(
                "{}: changed since it was encoded into {} (sha256 {} then, {} now); dapt encode --append adds new files only. Put new text in a new file, or remove {} and its entries in {} to re-encode",
                input.display(),
                dir.join(&old.shard).display(),
                &old.sha256[..12],
                &now.sha256[..12],
                old.shard,
                dir.join(STAMP_FILE).display()
            ),
            None if new_stamps.iter().any(|s| s.file == now.file) => {}
            None => {
                new.push(input.clone());
                new_stamps.push(now);
            }
        }
    }
    let next = stamps
        .iter()
        .filter_map(|s| {
            s.shard
                .strip_prefix("part-")?
                .strip_suffix(".shard")?
                .parse::<u64>()
                .ok()
        })
        .max()
        .map_or(0, |n| n + 1);
    let name = format!("part-{next:05}.shard");
    for s in &mut new_stamps {
        s.shard = name.clone();
    }
    Ok(AppendPlan {
        new,
        shard: dir.join(name),
        stamps,
        new_stamps,
    })
}

impl AppendPlan {
    /// Record the new inputs as encoded (after their shard was written), atomically.
    pub fn commit(mut self, dir: &Path) -> Result<()> {
        self.stamps.append(&mut self.new_stamps);
        write_atomic(
            &dir.join(STAMP_FILE),
            &(serde_json::to_string_pretty(&self.stamps)? + "\n"),
        )?;
        Ok(())
    }
}
