//! The two models dapt trains, each owning its variables: `BertForMaskedLM` (pretraining)
//! and `BertForSequenceClassification` (pair matching), under transformers' names.

use std::path::Path;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::checkpoint::{self, LoadReport};
use super::dropout::Mode;
use super::electra::ElectraHead;
use super::encoder::Encoder;
use super::mlm_head::{mlm_loss, MlmHead};
use super::pair_head::PairHead;
use super::params::named_vars;
use super::BertConfig;
use crate::data::collate::BatchTensors;

/// Variables of a fresh model, initialised as transformers' `BertPreTrainedModel`
/// `_init_weights` does: weights N(0, `initializer_range`), biases 0, LayerNorm 1/0, the
/// `[PAD]` row of the word embeddings 0. Seeded, so two runs start from the same point.
pub fn init_weights(vars: &VarMap, config: &BertConfig, seed: u64) -> Result<()> {
    init_named(&named_vars(vars), config, seed)
}

/// [`init_weights`] over the listed variables only (in the order given).
pub(super) fn init_named(vars: &[(String, Var)], config: &BertConfig, seed: u64) -> Result<()> {
    let normal = Normal::new(0.0f32, config.initializer_range as f32)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (name, var) in vars {
        let shape = var.shape().clone();
        let n = shape.elem_count();
        // Exact-match rows start at zero: a checkpoint without them computes what it did
        // before, and they still learn from the first step (the gradient of an added
        // embedding does not depend on its value).
        let zero = name.ends_with("bias") || name.contains(super::encoder::MATCH_EMBEDDINGS);
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
pub(super) fn build<M>(
    device: &Device,
    f: impl FnOnce(VarBuilder) -> candle_core::Result<M>,
) -> Result<(M, VarMap)> {
    build_in(VarMap::new(), device, f)
}

/// [`build`] over `vars`, which may already hold variables the modules then reuse (a
/// `VarMap` returns the existing variable of a name).
pub(super) fn build_in<M>(
    vars: VarMap,
    device: &Device,
    f: impl FnOnce(VarBuilder) -> candle_core::Result<M>,
) -> Result<(M, VarMap)> {
    let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
    Ok((f(vb)?, vars))
}

/// `config` as a model class saves it: `model_type`, `architectures` and `num_labels`.
pub(super) fn saved_as(
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
pub(super) fn initialise(vars: &VarMap, config: &BertConfig, init: Init) -> Result<LoadReport> {
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

/// `BertForMaskedLM`: encoder + MLM head with the decoder tied to the word embeddings.
pub struct BertForMaskedLM {
    /// Its configuration (saved as `config.json`).
    pub config: BertConfig,
    /// Its variables under HF names.
    pub vars: VarMap,
    encoder: Encoder,
    head: MlmHead,
}

/// Loss and logits of one MLM forward pass.
pub struct MlmOutput {
    /// Mean cross-entropy over the masked positions (scalar).
    pub loss: Tensor,
    /// Logits `(masked rows, vocab)`.
    pub logits: Tensor,
}

impl BertForMaskedLM {
    /// A model of `config` on `device`, initialised by `init`.
    pub fn new(config: &BertConfig, device: &Device, init: Init) -> Result<(Self, LoadReport)> {
        let ((encoder, head), vars) = build(device, |vb| {
            Ok((
                Encoder::new(config, vb.pp("bert"))?,
                MlmHead::new(config, vb.pp("cls.predictions"))?,
            ))
        })?;
        let report = initialise(&vars, config, init)?;
        let config = saved_as(config, "bert", "BertForMaskedLM", None);
        Ok((
            Self {
                config,
                vars,
                encoder,
                head,
            },
            report,
        ))
    }

    /// The same model whose forward pass records no autograd graph, for evaluation: its
    /// modules read detached views of the variables (shared storage, nothing copied), so
    /// each layer's activations are freed as soon as the next is computed instead of
    /// living until the loss is dropped. `vars` still names the trained variables.
    pub fn detached(&self) -> Result<Self> {
        let vb = detached_builder(&self.vars, &self.encoder)?;
        Ok(Self {
            config: self.config.clone(),
            vars: self.vars.clone(),
            encoder: Encoder::new(&self.config, vb.pp("bert"))?,
            head: MlmHead::new(&self.config, vb.pp("cls.predictions"))?,
        })
    }

    /// Number of parameters.
    pub fn num_parameters(&self) -> usize {
        named_vars(&self.vars)
            .iter()
            .map(|(_, v)| v.elem_count())
            .sum()
    }

    /// Logits at the masked positions of `batch` only ([`MlmHead::masked_logits`]).
    pub fn forward(&self, batch: &BatchTensors, mode: &mut Mode) -> Result<Tensor> {
        Ok(self.head.masked_logits(&self.encoder, batch, mode)?)
    }

    /// Forward pass and masked-LM loss. The logits are f32, also under bf16 products (see [`crate::model::Precision`]).
    pub fn loss(&self, batch: &BatchTensors, mode: &mut Mode) -> Result<MlmOutput> {
        let logits = self.forward(batch, mode)?.to_dtype(DType::F32)?;
        let loss = mlm_loss(&logits, &batch.masked_labels)?;
        Ok(MlmOutput { loss, logits })
    }

    /// Save into checkpoint `dir` (atomic) with `extra` files such as `vocab.txt`, and
    /// whatever `write_more` writes into the dir before it is committed.
    pub fn save(
        &self,
        dir: &Path,
        extra: &[(&str, &Path)],
        write_more: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        checkpoint::save_with(
            dir,
            &self.config,
            &named_vars(&self.vars),
            extra,
            write_more,
        )
    }
}

/// A builder over detached views of `vars` (shared storage, nothing copied): modules built
/// from it record no autograd graph.
pub(super) fn detached_builder(vars: &VarMap, encoder: &Encoder) -> Result<VarBuilder<'static>> {
    let device = encoder.embeddings.word.embeddings().device().clone();
    let tensors: std::collections::HashMap<String, Tensor> = named_vars(vars)
        .into_iter()
        .map(|(name, var)| (name, var.as_tensor().detach()))
        .collect();
    Ok(VarBuilder::from_tensors(tensors, DType::F32, &device))
}

/// The head of a [`SequenceClassifier`], by family.
enum ClassifierHead {
    Bert(PairHead),
    Electra(ElectraHead),
}

/// The model-family prefix of `config`'s parameter names: `electra` for `model_type`
/// "electra", else `bert`.
pub fn family_prefix(config: &BertConfig) -> &'static str {
    if config.model_type == "electra" {
        "electra"
    } else {
        "bert"
    }
}

/// Encoder and head of a classifier of `config` under `vb`.
fn classifier_parts(
    config: &BertConfig,
    num_labels: usize,
    vb: VarBuilder,
) -> candle_core::Result<(Encoder, ClassifierHead)> {
    let prefix = family_prefix(config);
    let encoder = Encoder::new(config, vb.pp(prefix))?;
    let head = match prefix {
        "electra" => {
            ClassifierHead::Electra(ElectraHead::new(config, num_labels, vb.pp("classifier"))?)
        }
        _ => ClassifierHead::Bert(PairHead::new(
            config,
            num_labels,
            vb.pp(prefix),
            vb.clone(),
        )?),
    };
    Ok((encoder, head))
}

/// A pair classifier of either family under transformers' names:
/// `BertForSequenceClassification` (encoder + tanh pooler + dropout + linear) or, when the
/// config's `model_type` is "electra", `ElectraForSequenceClassification` (encoder +
/// [`ElectraHead`]).
pub struct SequenceClassifier {
    /// Its configuration (saved as `config.json`, with `num_labels`).
    pub config: BertConfig,
    /// Its variables under HF names.
    pub vars: VarMap,
    encoder: Encoder,
    head: ClassifierHead,
}

impl SequenceClassifier {
    /// A classifier with `num_labels` classes over an encoder of `config` on `device`.
    pub fn new(
        config: &BertConfig,
        num_labels: usize,
        device: &Device,
        init: Init,
    ) -> Result<(Self, LoadReport)> {
        let ((encoder, head), vars) = build(device, |vb| classifier_parts(config, num_labels, vb))?;
        let report = initialise(&vars, config, init)?;
        let (family, architecture) = match head {
            ClassifierHead::Bert(_) => ("bert", "BertForSequenceClassification"),
            ClassifierHead::Electra(_) => ("electra", "ElectraForSequenceClassification"),
        };
        let config = saved_as(config, family, architecture, Some(num_labels));
        Ok((
            Self {
                config,
                vars,
                encoder,
                head,
            },
            report,
        ))
    }

    /// Logits `(batch, num_labels)`; `match_flags` are needed when the config has
    /// `dapt_match_embedding` ([`crate::train::pair_batch::PairTensors`] carries them).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        token_type_ids: &Tensor,
        match_flags: Option<&Tensor>,
        attention_mask: &Tensor,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let h =
            self.encoder
                .forward(input_ids, token_type_ids, match_flags, attention_mask, mode)?;
        Ok(match &self.head {
            ClassifierHead::Bert(head) => head.forward(&h, attention_mask, mode)?,
            ClassifierHead::Electra(head) => head.forward(&h, attention_mask, mode)?,
        })
    }

    /// The same classifier whose forward pass records no autograd graph, for evaluation
    /// and prediction (see [`BertForMaskedLM::detached`]): without it every layer's
    /// activations of an evaluation batch stay alive until the logits are dropped.
    pub fn detached(&self) -> Result<Self> {
        let vb = detached_builder(&self.vars, &self.encoder)?;
        let num_labels = self.config.num_labels.expect("set by new");
        let (encoder, head) = classifier_parts(&self.config, num_labels, vb)?;
        Ok(Self {
            config: self.config.clone(),
            vars: self.vars.clone(),
            encoder,
            head,
        })
    }

    /// Train with `n` dropout samples on the pooled vector ([`PairHead::with_dropout_samples`]).
    pub fn with_dropout_samples(mut self, n: usize) -> Self {
        self.head = match self.head {
            ClassifierHead::Bert(h) => ClassifierHead::Bert(h.with_dropout_samples(n)),
            ClassifierHead::Electra(h) => ClassifierHead::Electra(h.with_dropout_samples(n)),
        };
        self
    }

    /// The word-embedding matrix, the variable adversarial training perturbs.
    pub fn word_embeddings(&self) -> Result<candle_core::Var> {
        let name = format!(
            "{}.embeddings.word_embeddings.weight",
            family_prefix(&self.config)
        );
        let vars = self.vars.data().lock().expect("VarMap lock poisoned");
        match vars.get(&name) {
            Some(v) => Ok(v.clone()),
            None => anyhow::bail!("the model has no {name}"),
        }
    }

    /// Save into checkpoint `dir` (atomic) with `extra` files such as `vocab.txt`.
    pub fn save(&self, dir: &Path, extra: &[(&str, &Path)]) -> Result<()> {
        checkpoint::save(dir, &self.config, &named_vars(&self.vars), extra)
    }
}
