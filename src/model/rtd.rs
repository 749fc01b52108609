//! Replaced-token detection, ELECTRA's pretraining task (Clark et al. 2020): a small
//! generator (an MLM) fills the masked positions with tokens sampled from its own
//! distribution, and the discriminator tells for every real token whether it was
//! replaced, so it learns from all tokens instead of the masked 15%. The two share their
//! embeddings and train together on `generator loss + disc_weight * discriminator loss`;
//! the sampling passes no gradient (the generator is trained by its MLM loss only).

use std::path::Path;

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use rayon::prelude::*;

use super::build::Init;
use super::checkpoint;
use super::dropout::Mode;
use super::electra::{ElectraForMaskedLM, ElectraForPreTraining};
use super::mlm_head::mlm_loss;
use super::params::named_vars;
use super::BertConfig;
use crate::data::collate::{Batch, BatchTensors, Collator};
use crate::data::rng::{keyed_rng, Purpose};

/// Subdirectory of a pretraining checkpoint (the discriminator's dir) holding the
/// generator's Hugging Face dir.
pub const GENERATOR_DIR: &str = "generator";

/// Prefix of the generator's own variables among the trained parameters (and in the
/// optimizer state); the shared embeddings go by the discriminator's names.
const GENERATOR_PREFIX: &str = "generator.";

/// Keeps the generator's initial draws apart from the discriminator's of the same seed.
const GENERATOR_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The generator's configuration for a discriminator of `disc`: hidden size, heads and
/// feed-forward width scaled by `size` (ELECTRA's `generator_hidden_size`; 1/4 worked best
/// in the paper, §3.2), the same depth, and the discriminator's embedding width, since
/// the embeddings are shared. `size` must be in (0, 1]: a generator larger than the
/// discriminator makes its task too hard (the paper's Figure 3).
pub fn generator_config(disc: &BertConfig, size: f64) -> std::result::Result<BertConfig, String> {
    if !(size > 0.0 && size <= 1.0) {
        return Err(format!(
            "--generator-size {size}: must be in (0, 1], a fraction of the discriminator's hidden size (a generator larger than the discriminator makes its task too hard; 0.25 works best in the ELECTRA paper)"
        ));
    }
    let scale = |n: usize| ((n as f64 * size).round() as usize).max(1);
    let mut c = disc.clone();
    c.hidden_size = scale(disc.hidden_size);
    c.num_attention_heads = scale(disc.num_attention_heads);
    c.intermediate_size = scale(disc.intermediate_size);
    c.embedding_size = Some(disc.embedding_width());
    if !c.hidden_size.is_multiple_of(c.num_attention_heads) {
        return Err(format!(
            "--generator-size {size}: gives hidden size {} and {} attention heads, which do not divide; choose a size such as 0.25 or 0.5, or give a generator config.json",
            c.hidden_size, c.num_attention_heads
        ));
    }
    Ok(c)
}

/// Check a generator configuration read from a file against its discriminator's: no
/// larger, and the same embedding tables (they are shared).
pub fn check_generator(gen: &BertConfig, disc: &BertConfig) -> std::result::Result<(), String> {
    if gen.hidden_size > disc.hidden_size || gen.num_hidden_layers > disc.num_hidden_layers {
        return Err(format!(
            "the generator ({} layers, hidden {}) is larger than the discriminator ({} layers, hidden {}): its replacements would be too hard to detect; use a smaller generator (e.g. --generator-size 0.25)",
            gen.num_hidden_layers, gen.hidden_size, disc.num_hidden_layers, disc.hidden_size
        ));
    }
    let tables = |c: &BertConfig| {
        (
            c.embedding_width(),
            c.max_position_embeddings,
            c.type_vocab_size,
        )
    };
    if tables(gen) != tables(disc) {
        return Err(format!(
            "the generator's embeddings (embedding_size, max_position_embeddings, type_vocab_size) = {:?} differ from the discriminator's {:?}; they are shared, so they must match",
            tables(gen),
            tables(disc)
        ));
    }
    Ok(())
}

/// Generator and discriminator trained together.
pub struct Rtd {
    /// The generator (`ElectraForMaskedLM`), sharing the discriminator's embeddings.
    pub generator: ElectraForMaskedLM,
    /// The discriminator (`ElectraForPreTraining`): the model to fine-tune.
    pub discriminator: ElectraForPreTraining,
    /// Weight of the discriminator's loss (50 in the paper: its per-token binary loss is
    /// far smaller than the generator's over the vocabulary).
    pub disc_weight: f64,
}

/// One replaced-token-detection forward pass.
pub struct RtdOutput {
    /// `gen_loss + disc_weight * disc_loss` (scalar).
    pub loss: Tensor,
    /// The generator's mean cross-entropy over the masked positions.
    pub gen_loss: Tensor,
    /// The discriminator's mean binary cross-entropy over the real tokens.
    pub disc_loss: Tensor,
    /// The generator's logits `(masked rows, vocab)`.
    pub gen_logits: Tensor,
    /// The discriminator's logits `(tokens,)` over the real tokens, row-major.
    pub disc_logits: Tensor,
    /// Whether each real token (row-major) was replaced by a token other than the
    /// original: the discriminator's target.
    pub replaced: Vec<bool>,
}

impl Rtd {
    /// Fresh models of `disc_config` and `gen_config` on `device`, seeded.
    pub fn new(
        disc_config: &BertConfig,
        gen_config: &BertConfig,
        device: &Device,
        seed: u64,
        disc_weight: f64,
    ) -> Result<Self> {
        let (discriminator, _) =
            ElectraForPreTraining::new(disc_config, device, Init::Fresh(seed))?;
        let generator = ElectraForMaskedLM::sharing_embeddings(
            gen_config,
            &discriminator,
            seed ^ GENERATOR_SEED,
        )?;
        Ok(Self {
            generator,
            discriminator,
            disc_weight,
        })
    }

    /// Every trained variable once: the discriminator's under its names, the generator's
    /// own under `generator.` (the shared embeddings are the discriminator's).
    pub fn params(&self) -> Vec<(String, Var)> {
        let mut params = named_vars(&self.discriminator.vars);
        params.extend(
            self.generator
                .own_vars()
                .into_iter()
                .map(|(name, var)| (format!("{GENERATOR_PREFIX}{name}"), var)),
        );
        params
    }

    /// Forward pass of both models over `batch` (masked by the collator; `t` is it on the
    /// device): the generator predicts the masked tokens, `sample` picks a replacement at
    /// each from the generator's logits (in training [`sample_tokens`]), and the
    /// discriminator scores every real token of the result.
    pub fn loss(
        &self,
        batch: &Batch,
        t: &BatchTensors,
        collator: &Collator,
        sample: impl FnOnce(&Tensor) -> Result<Vec<u32>>,
        mode: &mut Mode,
    ) -> Result<RtdOutput> {
        let device = t.input_ids.device();
        // f32 for the sampler and the caller's metrics, also under bf16 products.
        let gen_logits = self.generator.forward(t, mode)?.to_dtype(DType::F32)?;
        let gen_loss = mlm_loss(&gen_logits, &t.masked_labels)?;
        let samples = sample(&gen_logits)?;
        let corrupted = collator.replaced(batch, &samples);
        let mut replaced_at = vec![false; batch.input_ids.len()];
        for ((&p, &s), &l) in batch
            .masked_positions
            .iter()
            .zip(&samples)
            .zip(&batch.masked_labels)
        {
            replaced_at[p as usize] = s != l;
        }
        let replaced: Vec<bool> = replaced_at
            .iter()
            .zip(&batch.attention_mask)
            .filter(|(_, &m)| m == 1)
            .map(|(&r, _)| r)
            .collect();
        let disc_logits = self
            .discriminator
            .token_logits(&corrupted.to_tensors(device)?, mode)?;
        let targets: Vec<f32> = replaced.iter().map(|&r| f32::from(u8::from(r))).collect();
        let targets = Tensor::from_vec(targets, replaced.len(), device)?;
        let disc_loss = bce_with_logits(&disc_logits, &targets)?;
        let loss = (&gen_loss + (&disc_loss * self.disc_weight)?)?;
        Ok(RtdOutput {
            loss,
            gen_loss,
            disc_loss,
            gen_logits,
            disc_logits,
            replaced,
        })
    }

    /// Both models recording no autograd graph, for evaluation.
    pub fn detached(&self) -> Result<Self> {
        Ok(Self {
            generator: self.generator.detached()?,
            discriminator: self.discriminator.detached()?,
            disc_weight: self.disc_weight,
        })
    }

    /// Save the discriminator into checkpoint `dir` and the generator into
    /// `dir/generator/` (both Hugging Face dirs with `extra` files such as `vocab.txt`),
    /// plus whatever `write_more` writes into `dir`; atomic as one dir.
    pub fn save_with(
        &self,
        dir: &Path,
        extra: &[(&str, &Path)],
        write_more: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        self.discriminator.save_with(dir, extra, |tmp| {
            self.generator.save(&tmp.join(GENERATOR_DIR), extra)?;
            write_more(tmp)
        })
    }

    /// Load both models from a checkpoint written by [`Rtd::save_with`], refusing one
    /// that lacks any of their parameters.
    pub fn load(&self, dir: &Path) -> Result<()> {
        let gen_dir = dir.join(GENERATOR_DIR);
        checkpoint::load_all(dir, &self.discriminator.vars)?;
        checkpoint::load_all(&gen_dir, &self.generator.vars)?;
        Ok(())
    }
}

/// One token per row of `logits (rows, vocab)`, sampled from its softmax (temperature 1,
/// as ELECTRA does) with row `i`'s own stream keyed by `(seed, counter, i)`: the same
/// draws whatever the thread count, and again after a resume.
pub fn sample_tokens(logits: &Tensor, seed: u64, counter: u64) -> Result<Vec<u32>> {
    let probs = candle_nn::ops::softmax_last_dim(&logits.detach())?
        .to_dtype(DType::F32)?
        .to_vec2::<f32>()?;
    Ok(probs
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let total: f64 = p.iter().map(|&x| x as f64).sum();
            let u = keyed_rng(seed, counter, i as u64, Purpose::Replace).random::<f64>() * total;
            let mut acc = 0.0;
            for (id, &x) in p.iter().enumerate() {
                acc += x as f64;
                if acc > u {
                    return id as u32;
                }
            }
            // Rounding left u at the very top: the last token with any probability.
            p.iter().rposition(|&x| x > 0.0).unwrap_or(0) as u32
        })
        .collect())
}

/// Mean binary cross-entropy of `logits` against 0/1 `targets` (same shape), in the
/// stable form `max(x, 0) - x*y + log(1 + exp(-|x|))` (PyTorch's
/// `BCEWithLogitsLoss`).
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let softplus_neg_abs = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((logits.relu()? - (logits * targets)?)? + softplus_neg_abs)?.mean_all()
}
