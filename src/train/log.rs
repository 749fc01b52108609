//! `metrics.jsonl`: one JSON object per line, flushed as written, so `tail -f` and a
//! crashed run both see every finished step.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use super::tensorboard::EventWriter;

/// An append-only JSON-lines log. Each record is one `write` of a whole line under an
/// exclusive `flock` of the file, so parallel `--fold` jobs appending to one log never
/// interleave, and a rewrite ([`MetricsLog::retain`]) never loses their lines.
pub struct MetricsLog {
    path: PathBuf,
    /// `None`: a log that keeps nothing ([`MetricsLog::discard`]).
    file: Option<File>,
    /// Where the records' scalars also go (`--tensorboard DIR`).
    tensorboard: Option<EventWriter>,
}

impl MetricsLog {
    /// Open `path` for appending. With `keep_up_to = Some(step)` (a resumed run), lines
    /// of steps after `step` are dropped first, so the log never shows a step twice.
    pub fn open(path: &Path, keep_up_to: Option<u64>) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut log = Self {
            path: path.to_path_buf(),
            file: Some(file),
            tensorboard: None,
        };
        if let Some(step) = keep_up_to {
            log.retain(|v| v["step"].as_u64().is_none_or(|s| s <= step))?;
        }
        Ok(log)
    }

    /// A log that keeps nothing: that of a data-parallel rank other than 0, whose records
    /// rank 0 writes.
    pub fn discard() -> Self {
        Self {
            path: PathBuf::new(),
            file: None,
            tensorboard: None,
        }
    }

    /// Keep only the records `keep` accepts (a torn last line, from a crash mid-write,
    /// is dropped too), rewriting the file in place.
    pub fn retain(&mut self, keep: impl Fn(&Value) -> bool) -> Result<()> {
        let rewrite = |file: &mut File| -> std::io::Result<()> {
            file.lock()?;
            file.seek(SeekFrom::Start(0))?;
            let mut kept = String::new();
            for line in BufReader::new(&*file).lines() {
                let line = line?;
                if serde_json::from_str(&line).is_ok_and(|v| keep(&v)) {
                    kept.push_str(&line);
                    kept.push('\n');
                }
            }
            // Truncating keeps the inode, so other jobs' appends land after the rewrite.
            file.set_len(0)?;
            file.write_all(kept.as_bytes())?;
            file.unlock()
        };
        match self.file.as_mut() {
            Some(file) => {
                rewrite(file).with_context(|| format!("rewriting {}", self.path.display()))
            }
            None => Ok(()),
        }
    }

    /// Also write every record's scalars to a TensorBoard event file in `dir`.
    pub fn with_tensorboard(mut self, dir: Option<&Path>) -> Result<Self> {
        if self.file.is_some() {
            self.tensorboard = dir.map(EventWriter::create).transpose()?;
        }
        Ok(self)
    }

    /// Append one record.
    pub fn write(&mut self, record: &Value) -> Result<()> {
        if let Some(tb) = self.tensorboard.as_mut() {
            tb.record(record)?;
        }
        let line = format!("{record}\n");
        let append = |file: &mut File| -> std::io::Result<()> {
            file.lock()?;
            file.write_all(line.as_bytes())?;
            file.unlock()
        };
        match self.file.as_mut() {
            Some(file) => append(file).with_context(|| format!("writing {}", self.path.display())),
            None => Ok(()),
        }
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
