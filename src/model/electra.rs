//! The ELECTRA family (Clark et al. 2020) under transformers' names: the encoder is
//! BERT's ([`Encoder`], with `embeddings_project` when `embedding_size` is narrower than
//! `hidden_size`) under the `electra.` prefix; the heads are the discriminator
//! (`ElectraForPreTraining`: is each token replaced?), the generator
//! (`ElectraForMaskedLM`, its decoder tied to the word embeddings) and the pair
//! classifier's head ([`ElectraHead`]; the classifier itself is
//! [`super::classifier::SequenceClassifier`], which builds either family).

use std::path::Path;

use candle_core::{Device, Module, Result as CandleResult, Tensor};
use candle_nn::VarBuilder;

use anyhow::Result;

use super::build::{build, build_in, detached_builder, init_named, initialise, saved_as, Init};
use super::checkpoint::{self, LoadReport};
use super::dropout::Mode;
use super::encoder::Encoder;
use super::linear::{linear, Linear};
use super::mlm_head::MlmHead;
use super::ops;
use super::pair_head::{head_dropout, sample_mean};
use super::params::named_vars;
use super::pooling::Pooling;
use super::BertConfig;
use crate::data::collate::BatchTensors;

/// `ElectraForPreTraining`: the replaced-token discriminator.
pub struct ElectraForPreTraining {
    /// Its configuration.
    pub config: BertConfig,
    /// Its variables under HF names.
    pub vars: candle_nn::VarMap,
    encoder: Encoder,
    dense: Linear,
    prediction: Linear,
}

/// Modules of a discriminator of `c` under the model root `vb`.
fn discriminator_parts(c: &BertConfig, vb: VarBuilder) -> CandleResult<(Encoder, Linear, Linear)> {
    let head = vb.pp("discriminator_predictions");
    Ok((
        Encoder::new(c, vb.pp("electra"))?,
        linear(c.hidden_size, c.hidden_size, head.pp("dense"))?,
        linear(c.hidden_size, 1, head.pp("dense_prediction"))?,
    ))
}

impl ElectraForPreTraining {
    /// A discriminator of `config` on `device`, initialised by `init`.
    pub fn new(config: &BertConfig, device: &Device, init: Init) -> Result<(Self, LoadReport)> {
        let ((encoder, dense, prediction), vars) =
            build(device, |vb| discriminator_parts(config, vb))?;
        let report = initialise(&vars, config, init)?;
        let config = saved_as(config, "electra", "ElectraForPreTraining", None);
        Ok((
            Self {
                config,
                vars,
                encoder,
                dense,
                prediction,
            },
            report,
        ))
    }

    /// The same model recording no autograd graph, for evaluation (as
    /// [`super::bert::BertForMaskedLM::detached`]).
    pub fn detached(&self) -> Result<Self> {
        let vb = detached_builder(&self.vars, &self.encoder)?;
        let (encoder, dense, prediction) = discriminator_parts(&self.config, vb)?;
        Ok(Self {
            config: self.config.clone(),
            vars: self.vars.clone(),
            encoder,
            dense,
            prediction,
        })
    }

    /// Replaced-token logits `(batch, seq)` (0 at padding).
    pub fn forward(
        &self,
        ids: &Tensor,
        types: &Tensor,
        mask: &Tensor,
        mode: &mut Mode,
    ) -> CandleResult<Tensor> {
        let h = self.encoder.forward(ids, types, None, mask, mode)?;
        let (b, s, hidden) = h.dims3()?;
        let logits = self.head(&h.reshape((b * s, hidden))?)?.reshape((b, s))?;
        let real = mask.to_dtype(logits.dtype())?;
        logits * real
    }

    /// Replaced-token logits `(tokens,)` of the real tokens of `batch` only, in row-major
    /// order of their positions (padding-free: the loss needs nothing else).
    pub fn token_logits(&self, batch: &BatchTensors, mode: &mut Mode) -> CandleResult<Tensor> {
        let h = self.encoder.forward_tokens(
            &batch.input_ids,
            &batch.token_type_ids,
            batch.match_flags.as_ref(),
            &batch.attention_mask,
            mode,
        )?;
        self.head(&h)?.squeeze(1)
    }

    /// `discriminator_predictions`: dense, GELU, one logit per row `(rows, 1)`.
    fn head(&self, rows: &Tensor) -> CandleResult<Tensor> {
        self.prediction
            .forward(&ops::gelu_erf(&self.dense.forward(rows)?)?)
    }

    /// Save into checkpoint `dir` (atomic, with a manifest) with `extra` files such as
    /// `vocab.txt`, and whatever `write_more` writes into the dir before it is committed.
    pub fn save_with(
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

    /// Save into checkpoint `dir` (atomic, with a manifest) with `extra` files.
    pub fn save(&self, dir: &Path, extra: &[(&str, &Path)]) -> Result<()> {
        self.save_with(dir, extra, |_| Ok(()))
    }
}

/// Prefix of the embedding variables a generator shares with its discriminator.
const SHARED_EMBEDDINGS: &str = "electra.embeddings.";

/// `ElectraForMaskedLM`: the generator.
pub struct ElectraForMaskedLM {
    /// Its configuration.
    pub config: BertConfig,
    /// Its variables under HF names.
    pub vars: candle_nn::VarMap,
    encoder: Encoder,
    head: MlmHead,
}

/// Modules of a generator of `c` under the model root `vb`.
fn generator_parts(c: &BertConfig, vb: VarBuilder) -> CandleResult<(Encoder, MlmHead)> {
    Ok((Encoder::new(c, vb.pp("electra"))?, MlmHead::electra(c, vb)?))
}

impl ElectraForMaskedLM {
    /// A generator of `config` on `device`, initialised by `init`.
    pub fn new(config: &BertConfig, device: &Device, init: Init) -> Result<(Self, LoadReport)> {
        let ((encoder, head), vars) = build(device, |vb| generator_parts(config, vb))?;
        let report = initialise(&vars, config, init)?;
        Ok((Self::assemble(config, vars, encoder, head), report))
    }

    /// A fresh generator of `config` (seeded) that shares `disc`'s embeddings (word,
    /// position and token-type tables and their LayerNorm: the same variables), as
    /// ELECTRA pretrains them (Clark et al. 2020, §3.2: sharing them helps). The
    /// generator's `embedding_size` must be the discriminator's embedding width.
    pub fn sharing_embeddings(
        config: &BertConfig,
        disc: &ElectraForPreTraining,
        seed: u64,
    ) -> Result<Self> {
        let vars = candle_nn::VarMap::new();
        {
            let mut data = vars.data().lock().expect("VarMap lock poisoned");
            for (name, var) in named_vars(&disc.vars) {
                if name.starts_with(SHARED_EMBEDDINGS) {
                    data.insert(name, var);
                }
            }
        }
        let device = disc.encoder.embeddings.word.embeddings().device().clone();
        let ((encoder, head), vars) = build_in(vars, &device, |vb| generator_parts(config, vb))?;
        let own: Vec<_> = named_vars(&vars)
            .into_iter()
            .filter(|(name, _)| !name.starts_with(SHARED_EMBEDDINGS))
            .collect();
        init_named(&own, config, seed)?;
        Ok(Self::assemble(config, vars, encoder, head))
    }

    fn assemble(
        config: &BertConfig,
        vars: candle_nn::VarMap,
        encoder: Encoder,
        head: MlmHead,
    ) -> Self {
        Self {
            config: saved_as(config, "electra", "ElectraForMaskedLM", None),
            vars,
            encoder,
            head,
        }
    }

    /// Its variables not shared with a discriminator (all of them when it shares none).
    pub fn own_vars(&self) -> Vec<(String, candle_core::Var)> {
        named_vars(&self.vars)
            .into_iter()
            .filter(|(name, _)| !name.starts_with(SHARED_EMBEDDINGS))
            .collect()
    }

    /// The same model recording no autograd graph, for evaluation.
    pub fn detached(&self) -> Result<Self> {
        let vb = detached_builder(&self.vars, &self.encoder)?;
        let (encoder, head) = generator_parts(&self.config, vb)?;
        Ok(Self {
            config: self.config.clone(),
            vars: self.vars.clone(),
            encoder,
            head,
        })
    }

    /// Logits `(masked rows, vocab)` at the masked positions of `batch` only.
    pub fn forward(&self, batch: &BatchTensors, mode: &mut Mode) -> CandleResult<Tensor> {
        self.head.masked_logits(&self.encoder, batch, mode)
    }

    /// Save into checkpoint `dir` (atomic, with a manifest) with `extra` files such as
    /// `vocab.txt`.
    pub fn save(&self, dir: &Path, extra: &[(&str, &Path)]) -> Result<()> {
        checkpoint::save(dir, &self.config, &named_vars(&self.vars), extra)
    }
}

/// The head of `ElectraForSequenceClassification` under `classifier`: the pooled vector
/// (the first token's hidden state by default, as ELECTRA's authors do; dapt's other
/// poolings allowed), dropout, `dense`, GELU, dropout, `out_proj`.
pub struct ElectraHead {
    dense: Linear,
    out_proj: Linear,
    pooling: Pooling,
    dropout: f64,
    dropout_samples: usize,
}

impl ElectraHead {
    /// Builds the head under `vb` (= `classifier`).
    pub fn new(c: &BertConfig, num_labels: usize, vb: VarBuilder) -> CandleResult<Self> {
        let pooling = c.dapt_pooling.unwrap_or_default();
        Ok(Self {
            dense: linear(pooling.width(c.hidden_size), c.hidden_size, vb.pp("dense"))?,
            out_proj: linear(c.hidden_size, num_labels, vb.pp("out_proj"))?,
            pooling,
            dropout: head_dropout(c),
            dropout_samples: 1,
        })
    }

    /// Multi-sample dropout, as [`super::pair_head::PairHead::with_dropout_samples`].
    pub fn with_dropout_samples(mut self, n: usize) -> Self {
        self.dropout_samples = n.max(1);
        self
    }

    /// Logits `(batch, num_labels)` from last hidden states `(batch, seq, hidden)`.
    pub fn forward(&self, hidden: &Tensor, mask: &Tensor, mode: &mut Mode) -> CandleResult<Tensor> {
        let pooled = self.pooling.pool(hidden, mask, |first| Ok(first.clone()))?;
        sample_mean(mode, self.dropout_samples, |mode| {
            let x = self.dense.forward(&mode.dropout(&pooled, self.dropout)?)?;
            let x = mode.dropout(&ops::gelu_erf(&x)?, self.dropout)?;
            self.out_proj.forward(&x)
        })
    }
}
