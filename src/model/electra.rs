//! The ELECTRA family (Clark et al. 2020) under transformers' names: the encoder is
//! BERT's ([`Encoder`], with `embeddings_project` when `embedding_size` is narrower than
//! `hidden_size`) under the `electra.` prefix; the heads are the discriminator
//! (`ElectraForPreTraining`: is each token replaced?), the generator
//! (`ElectraForMaskedLM`, its decoder tied to the word embeddings) and the pair classifier
//! (`ElectraForSequenceClassification`: dense, GELU, out_proj on the first token).

use candle_core::{Device, Module, Result as CandleResult, Tensor};

use anyhow::Result;

use super::bert::{build, initialise, saved_as, Init};
use super::checkpoint::LoadReport;
use super::dropout::Mode;
use super::encoder::Encoder;
use super::linear::{linear, Linear};
use super::mlm_head::MlmHead;
use super::ops;
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
}

/// `ElectraForSequenceClassification`: the pair classifier.
pub struct ElectraForSequenceClassification {
    /// Its configuration (with `num_labels`).
    pub config: BertConfig,
    /// Its variables under HF names.
    pub vars: candle_nn::VarMap,
    encoder: Encoder,
    dense: Linear,
    out_proj: Linear,
    dropout: f64,
}

impl ElectraForSequenceClassification {
    /// A classifier with `num_labels` classes of `config` on `device`, initialised by `init`.
    pub fn new(
        config: &BertConfig,
        num_labels: usize,
        device: &Device,
        init: Init,
    ) -> Result<(Self, LoadReport)> {
        let ((encoder, dense, out_proj), vars) = build(device, |vb| {
            let head = vb.pp("classifier");
            Ok((
                Encoder::new(config, vb.pp("electra"))?,
                linear(config.hidden_size, config.hidden_size, head.pp("dense"))?,
                linear(config.hidden_size, num_labels, head.pp("out_proj"))?,
            ))
        })?;
        let report = initialise(&vars, config, init)?;
        let config = saved_as(
            config,
            "electra",
            "ElectraForSequenceClassification",
            Some(num_labels),
        );
        // transformers: `classifier_dropout` when set, else `hidden_dropout_prob`.
        let dropout = config
            .classifier_dropout
            .unwrap_or(config.hidden_dropout_prob);
        Ok((
            Self {
                config,
                vars,
                encoder,
                dense,
                out_proj,
                dropout,
            },
            report,
        ))
    }

    /// Logits `(batch, num_labels)`: dropout, dense, GELU, dropout, out_proj on the first
    /// token.
    pub fn forward(
        &self,
        ids: &Tensor,
        types: &Tensor,
        mask: &Tensor,
        mode: &mut Mode,
    ) -> CandleResult<Tensor> {
        let h = self.encoder.forward(ids, types, None, mask, mode)?;
        let first = h.narrow(1, 0, 1)?.squeeze(1)?;
        let x = self.dense.forward(&mode.dropout(&first, self.dropout)?)?;
        let x = mode.dropout(&ops::gelu_erf(&x)?, self.dropout)?;
        self.out_proj.forward(&x)
    }
}
