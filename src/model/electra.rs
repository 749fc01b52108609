//! The ELECTRA family (Clark et al. 2020) under transformers' names: the encoder is
//! BERT's ([`Encoder`], with `embeddings_project` when `embedding_size` is narrower than
//! `hidden_size`) under the `electra.` prefix; the heads are the discriminator
//! (`ElectraForPreTraining`: is each token replaced?), the generator
//! (`ElectraForMaskedLM`, its decoder tied to the word embeddings) and the pair
//! classifier's head ([`ElectraHead`]; the classifier itself is
//! [`super::bert::SequenceClassifier`], which builds either family).

use std::path::Path;

use candle_core::{Device, Module, Result as CandleResult, Tensor};
use candle_nn::VarBuilder;

use anyhow::Result;

use super::bert::{build, initialise, saved_as, Init};
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

impl ElectraForPreTraining {
    /// A discriminator of `config` on `device`, initialised by `init`.
    pub fn new(config: &BertConfig, device: &Device, init: Init) -> Result<(Self, LoadReport)> {
        let ((encoder, dense, prediction), vars) = build(device, |vb| {
            let head = vb.pp("discriminator_predictions");
            Ok((
                Encoder::new(config, vb.pp("electra"))?,
                linear(config.hidden_size, config.hidden_size, head.pp("dense"))?,
                linear(config.hidden_size, 1, head.pp("dense_prediction"))?,
            ))
        })?;
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
        let x = ops::gelu_erf(&self.dense.forward(&h.reshape((b * s, hidden))?)?)?;
        let logits = self.prediction.forward(&x)?.reshape((b, s))?;
        let real = mask.to_dtype(logits.dtype())?;
        logits * real
    }

    /// Save into checkpoint `dir` (atomic, with a manifest) with `extra` files such as
    /// `vocab.txt`.
    pub fn save(&self, dir: &Path, extra: &[(&str, &Path)]) -> Result<()> {
        checkpoint::save(dir, &self.config, &named_vars(&self.vars), extra)
    }
}

/// `ElectraForMaskedLM`: the generator.
pub struct ElectraForMaskedLM {
    /// Its configuration.
    pub config: BertConfig,
    /// Its variables under HF names.
    pub vars: candle_nn::VarMap,
    encoder: Encoder,
    head: MlmHead,
}

impl ElectraForMaskedLM {
    /// A generator of `config` on `device`, initialised by `init`.
    pub fn new(config: &BertConfig, device: &Device, init: Init) -> Result<(Self, LoadReport)> {
        let ((encoder, head), vars) = build(device, |vb| {
            Ok((
                Encoder::new(config, vb.pp("electra"))?,
                MlmHead::electra(config, vb)?,
            ))
        })?;
        let report = initialise(&vars, config, init)?;
        let config = saved_as(config, "electra", "ElectraForMaskedLM", None);
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
