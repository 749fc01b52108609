//! `dapt average`: the element-wise mean of the weights of compatible checkpoints (fold
//! bests, the last steps of a run) as one Hugging Face dir, a "model soup" (Wortsman et
//! al. 2022, <https://arxiv.org/abs/2203.05482>) that costs one model at prediction time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};

use crate::bad_input;
use crate::error::InputError;
use crate::infer::ensemble::find_checkpoints;
use crate::model::checkpoint::TRAINER_STATE;
use crate::model::{checkpoint, BertConfig};
use crate::text::vocab::checkpoint_files;

/// The checkpoint dirs `inputs` name: each is a checkpoint, or a `dapt finetune` output
/// whose `fold-K/best` dirs all count.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for input in inputs {
        dirs.extend(find_checkpoints(input)?.into_iter().map(|(_, p)| p));
    }
    Ok(dirs)
}

fn load_weights(dir: &Path) -> Result<HashMap<String, Tensor>> {
    checkpoint::verify(dir)?;
    let path = dir.join(checkpoint::WEIGHTS);
    candle_core::safetensors::load(&path, &Device::Cpu)
        .map_err(|e| InputError::at_path(&path, format!("unreadable weights: {e}")).into())
}

/// Average the weights of `dirs` (at least two, same config up to dropout rates, same
/// tensors) into `out`,
/// with the first dir's config, vocabulary and trainer state. Returns the tensor count.
pub fn average(dirs: &[PathBuf], out: &Path) -> Result<usize> {
    if dirs.len() < 2 {
        bad_input!(
            "dapt average needs at least two checkpoints, got {}; name several dirs or a finetune output with fold-*/best",
            dirs.len()
        );
    }
    let first = &dirs[0];
    let config = BertConfig::read(&first.join(checkpoint::CONFIG))?;
    let mut sums: HashMap<String, Tensor> = HashMap::new();
    for dir in dirs {
        let mut other = BertConfig::read(&dir.join(checkpoint::CONFIG))?;
        // Dropout rates are training settings, not the model's: they may differ.
        other.hidden_dropout_prob = config.hidden_dropout_prob;
        other.attention_probs_dropout_prob = config.attention_probs_dropout_prob;
        other.classifier_dropout = config.classifier_dropout;
        if other != config {
            bad_input!(
                "{}: config.json differs from {}'s: only checkpoints of one model can be averaged",
                dir.display(),
                first.display()
            );
        }
        let weights = load_weights(dir)?;
        if !sums.is_empty() {
            let mut missing: Vec<&String> =
                sums.keys().filter(|k| !weights.contains_key(*k)).collect();
            missing.extend(weights.keys().filter(|k| !sums.contains_key(*k)));
            if let Some(name) = missing.first() {
                bad_input!(
                    "{}: tensor {name} is in one checkpoint but not in {}: they are not the same model",
                    dir.display(),
                    first.display()
                );
            }
        }
        for (name, t) in weights {
            // Sums in f64, so the mean does not depend on the order of the inputs beyond
            // f32 rounding of the result.
            let t = t.to_dtype(DType::F64)?;
            let sum = match sums.remove(&name) {
                None => t,
                Some(s) => {
                    if s.shape() != t.shape() {
                        bad_input!(
                            "{}: {name} has shape {:?}, {} has {:?}",
                            dir.display(),
                            t.dims(),
                            first.display(),
                            s.dims()
                        );
                    }
                    (s + t)?
                }
            };
            sums.insert(name, sum);
        }
    }
    let n = dirs.len() as f64;
    let mut vars: Vec<(String, Var)> = sums
        .into_iter()
        .map(|(name, s)| Ok((name, Var::from_tensor(&(s / n)?.to_dtype(DType::F32)?)?)))
        .collect::<Result<_>>()?;
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let count = vars.len();
    let mut extra = checkpoint_files(first);
    if first.join(TRAINER_STATE).exists() {
        extra.push((TRAINER_STATE, first.join(TRAINER_STATE)));
    }
    let extra: Vec<(&str, &Path)> = extra.iter().map(|(n, p)| (*n, p.as_path())).collect();
    let sources: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    checkpoint::save_with(out, &config, &vars, &extra, |tmp| {
        let record = serde_json::json!({ "averaged": sources });
        Ok(std::fs::write(
            tmp.join("dapt_average.json"),
            serde_json::to_string_pretty(&record)? + "\n",
        )?)
    })?;
    Ok(count)
}
