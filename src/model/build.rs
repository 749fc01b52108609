//! Building a model's modules and variables: seeded initialisation as transformers does
//! it, loading from a checkpoint, the config a model class saves, and detached copies
//! for evaluation. Shared by every model family.

use std::path::Path;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::checkpoint::{self, LoadReport};
use super::encoder::{Encoder, MATCH_EMBEDDINGS};
use super::params::named_vars;
use super::BertConfig;

/// Variables of a fresh model, initialised as transformers' `BertPreTrainedModel`
/// `_init_weights` does: weights N(0, `initializer_range`), biases 0, LayerNorm 1/0, the
/// `[PAD]` row of the word embeddings 0. Seeded, so two runs start from the same point.
pub fn init_weights(vars: &VarMap, config: &BertConfig, seed: u64) -> Result<()> {
    init_named(&named_vars(vars), config, seed)
}

/// [`init_weights`] over the listed variables only (in the order given).
pub fn init_named(vars: &[(String, Var)], config: &BertConfig, seed: u64) -> Result<()> {
    let normal = Normal::new(0.0f32, config.initializer_range as f32)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (name, var) in vars {
        let shape = var.shape().clone();
        let n = shape.elem_count();
        // Exact-match rows start at zero: a checkpoint without them computes what it did
        // before, and they still learn from the first step (the gradient of an added
        // embedding does not depend on its value).
        let zero = name.ends_with("bias") || name.contains(MATCH_EMBEDDINGS);
        let mut values: Vec<f32> = if name.ends_with("LayerNorm.weight") {
            vec![1.0; n]
        } else if zero {
            vec![0.0; n]
        } else {
            (0..n).map(|_| normal.sample(&mut rng)).collect()
        };
        if name.ends_with("word_embeddings.weight") {
            // The row width is the embedding width, narrower than hidden_size in ELECTRA.
            let width = shape.dims()[1];
            let pad = config.pad_token_id as usize;
            values[pad * width..(pad + 1) * width].fill(0.0);
        }
        let t = Tensor::from_vec(values, shape, var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}

/// Build a model's modules over a new `VarMap` on `device` (f32).
pub fn build<M>(
    device: &Device,
    f: impl FnOnce(VarBuilder) -> candle_core::Result<M>,
) -> Result<(M, VarMap)> {
    build_in(VarMap::new(), device, f)
}

/// [`build`] over `vars`, which may already hold variables the modules then reuse (a
/// `VarMap` returns the existing variable of a name).
pub fn build_in<M>(
    vars: VarMap,
    device: &Device,
    f: impl FnOnce(VarBuilder) -> candle_core::Result<M>,
) -> Result<(M, VarMap)> {
    let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
    Ok((f(vb)?, vars))
}

/// `config` as a model class saves it: `model_type`, `architectures` and `num_labels`.
pub fn saved_as(
    config: &BertConfig,
    model_type: &str,
    architecture: &str,
    num_labels: Option<usize>,
) -> BertConfig {
    let mut c = config.clone();
    c.model_type = model_type.into();
    c.architectures = vec![architecture.into()];
    c.num_labels = num_labels;
    c
}

/// Where a model's initial weights come from.
pub enum Init<'a> {
    /// Fresh weights from the config, seeded.
    Fresh(u64),
    /// A checkpoint dir (HF layout); parameters it lacks are initialised fresh with the seed.
    Checkpoint(&'a Path, u64),
}

/// Initialise `vars`, reporting what a checkpoint did not provide.
pub fn initialise(vars: &VarMap, config: &BertConfig, init: Init) -> Result<LoadReport> {
    match init {
        Init::Fresh(seed) => {
            init_weights(vars, config, seed)?;
            Ok(LoadReport::default())
        }
        Init::Checkpoint(dir, seed) => {
            init_weights(vars, config, seed)?;
            checkpoint::load_into(dir, vars)
        }
    }
}

/// A builder over detached views of `vars` (shared storage, nothing copied): modules built
/// from it record no autograd graph.
pub fn detached_builder(vars: &VarMap, encoder: &Encoder) -> Result<VarBuilder<'static>> {
    let device = encoder.embeddings.word.embeddings().device().clone();
    let tensors: std::collections::HashMap<String, Tensor> = named_vars(vars)
        .into_iter()
        .map(|(name, var)| (name, var.as_tensor().detach()))
        .collect();
    Ok(VarBuilder::from_tensors(tensors, DType::F32, &device))
}
