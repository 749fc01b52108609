//! `BertForMaskedLM`, the model dapt pretrains, owning its variables under
//! transformers' names. (The pair classifier of every family is in
//! [`super::classifier`]; the building blocks they share in [`super::build`].)

use std::path::Path;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;

use super::build::{build, detached_builder, initialise, saved_as, Init};
use super::checkpoint::{self, LoadReport};
use super::dropout::Mode;
use super::encoder::Encoder;
use super::mlm_head::{mlm_loss, MlmHead};
use super::params::named_vars;
use super::BertConfig;
use crate::data::collate::BatchTensors;

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
