//! Ensembles of pair classifiers: the fold checkpoints of a `dapt finetune` run (or one
//! checkpoint dir), each model's probabilities (optionally averaged with the swapped
//! pair), and their mean.

use std::path::{Path, PathBuf};

use anyhow::Result;
use candle_core::Device;
use clap::ValueEnum;

use super::pair_model::PairModel;
use super::probs::class_probs;
use crate::data::pair_batch::{EncodeStats, EncodedPair, PairEncoder};
use crate::model::checkpoint;

/// Test-time augmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Tta {
    /// The pairs as given.
    #[default]
    None,
    /// Mean of (a, b) and (b, a): matching is symmetric.
    Swap,
}

/// The checkpoints under `dir`: `dir` itself when it is a checkpoint (has `config.json`),
/// else every `dir/fold-K/best`, by fold. Returns `(name, path)` pairs.
pub fn find_checkpoints(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    if dir.join(checkpoint::CONFIG).exists() {
        return Ok(vec![(dir.display().to_string(), dir.to_path_buf())]);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| {
        crate::error::InputError::at_path(dir, format!("cannot read the model dir: {e}"))
    })?;
    let mut found = Vec::new();
    for e in entries {
        let path = e?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let fold = name
            .strip_prefix("fold-")
            .and_then(|k| k.parse::<usize>().ok());
        let best = path.join("best");
        if let (Some(k), true) = (fold, best.join(checkpoint::CONFIG).exists()) {
            found.push((k, name.to_string(), best));
        }
    }
    found.sort();
    if found.is_empty() {
        crate::bad_input!(
            "{}: neither a checkpoint dir (config.json) nor a `dapt finetune` output with fold-*/best checkpoints",
            dir.display()
        );
    }
    Ok(found.into_iter().map(|(_, n, p)| (n, p)).collect())
}

/// Load every checkpoint [`find_checkpoints`] finds under `dir`; all must have the same
/// number of classes.
pub fn load_models(
    dir: &Path,
    vocab_dir: Option<&Path>,
    device: &Device,
) -> Result<Vec<PairModel>> {
    let mut models = Vec::new();
    for (name, path) in find_checkpoints(dir)? {
        let m = PairModel::load(&path, name, vocab_dir, device)?;
        if let Some(first) = models.first() {
            let first: &PairModel = first;
            if first.task() != m.task() {
                crate::bad_input!(
                    "{} was fine-tuned for --task {} but {} for --task {}: they cannot be ensembled",
                    m.dir.display(),
                    m.task().name(),
                    first.dir.display(),
                    first.task().name()
                );
            }
            if first.num_labels() != m.num_labels() {
                crate::bad_input!(
                    "{} has {} classes but {} has {}: they cannot be ensembled",
                    m.dir.display(),
                    m.num_labels(),
                    first.dir.display(),
                    first.num_labels()
                );
            }
        }
        models.push(m);
    }
    Ok(models)
}

/// Encode `pairs` (swapped with `swap`) for `model`, adding to `stats`.
pub fn encode_for(
    model: &PairModel,
    pairs: &[(&str, &str)],
    swap: bool,
    stats: &mut EncodeStats,
) -> Result<Vec<EncodedPair>> {
    let enc = PairEncoder::new(&model.vocab, model.max_len)?;
    pairs
        .iter()
        .map(|&(a, b)| {
            if swap {
                enc.encode(b, a, stats)
            } else {
                enc.encode(a, b, stats)
            }
        })
        .collect()
}

/// Class probabilities of one model over `pairs`, averaged with the swapped pairs for
/// [`Tta::Swap`]; encoding counts are added to `stats`.
pub fn model_probs(
    model: &PairModel,
    pairs: &[(&str, &str)],
    tta: Tta,
    batch_size: usize,
    device: &Device,
    stats: &mut EncodeStats,
) -> Result<Vec<Vec<f64>>> {
    let pad = model.vocab.special.pad;
    let run = |swap: bool, stats: &mut EncodeStats| -> Result<Vec<Vec<f64>>> {
        let enc = encode_for(model, pairs, swap, stats)?;
        let refs: Vec<&EncodedPair> = enc.iter().collect();
        class_probs(&model.model, &refs, batch_size, pad, device)
    };
    let straight = run(false, stats)?;
    Ok(match tta {
        Tta::None => straight,
        Tta::Swap => mean(&[straight, run(true, stats)?]),
    })
}

/// Element-wise mean of several `[examples][classes]` probability tables.
pub fn mean(tables: &[Vec<Vec<f64>>]) -> Vec<Vec<f64>> {
    let n = tables.len().max(1) as f64;
    let mut out = tables.first().cloned().unwrap_or_default();
    for t in tables.iter().skip(1) {
        for (row, other) in out.iter_mut().zip(t) {
            for (x, y) in row.iter_mut().zip(other) {
                *x += y;
            }
        }
    }
    for row in &mut out {
        for x in row {
            *x /= n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mean;

    #[test]
    fn mean_of_tables() {
        let m = mean(&[vec![vec![0.2, 0.8]], vec![vec![0.6, 0.4]]]);
        assert!((m[0][0] - 0.4).abs() < 1e-12 && (m[0][1] - 0.6).abs() < 1e-12);
        assert_eq!(mean(&[vec![vec![0.1, 0.9]]]), vec![vec![0.1, 0.9]]);
    }
}
