//! TensorBoard event files (`--tensorboard DIR`): the scalars of `metrics.jsonl`, written
//! as TensorBoard's own `events.out.tfevents.*` files so `tensorboard --logdir DIR` shows
//! the runs live. The format is small enough to write by hand: a TFRecord stream
//! (length, masked CRC-32C of the length, data, masked CRC-32C of the data) of `Event`
//! protocol buffers, each holding a step, a wall time and `simple_value` scalars.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::Value;

/// Appends events to one file of a TensorBoard log dir.
pub struct EventWriter {
    path: PathBuf,
    file: File,
}

/// TFRecord's checksum: CRC-32C, rotated and offset so a CRC of data holding CRCs stays
/// well-distributed (TensorFlow's `crc32c::Mask`).
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Protocol-buffer base-128 varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field (wire type 2).
fn bytes_field(field: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint(field << 3 | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// An `Event` message: `wall_time` (1, double), `step` (2, int64), and either
/// `file_version` (3) or a `Summary` (5) of `Value`s with `tag` (1) and
/// `simple_value` (2, float).
fn event(
    wall_time: f64,
    step: u64,
    file_version: Option<&str>,
    scalars: &[(String, f32)],
) -> Vec<u8> {
    let mut out = Vec::new();
    varint(1 << 3 | 1, &mut out);
    out.extend_from_slice(&wall_time.to_le_bytes());
    varint(2 << 3, &mut out);
    varint(step, &mut out);
    if let Some(v) = file_version {
        bytes_field(3, v.as_bytes(), &mut out);
    }
    if !scalars.is_empty() {
        let mut summary = Vec::new();
        for (tag, value) in scalars {
            let mut item = Vec::new();
            bytes_field(1, tag.as_bytes(), &mut item);
            varint(2 << 3 | 5, &mut item);
            item.extend_from_slice(&value.to_le_bytes());
            bytes_field(1, &item, &mut summary);
        }
        bytes_field(5, &summary, &mut out);
    }
    out
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The scalars of one `metrics.jsonl` record and its step: every number but `step` and
/// `fold`, tagged `[foldK/]EVENT/NAME` (EVENT is the record's `event`, `train` when it
/// has none; nested objects such as finetune's `metrics` are flattened into NAME).
pub fn scalars_of(record: &Value) -> Option<(u64, Vec<(String, f32)>)> {
    let step = record.get("step")?.as_u64()?;
    let event = record
        .get("event")
        .and_then(Value::as_str)
        .unwrap_or("train");
    let prefix = match record.get("fold").and_then(Value::as_u64) {
        Some(k) => format!("fold{k}/{event}"),
        None => event.to_string(),
    };
    let mut out = Vec::new();
    let fields = record.as_object()?;
    for (key, value) in fields {
        if key == "step" || key == "fold" {
            continue;
        }
        match value {
            Value::Number(n) => {
                out.extend(n.as_f64().map(|x| (format!("{prefix}/{key}"), x as f32)))
            }
            Value::Object(inner) => out.extend(
                inner
                    .iter()
                    .filter_map(|(name, v)| Some((format!("{prefix}/{name}"), v.as_f64()? as f32))),
            ),
            _ => {}
        }
    }
    Some((step, out))
}

impl EventWriter {
    /// Start a new event file in `dir` (created if missing): one per process, so
    /// resumed runs and parallel `--fold` jobs each add their own.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let wall = now();
        let path = dir.join(format!(
            "events.out.tfevents.{}.dapt.{}",
            wall as u64,
            std::process::id()
        ));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = Self { path, file };
        w.append(&event(wall, 0, Some("brain.Event:2"), &[]))?;
        Ok(w)
    }

    fn append(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        let mut record = Vec::with_capacity(data.len() + 16);
        record.extend_from_slice(&len);
        record.extend_from_slice(&masked_crc(&len).to_le_bytes());
        record.extend_from_slice(data);
        record.extend_from_slice(&masked_crc(data).to_le_bytes());
        // One write per record, flushed, so a crashed run's file ends on a whole record.
        self.file
            .write_all(&record)
            .and_then(|()| self.file.flush())
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Write the scalars of a `metrics.jsonl` record (nothing for a record without a
    /// step or numbers).
    pub fn record(&mut self, record: &Value) -> Result<()> {
        match scalars_of(record) {
            Some((step, scalars)) if !scalars.is_empty() => {
                self.append(&event(now(), step, None, &scalars))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_and_varints_match_their_specifications() {
        // RFC 3720 (iSCSI), appendix B.4: CRC-32C of 32 zero bytes is 0x8a9136aa.
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8a91_36aa);
        let mut v = Vec::new();
        varint(300, &mut v);
        // The protobuf encoding guide's example: 300 is 0xac 0x02.
        assert_eq!(v, [0xac, 0x02]);
    }

    #[test]
    fn records_become_tagged_scalars() {
        let r = serde_json::json!({"event": "eval", "fold": 2, "step": 9, "epoch": 1.0,
            "metrics": {"auc": 0.75, "accuracy": 0.5}});
        let (step, mut s) = scalars_of(&r).unwrap();
        s.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(step, 9);
        let tags: Vec<&str> = s.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            tags,
            ["fold2/eval/accuracy", "fold2/eval/auc", "fold2/eval/epoch"]
        );
        assert!(scalars_of(&serde_json::json!({"event": "end"})).is_none());
    }
}
