//! Checkpoint directories in the Hugging Face layout: `config.json`, `model.safetensors`
//! (HF parameter names), extra files such as `vocab.txt`, and dapt's `manifest.json` of
//! sha256 sums.
//!
//! Saving writes a temporary sibling dir, fsyncs it and renames it into place, so a
//! crash never leaves a half-written checkpoint under the final name. Loading checks the
//! manifest when there is one (plain HF dirs have none) and accepts weights with or
//! without the `bert.` prefix (BertModel and sentence-transformers checkpoints), reporting
//! what it had to initialise, as transformers does.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;

use super::BertConfig;
use crate::error::InputError;
use crate::fsutil::{temp_sibling, TempOutput};
use crate::room;
use crate::text::vocab::sha256_hex;

/// File names inside a checkpoint dir.
pub const CONFIG: &str = "config.json";
/// Weights, HF names.
pub const WEIGHTS: &str = "model.safetensors";
/// sha256 of every other file.
pub const MANIFEST: &str = "manifest.json";
/// The training loop's state (counters, best evaluation) inside a checkpoint dir.
pub const TRAINER_STATE: &str = "trainer_state.json";

/// What loading weights into a model found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Model parameters absent from the checkpoint (left at their initial values).
    pub newly_initialized: Vec<String>,
    /// Checkpoint tensors the model has no parameter for.
    pub unused: Vec<String>,
}

/// Save `vars` (HF names) with `config` into `dir` atomically, plus `extra` files
/// (name in the dir, source path), and a manifest of sha256 sums.
pub fn save(
    dir: &Path,
    config: &BertConfig,
    vars: &[(String, Var)],
    extra: &[(&str, &Path)],
) -> Result<()> {
    save_with(dir, config, vars, extra, |_| Ok(()))
}

/// [`save`], with `write_more` writing further files (optimizer state, trainer state)
/// into the temporary dir before the manifest is made and the dir renamed into place.
pub fn save_with(
    dir: &Path,
    config: &BertConfig,
    vars: &[(String, Var)],
    extra: &[(&str, &Path)],
    write_more: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let extra_bytes: u64 = extra
        .iter()
        .map(|(_, p)| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    room::ensure_room(
        dir,
        room::tensors_bytes(vars.iter().map(|(_, v)| v.as_tensor())) + extra_bytes,
    )?;
    let tmp = TempOutput::new(temp_sibling(dir));
    std::fs::create_dir_all(tmp.path())?;
    std::fs::write(tmp.path().join(CONFIG), config.to_json()? + "\n")?;
    let tensors: HashMap<String, Tensor> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&tensors, tmp.path().join(WEIGHTS))?;
    room::injected_failure().with_context(|| format!("writing {}", dir.display()))?;
    for (name, src) in extra {
        std::fs::copy(src, tmp.path().join(name))
            .with_context(|| format!("copying {} into the checkpoint", src.display()))?;
    }
    write_more(tmp.path())?;
    let mut sums = BTreeMap::new();
    for entry in std::fs::read_dir(tmp.path())? {
        let path = entry?.path();
        let mut name = path
            .file_name()
            .expect("dir entry")
            .to_string_lossy()
            .into_owned();
        // A nested checkpoint (the generator of a replaced-token-detection run) is listed
        // by its own manifest, which lists its files: one chain of sums covers them all.
        let file = if path.is_dir() {
            name = format!("{name}/{MANIFEST}");
            path.join(MANIFEST)
        } else {
            path
        };
        sums.insert(name, sha256_hex(&std::fs::read(&file)?));
    }
    std::fs::write(
        tmp.path().join(MANIFEST),
        serde_json::to_string_pretty(&sums)? + "\n",
    )?;
    tmp.commit(dir)?;
    Ok(())
}

/// Check every file listed in `dir/manifest.json` against its sha256 (nothing to check
/// without a manifest).
pub fn verify(dir: &Path) -> Result<()> {
    let path = dir.join(MANIFEST);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let sums: BTreeMap<String, String> = serde_json::from_str(&text)
        .map_err(|e| InputError::at_path(&path, format!("not a dapt manifest: {e}")))?;
    for (name, sum) in sums {
        let file = dir.join(&name);
        let bytes = std::fs::read(&file).map_err(|e| {
            InputError::at_path(
                &file,
                format!("listed in manifest.json but unreadable ({e}): incomplete checkpoint"),
            )
        })?;
        if sha256_hex(&bytes) != sum {
            crate::bad_input!(
                "{}: sha256 differs from manifest.json: the checkpoint is truncated or corrupt; use another checkpoint (e.g. an earlier step)",
                file.display()
            );
        }
        if let Some(nested) = name.strip_suffix(&format!("/{MANIFEST}")) {
            verify(&dir.join(nested))?;
        }
    }
    Ok(())
}

/// `name` without its family prefix (`bert.`, `electra.`): the key a bare `BertModel` or
/// `ElectraModel` dir saves it under.
pub fn base_model_name(name: &str) -> &str {
    ["bert.", "electra."]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name)
}

/// The identity of checkpoint `dir`'s weights: the sha256 of its manifest (which holds
/// every file's sha256), or of its weights file where it has none (a foreign checkpoint).
pub fn identity(dir: &Path) -> Result<String> {
    let manifest = dir.join(MANIFEST);
    let path = if manifest.exists() {
        manifest
    } else {
        dir.join(WEIGHTS)
    };
    let bytes = std::fs::read(&path)
        .map_err(|e| InputError::at_path(&path, format!("cannot read: {e}")))?;
    Ok(sha256_hex(&bytes))
}

/// [`load_into`], refusing a checkpoint that lacks any of the variables (resuming a run
/// needs every one of them).
pub fn load_all(dir: &Path, vars: &VarMap) -> Result<()> {
    let report = load_into(dir, vars)?;
    if !report.newly_initialized.is_empty() {
        crate::bad_input!(
            "{}: lacks {:?}; not a checkpoint of this model",
            dir.display(),
            report.newly_initialized
        );
    }
    Ok(())
}

/// Load the weights of checkpoint `dir` into the variables of `vars` (HF names), after
/// verifying its manifest. Names are matched exactly or without the family prefix
/// ([`base_model_name`]).
pub fn load_into(dir: &Path, vars: &VarMap) -> Result<LoadReport> {
    verify(dir)?;
    let path = dir.join(WEIGHTS);
    if !path.exists() {
        crate::bad_input!(
            "{}: no model.safetensors; is this a checkpoint dir?",
            dir.display()
        );
    }
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| {
        InputError::at_path(
            &path,
            format!("unreadable safetensors ({e}): truncated or corrupt"),
        )
    })?;
    let mut used = std::collections::HashSet::new();
    let mut report = LoadReport::default();
    let data = vars.data().lock().expect("VarMap lock poisoned");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let key = [name.as_str(), base_model_name(name)]
            .into_iter()
            .find(|k| tensors.contains_key(*k));
        match key {
            Some(k) => {
                let t = &tensors[k];
                if t.dims() != var.dims() {
                    crate::bad_input!(
                        "{}: {k} has shape {:?} but the model needs {:?}",
                        path.display(),
                        t.dims(),
                        var.dims()
                    );
                }
                var.set(&t.to_device(var.device())?.to_dtype(var.dtype())?)?;
                used.insert(k.to_string());
            }
            None => report.newly_initialized.push(name.clone()),
        }
    }
    report.unused = tensors
        .keys()
        .filter(|k| !used.contains(*k))
        .cloned()
        .collect();
    report.unused.sort();
    Ok(report)
}
