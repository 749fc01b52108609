//! Inputs the fuzzers (`bench/fuzz.sh`, targets in `fuzz/`) found crashing, replayed the
//! way their target reads them: each must give a result or an error, never a panic.
//! `tests/fixtures/fuzz/TARGET/*`; a new crash found goes there, minimised.

use std::path::Path;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// The `run_files` target's reading of a run dir: the parts of one input (split at 0xff
/// bytes) as `metrics.jsonl`, `cv.json`, `oof.tsv` and `folds.json`, through
/// `dapt report`.
#[test]
fn run_files() {
    for data in inputs("run_files") {
        let mut parts: Vec<&[u8]> = data.splitn(5, |&b| b == 0xff).collect();
        parts.resize(5, &[]);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        for (name, bytes) in ["metrics.jsonl", "cv.json", "oof.tsv", "folds.json"]
            .iter()
            .zip(&parts[1..])
        {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let _ = dapt::report::render(std::slice::from_ref(&dir));
    }
}
