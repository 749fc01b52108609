//! Golden outputs: what a fixed run of the binary produced, recorded once and compared
//! on every later run. A digest holds, for each weight or optimizer-state file, every
//! tensor's sha256 (and its sum and L2 norm, so a failure says how far a tensor moved),
//! the run's `metrics.jsonl` records, and its JSON and TSV outputs, all with wall-clock
//! figures and absolute paths taken out. `DAPT_GOLDEN=record` writes the digests to
//! `tests/golden/NAME.json` instead of comparing (see `tests/golden/README.md`).

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// Keys whose values are measured time, not computed results.
const TIMING_KEYS: [&str; 4] = [
    "train_seconds",
    "tokens_per_s",
    "allreduce_seconds",
    "seconds",
];

/// Keys that identify a run's flags by hash (the refactor may compute them otherwise
/// without changing a result); their effect (resuming or not) is tested elsewhere.
const IDENTITY_KEYS: [&str; 1] = ["fingerprint"];

/// sha256 of bytes, as hex.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every tensor of a safetensors file: sha256 of its bytes, dtype, shape, and (for f32)
/// sum and L2 norm.
fn tensors(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out = Map::new();
    let mut views = st.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, view) in views {
        let data = view.data();
        let mut entry = json!({
            "sha256": sha256_hex(data),
            "dtype": format!("{:?}", view.dtype()),
            "shape": view.shape(),
        });
        if view.dtype() == safetensors::Dtype::F32 {
            let xs = data
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
            let (sum, sq) = xs.fold((0.0, 0.0), |(s, q), x| (s + x, q + x * x));
            entry["sum"] = json!(sum);
            entry["l2"] = json!(sq.sqrt());
        }
        out.insert(name, entry);
    }
    Value::Object(out)
}

/// `v` without timing and identity keys, with the test scratch dir `dir` written as
/// `<tmp>` (it differs between clones).
fn clean(v: Value, dir: &str) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !TIMING_KEYS.contains(&k.as_str()))
                .filter(|(k, _)| !IDENTITY_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k, clean(v, dir)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| clean(v, dir)).collect()),
        Value::String(s) => Value::String(s.replace(dir, "<tmp>")),
        other => other,
    }
}

/// The digest of the files `files` (paths relative to `dir`) of a run in `dir`:
/// `*.safetensors` by tensor, `*.jsonl` and `*.json` by record, other files by sha256.
pub fn digest(dir: &Path, files: &[String]) -> Value {
    let prefix = env!("CARGO_TARGET_TMPDIR");
    let mut out = Map::new();
    for rel in files {
        let path = dir.join(rel);
        let text =
            || std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let value = match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => tensors(&path),
            Some("jsonl") => Value::Array(
                text()
                    .lines()
                    .map(|l| clean(serde_json::from_str(l).unwrap(), prefix))
                    .collect(),
            ),
            Some("json") => clean(serde_json::from_str(&text()).unwrap(), prefix),
            _ => json!(sha256_hex(&std::fs::read(&path).unwrap())),
        };
        out.insert(rel.clone(), value);
    }
    Value::Object(out)
}

/// The golden file of `name`.
pub fn golden_path(name: &str) -> PathBuf {
    super::root()
        .join("tests/golden")
        .join(format!("{name}.json"))
}

/// The first place where `got` differs from `want`, as a path and both values.
fn first_difference(want: &Value, got: &Value, at: &str) -> Option<String> {
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|k| {
                let at = format!("{at}/{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => first_difference(x, y, &at),
                    (x, y) => Some(format!("{at}: recorded {x:?}, now {y:?}")),
                }
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{at}[{i}]"))),
        _ if want == got => None,
        _ => Some(format!("{at}: recorded {want}, now {got}")),
    }
}

/// Compare the digest of run `name` (files `files` in `dir`) with its golden file, or
/// write that file under `DAPT_GOLDEN=record`.
pub fn check(name: &str, dir: &Path, files: &[String]) {
    let got = digest(dir, files);
    let path = golden_path(name);
    if std::env::var("DAPT_GOLDEN").as_deref() == Ok("record") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    compare(name, dir, &recorded(name), &got);
}

/// Compare `files` of a run in `dir` with the same files of golden run `name` (another
/// run's recording: never written here).
pub fn check_files_of(name: &str, dir: &Path, files: &[String]) {
    if std::env::var("DAPT_GOLDEN").as_deref() == Ok("record") {
        return;
    }
    let all = recorded(name);
    let want: Map<String, Value> = files
        .iter()
        .map(|f| (f.clone(), all.get(f).cloned().unwrap_or(Value::Null)))
        .collect();
    compare(name, dir, &Value::Object(want), &digest(dir, files));
}

/// The golden digest of `name`.
fn recorded(name: &str) -> Value {
    let path = golden_path(name);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Fail the test at the first difference between `want` and `got`.
fn compare(name: &str, dir: &Path, want: &Value, got: &Value) {
    let path = golden_path(name);
    if let Some(diff) = first_difference(want, got, name) {
        panic!(
            "{name} differs from its golden output ({}) at {diff}; outputs kept in {}",
            path.display(),
            dir.display()
        );
    }
}

/// The files of a run dir that a digest covers by default: every weight, optimizer and
/// averaging state file, every `metrics.jsonl`, `cv.json`, `oof.tsv`, `result.json` and
/// `pseudo.json`, and distillation's `soft-labels.tsv`, found recursively and sorted.
pub fn outputs(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap();
            let wanted = name.ends_with(".safetensors")
                || [
                    "metrics.jsonl",
                    "cv.json",
                    "oof.tsv",
                    "result.json",
                    "pseudo.json",
                    "soft-labels.tsv",
                ]
                .contains(&name);
            if wanted {
                let rel = path.strip_prefix(base).unwrap().to_str().unwrap();
                out.push(rel.to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
