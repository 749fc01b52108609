//! `metrics.jsonl`: one JSON object per line, flushed as written, so `tail -f` and a
//! crashed run both see every finished step.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

/// An append-only JSON-lines log.
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Open `path` for appending. With `keep_up_to = Some(step)` (a resumed run), lines
    /// of steps after `step` are dropped first, so the log never shows a step twice.
    pub fn open(path: &Path, keep_up_to: Option<u64>) -> Result<Self> {
        if let (Some(step), Ok(f)) = (keep_up_to, File::open(path)) {
            let mut kept = String::new();
            for line in BufReader::new(f).lines() {
                let line = line?;
                let v: Option<Value> = serde_json::from_str(&line).ok();
                let line_step = v.as_ref().and_then(|v| v["step"].as_u64());
                // A torn last line (crash mid-write) is not valid JSON: drop it too.
                if v.is_some() && line_step.is_none_or(|s| s <= step) {
                    kept.push_str(&line);
                    kept.push('\n');
                }
            }
            std::fs::write(path, kept).with_context(|| format!("rewriting {}", path.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Append one record.
    pub fn write(&mut self, record: &Value) -> Result<()> {
        writeln!(self.file, "{record}")
            .and_then(|_| self.file.flush())
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::MetricsLog;
    use serde_json::json;

    #[test]
    fn resume_drops_later_steps_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::open(&path, None).unwrap();
        for step in 1..=4 {
            log.write(&json!({"step": step, "loss": 1.0})).unwrap();
        }
        log.write(&json!({"event": "summary"})).unwrap();
        std::fs::write(
            &path,
            std::fs::read_to_string(&path).unwrap() + "{\"step\": 5, \"lo",
        )
        .unwrap();
        drop(log);
        let mut log = MetricsLog::open(&path, Some(2)).unwrap();
        log.write(&json!({"step": 3})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let steps: Vec<&str> = text.lines().collect();
        assert_eq!(
            steps,
            [
                r#"{"loss":1.0,"step":1}"#,
                r#"{"loss":1.0,"step":2}"#,
                r#"{"event":"summary"}"#,
                r#"{"step":3}"#
            ]
        );
    }
}
