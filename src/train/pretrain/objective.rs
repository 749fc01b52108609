//! The model a pretraining run trains, by `--objective`: a BERT masked-LM, or an ELECTRA
//! generator and discriminator doing replaced-token detection. The training loop sees
//! one loss, one parameter list and one checkpoint layout either way.

use std::path::{Path, PathBuf};

use anyhow::Result;
use candle_core::{Tensor, Var};
use candle_nn::VarMap;

use super::args::ObjectiveFlag;
use super::config::PretrainConfig;
use crate::data::collate::{Batch, BatchTensors, Collator};
use crate::model::bert::BertForMaskedLM;
use crate::model::build::Init;
use crate::model::checkpoint;
use crate::model::dropout::Mode;
use crate::model::params::named_vars;
use crate::model::rtd::{check_generator, generator_config, sample_tokens, Rtd, GENERATOR_DIR};
use crate::model::BertConfig;
use crate::progress::info;
use crate::train::trainer::TrainedModel;

/// What `dapt pretrain` trains.
pub enum PretrainModel {
    /// `BertForMaskedLM` (`--objective mlm`).
    Mlm(Box<BertForMaskedLM>),
    /// ELECTRA's generator and discriminator (`--objective rtd`).
    Rtd(Box<Rtd>),
}

/// The loss of one micro-batch.
pub struct StepLoss {
    /// What is minimised (scalar).
    pub loss: Tensor,
    /// rtd: the generator's and the discriminator's losses, for the log.
    pub parts: Option<(f64, f64)>,
}

impl PretrainModel {
    /// A fresh model of `config` for the run of `cfg` on `device`.
    pub fn new(
        config: &BertConfig,
        cfg: &PretrainConfig,
        device: &candle_core::Device,
    ) -> Result<Self> {
        Ok(match cfg.recipe.objective {
            ObjectiveFlag::Mlm => PretrainModel::Mlm(Box::new(
                BertForMaskedLM::new(config, device, Init::Fresh(cfg.run.seed))?.0,
            )),
            ObjectiveFlag::Rtd => {
                // A dapt rtd checkpoint brings its generator's shape along.
                let saved = cfg
                    .recipe
                    .init_from
                    .as_ref()
                    .map(|d| d.join(GENERATOR_DIR).join(checkpoint::CONFIG))
                    .filter(|p| p.exists());
                let gen = match saved {
                    Some(path) => rtd_generator_config(config, &path.to_string_lossy())?,
                    None => rtd_generator_config(config, &cfg.recipe.generator_size)?,
                };
                if !(cfg.recipe.disc_weight > 0.0 && cfg.recipe.disc_weight.is_finite()) {
                    crate::bad_input!(
                        "--disc-weight {} must be positive (the paper's 50)",
                        cfg.recipe.disc_weight
                    );
                }
                info(format!(
                    "pretrain: replaced-token detection with a generator of {} layers, hidden {}, {} heads (--generator-size {}), --disc-weight {}",
                    gen.num_hidden_layers, gen.hidden_size, gen.num_attention_heads, cfg.recipe.generator_size, cfg.recipe.disc_weight
                ));
                PretrainModel::Rtd(Box::new(Rtd::new(
                    config,
                    &gen,
                    device,
                    cfg.run.seed,
                    cfg.recipe.disc_weight,
                )?))
            }
        })
    }

    /// Number of trained parameters.
    pub fn num_parameters(&self) -> usize {
        self.params().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// What `--init-from DIR` fills, in order, each from its checkpoint dir: the MLM from
    /// DIR; under rtd the generator from `DIR/generator/` when there is one (a dapt rtd
    /// checkpoint; otherwise it starts fresh), then the discriminator from DIR, last, so
    /// the embeddings they share are the discriminator's.
    pub fn init_targets(&self, dir: &Path) -> Vec<(&VarMap, PathBuf)> {
        match self {
            PretrainModel::Mlm(m) => vec![(&m.vars, dir.to_path_buf())],
            PretrainModel::Rtd(r) => {
                let gen = dir.join(GENERATOR_DIR);
                let mut targets = Vec::new();
                if gen.join(checkpoint::CONFIG).exists() {
                    targets.push((&r.generator.vars, gen));
                }
                targets.push((&r.discriminator.vars, dir.to_path_buf()));
                targets
            }
        }
    }

    /// The loss of `batch` (`t` on the device); `(seed, counter)` key the generator's
    /// samples under rtd.
    pub fn loss(
        &self,
        batch: &Batch,
        t: &BatchTensors,
        collator: &Collator,
        key: (u64, u64),
        mode: &mut Mode,
    ) -> Result<StepLoss> {
        Ok(match self {
            PretrainModel::Mlm(m) => StepLoss {
                loss: m.loss(t, mode)?.loss,
                parts: None,
            },
            PretrainModel::Rtd(r) => {
                let out = r.loss(
                    batch,
                    t,
                    collator,
                    |logits| sample_tokens(logits, key.0, key.1),
                    mode,
                )?;
                let parts = (
                    out.gen_loss.to_scalar::<f32>()? as f64,
                    out.disc_loss.to_scalar::<f32>()? as f64,
                );
                StepLoss {
                    loss: out.loss,
                    parts: Some(parts),
                }
            }
        })
    }

    /// The same model recording no autograd graph, for evaluation.
    pub fn detached(&self) -> Result<Self> {
        Ok(match self {
            PretrainModel::Mlm(m) => PretrainModel::Mlm(Box::new(m.detached()?)),
            PretrainModel::Rtd(r) => PretrainModel::Rtd(Box::new(r.detached()?)),
        })
    }
}

/// The generator's configuration from `--generator-size`: a fraction, or a config.json.
fn rtd_generator_config(disc: &BertConfig, size: &str) -> Result<BertConfig> {
    if let Ok(fraction) = size.parse::<f64>() {
        return generator_config(disc, fraction).map_err(|e| crate::error::InputError(e).into());
    }
    let path = Path::new(size);
    if !path.is_file() {
        crate::bad_input!(
            "--generator-size {size}: neither a fraction (e.g. 0.25) nor a config.json file"
        );
    }
    let mut gen = BertConfig::read(path)?;
    gen.vocab_size = disc.vocab_size;
    gen.dapt_match_embedding = disc.dapt_match_embedding;
    check_generator(&gen, disc)
        .map_err(|e| crate::error::InputError(format!("--generator-size {size}: {e}")))?;
    Ok(gen)
}

impl TrainedModel for PretrainModel {
    /// Every trained variable once, under a unique name (the optimizer's keys).
    fn params(&self) -> Vec<(String, Var)> {
        match self {
            PretrainModel::Mlm(m) => named_vars(&m.vars),
            PretrainModel::Rtd(r) => r.params(),
        }
    }

    /// The checkpoint in `dir` (rtd: the discriminator there, the generator in
    /// `dir/generator/`).
    fn save(
        &self,
        dir: &Path,
        extra: &[(&str, &Path)],
        write_more: &mut dyn FnMut(&Path) -> Result<()>,
    ) -> Result<()> {
        match self {
            PretrainModel::Mlm(m) => m.save(dir, extra, write_more),
            PretrainModel::Rtd(r) => r.save_with(dir, extra, write_more),
        }
    }

    fn load(&self, dir: &Path) -> Result<()> {
        match self {
            PretrainModel::Mlm(m) => checkpoint::load_all(dir, &m.vars),
            PretrainModel::Rtd(r) => r.load(dir),
        }
    }
}
