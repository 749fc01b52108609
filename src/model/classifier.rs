//! The sequence classifier of every family under transformers' names:
//! `BertForSequenceClassification` and `ElectraForSequenceClassification`.

use std::path::Path;

use anyhow::Result;
use candle_core::{Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::build::{build, detached_builder, initialise, saved_as, Init};
use super::checkpoint::{self, LoadReport};
use super::dropout::Mode;
use super::electra::ElectraHead;
use super::encoder::Encoder;
use super::pair_head::PairHead;
use super::params::named_vars;
use super::BertConfig;

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
    /// `dapt_match_embedding` ([`crate::data::pair_batch::PairTensors`] carries them).
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
