//! Starting a run from another: `--continue-from RUN` (a nightly run going on from last
//! night's) and `--init-from DIR` (a pretrained checkpoint over another vocabulary).
//!
//! Continuing restores the weights, the optimizer state and the step counter; where the
//! vocabulary grew, the per-token rows are aligned as `--init-from` does and the
//! optimizer state of each row follows its weights: a row copied from the old matrix
//! keeps its moments and Lookahead slow weights, any other row starts with zero moments
//! and slow weights equal to its new weights (a fresh parameter's state).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use candle_core::{Device, Tensor};
use clap::ValueEnum;

use super::config::PretrainConfig;
use super::objective::PretrainModel;
use super::state::TrainerState;
use crate::model::align::{AlignEmbeddings, RowSource};
use crate::model::checkpoint::TRAINER_STATE;
use crate::model::init_from::{init_from, per_token};
use crate::optim::{apply_state, read_state, Optimizer, STATE_FILE};
use crate::progress::info;
use crate::text::vocab::{TokenizerKind, Vocab};
use crate::train::checkpoints;
use crate::train::trainer::TrainedModel;

/// The checkpoint `--continue-from RUN` starts from: RUN itself if it is one, else the
/// newest valid checkpoint of run dir RUN.
pub fn run_checkpoint(run: &Path) -> Result<PathBuf> {
    if run.join(TRAINER_STATE).exists() {
        return Ok(run.to_path_buf());
    }
    match checkpoints::newest_valid(run)? {
        Some(dir) => Ok(dir),
        None => crate::bad_input!(
            "--continue-from {}: no checkpoint there (neither a checkpoint dir nor a pretrain --out holding one)",
            run.display()
        ),
    }
}

/// The `--init-from` alignment: `--align-embeddings`, by default `shared` for WordPiece
/// and `frequency` for word-level vocabularies.
pub fn init_rule(cfg: &PretrainConfig, vocab: &Vocab) -> AlignEmbeddings {
    // Word-level vocabularies are desensitized corpora's: `frequency` won the alignment
    // study there (bench/results/align_study.md).
    cfg.recipe
        .align_embeddings
        .unwrap_or(match vocab.meta.tokenizer {
            TokenizerKind::Wordpiece => AlignEmbeddings::Shared,
            TokenizerKind::Wordlevel => AlignEmbeddings::Frequency,
        })
}

/// Fill `model` from checkpoint `dir` over another vocabulary, its per-token rows
/// aligned by `rule`; returns where each row came from.
pub fn align_from(
    dir: &Path,
    model: &PretrainModel,
    vocab: &Vocab,
    rule: AlignEmbeddings,
    cfg: &PretrainConfig,
    init_range: f64,
) -> Result<Vec<RowSource>> {
    let mut reports = Vec::new();
    for (vars, from) in model.init_targets(dir) {
        reports.push(init_from(
            vars,
            &from,
            vocab,
            rule,
            init_range,
            cfg.run.seed,
        )?);
    }
    let (align, load, rows) = reports.pop().expect("the main model is always initialised");
    info(format!(
        "pretrain: initialised from {} (--align-embeddings {}): embedding rows special {}, shared {}, from pieces {}, frequency {}, random {}; newly initialised: {:?}",
        dir.display(),
        rule.to_possible_value().expect("no skipped variants").get_name(),
        align.special, align.shared, align.pieces, align.frequency, align.random, load.newly_initialized
    ));
    Ok(rows)
}

/// Restore `model` and `opt` from checkpoint `dir` of another run and return the state
/// this run starts in: that run's step counters, this run's data position (epoch 0).
pub fn continue_from(
    dir: &Path,
    model: &PretrainModel,
    opt: &mut dyn Optimizer,
    vocab: &Vocab,
    cfg: &PretrainConfig,
    init_range: f64,
) -> Result<TrainerState> {
    let before = TrainerState::load(&dir.join(TRAINER_STATE))?;
    let path = dir.join(STATE_FILE);
    let (_, mut tensors) = read_state(&path, opt)?;
    let same_vocab = Vocab::load(dir).is_ok_and(|v| v.sha256 == vocab.sha256);
    if same_vocab {
        model.load(dir)?;
    } else {
        // Last night's vocabulary grown by today's words: a token means what it meant
        // yesterday, so its row is copied by identity (`shared`), whatever the tokenizer.
        let rule = cfg
            .recipe
            .align_embeddings
            .unwrap_or(AlignEmbeddings::Shared);
        let rows = align_from(dir, model, vocab, rule, cfg, init_range)?;
        let params: HashMap<String, Tensor> = model
            .params()
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect();
        for (key, t) in tensors.iter_mut() {
            let Some((kind, name)) = key.split_once('.').and_then(|(opt, rest)| {
                let (kind, name) = rest.split_once('.')?;
                per_token(name).map(|_| ((opt, kind), name))
            }) else {
                continue;
            };
            let fresh = match kind {
                ("lookahead", "slow") => params.get(name).cloned(),
                ("adamw", "exp_avg" | "exp_avg_sq") => None,
                _ => continue,
            };
            *t = remap_state(t, &rows, fresh.as_ref())?;
        }
    }
    apply_state(&path, opt, tensors)?;
    info(format!(
        "pretrain: continuing {} from step {} (weights, optimizer state and step counter){}",
        dir.display(),
        before.step,
        if same_vocab {
            ""
        } else {
            "; the vocabulary grew: rows aligned, new rows' optimizer state fresh"
        }
    ));
    Ok(TrainerState {
        step: before.step,
        micro_step: before.micro_step,
        tokens_seen: before.tokens_seen,
        seed: cfg.run.seed,
        ..TrainerState::default()
    })
}

/// Optimizer state `old` of a per-token tensor, rearranged by `rows`: a copied row keeps
/// its state; any other row gets the row of `fresh` (the new weights, for slow weights)
/// or zeros (moments).
fn remap_state(old: &Tensor, rows: &[RowSource], fresh: Option<&Tensor>) -> Result<Tensor> {
    let dims = old.dims().to_vec();
    let width: usize = dims[1..].iter().product();
    let old_rows: Vec<f32> = old.flatten_all()?.to_vec1()?;
    let fresh_rows: Option<Vec<f32>> = match fresh {
        Some(t) => Some(t.to_device(&Device::Cpu)?.flatten_all()?.to_vec1()?),
        None => None,
    };
    let mut out = Vec::with_capacity(rows.len() * width);
    for (i, row) in rows.iter().enumerate() {
        match (row, &fresh_rows) {
            (RowSource::Copy(j), _) => out.extend_from_slice(&old_rows[j * width..(j + 1) * width]),
            (_, Some(f)) => out.extend_from_slice(&f[i * width..(i + 1) * width]),
            (_, None) => out.extend(std::iter::repeat_n(0.0, width)),
        }
    }
    let mut shape = dims;
    shape[0] = rows.len();
    Ok(Tensor::from_vec(out, shape, &Device::Cpu)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_rows_keep_their_state_and_other_rows_start_fresh() {
        // Old state of a 3-token vocabulary, 2 wide; the new vocabulary has 4 tokens:
        // old rows 2 and 0 copied, one row averaged from pieces, one drawn at random.
        let old = Tensor::new(&[[1f32, 2.], [3., 4.], [5., 6.]], &Device::Cpu).unwrap();
        let rows = [
            RowSource::Copy(2),
            RowSource::Mean(vec![0, 1]),
            RowSource::Copy(0),
            RowSource::Random,
        ];
        let moments = remap_state(&old, &rows, None).unwrap();
        assert_eq!(
            moments.to_vec2::<f32>().unwrap(),
            [[5., 6.], [0., 0.], [1., 2.], [0., 0.]]
        );
        let weights =
            Tensor::new(&[[9f32, 9.], [7., 8.], [9., 9.], [-1., 0.5]], &Device::Cpu).unwrap();
        let slow = remap_state(&old, &rows, Some(&weights)).unwrap();
        assert_eq!(
            slow.to_vec2::<f32>().unwrap(),
            [[5., 6.], [7., 8.], [1., 2.], [-1., 0.5]]
        );
        // A per-token bias (1-D) is rearranged the same way.
        let bias = Tensor::new(&[0.1f32, 0.2, 0.3], &Device::Cpu).unwrap();
        let bias = remap_state(&bias, &rows, None).unwrap();
        assert_eq!(bias.to_vec1::<f32>().unwrap(), [0.3, 0., 0.1, 0.]);
    }
}
