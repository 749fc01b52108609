//! Initialising a model for a new vocabulary from a pretrained checkpoint
//! (`--init-from DIR --align-embeddings RULE`): encoder layers copied unchanged, the
//! word-embedding rows and the MLM output bias (BERT's or an ELECTRA generator's)
//! rearranged by [`super::align`].

use std::path::Path;

use anyhow::Result;
use candle_core::Device;
use candle_nn::VarMap;

use super::align::{remap_rows, row_map, AlignEmbeddings, AlignReport, RowSource};
use super::checkpoint::{self, LoadReport};
use super::params::named_vars;
use crate::error::InputError;
use crate::text::encode::{EncodedDoc, TextEncoder};
use crate::text::vocab::Vocab;

/// Word-embedding matrix and MLM output bias: the tensors indexed by token id (with the
/// std their unfilled rows are drawn with, in units of the initializer range).
pub fn per_token(name: &str) -> Option<f64> {
    // The std of rows no rule fills: N(0, initializer_range) for embeddings, 0 for a bias.
    if name.ends_with("word_embeddings.weight") {
        Some(1.0)
    } else if name == "cls.predictions.bias" || name == "generator_lm_head.bias" {
        Some(0.0)
    } else {
        None
    }
}

/// Fill `vars` (a model over `vocab`) from checkpoint `dir`: per-token tensors through
/// the `rule`'s row map (pieces split by the checkpoint's own tokenizer; other rows
/// N(0, `init_range`), bias 0), every other tensor
/// copied by name (with or without the `bert.` prefix) when the shapes agree. Returns
/// the reports and where each row of the per-token tensors came from.
pub fn init_from(
    vars: &VarMap,
    dir: &Path,
    vocab: &Vocab,
    rule: AlignEmbeddings,
    init_range: f64,
    seed: u64,
) -> Result<(AlignReport, LoadReport, Vec<RowSource>)> {
    checkpoint::verify(dir)?;
    let old = Vocab::load(dir).map_err(|e| {
        InputError::at_path(
            dir,
            format!("--init-from needs the checkpoint's vocab.txt to align embeddings: {e:#}"),
        )
    })?;
    let path = dir.join(checkpoint::WEIGHTS);
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).map_err(|e| {
        InputError::at_path(
            &path,
            format!("unreadable safetensors ({e}): truncated or corrupt"),
        )
    })?;
    let old_encoder = TextEncoder::new(&old, Some(0))?;
    let split = |token: &str| -> Option<Vec<usize>> {
        let mut doc = EncodedDoc::default();
        old_encoder.encode(&[token], &mut doc).ok()?;
        let known = !doc.ids.contains(&old.special.unk);
        known.then(|| doc.ids.iter().map(|&id| id as usize).collect())
    };
    let (map, report) = row_map(
        &old.tokens,
        old.counts()?.as_deref(),
        &vocab.tokens,
        vocab.counts()?.as_deref(),
        rule,
        Some(&split),
    );
    let mut load = LoadReport::default();
    for (name, var) in named_vars(vars) {
        let key = [name.as_str(), super::checkpoint::base_model_name(&name)]
            .into_iter()
            .find(|k| tensors.contains_key(*k));
        let Some(key) = key else {
            load.newly_initialized.push(name);
            continue;
        };
        let t = &tensors[key];
        let value = match per_token(&name) {
            Some(scale) => {
                if t.dim(0)? != old.len() {
                    crate::bad_input!(
                        "{}: {key} has {} rows but vocab.txt has {} tokens",
                        path.display(),
                        t.dim(0)?,
                        old.len()
                    );
                }
                remap_rows(t, &map, scale * init_range, seed)?
            }
            None if t.dims() == var.dims() => t.clone(),
            None => crate::bad_input!(
                "{}: {key} has shape {:?} but the model needs {:?}",
                path.display(),
                t.dims(),
                var.dims()
            ),
        };
        var.set(&value.to_device(var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok((report, load, map))
}
