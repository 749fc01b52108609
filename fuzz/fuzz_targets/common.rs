//! Shared by the fuzz targets: one scratch dir per process, files written into it.
#![allow(dead_code)] // each target uses a subset

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dapt::data::shard::Shard;

/// The process's scratch dir (kept for the process's life).
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a scratch dir"))
        .path()
}

/// Write `bytes` as `name` in the scratch dir.
pub fn file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).expect("writing a scratch file");
    path
}

/// Split `data` at 0xff bytes into at most `n` parts (the rest empty), so one input
/// becomes several files.
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |&b| b == 0xff).collect();
    out.resize(n, &[]);
    out
}

/// Open the shard at `path` and read all of it: every block's checksum, every document
/// (the first 10,000), its tokens, word starts and split.
pub fn read_shard(path: &Path) {
    let Ok(shard) = Shard::open(path) else {
        return;
    };
    let _ = shard.verify_all();
    for i in 0..shard.num_docs().min(10_000) {
        let d = shard.doc(i);
        for j in 0..d.len() {
            let _ = (d.id(j), d.is_word_start(j));
        }
        let _ = d.split();
    }
}
