//! Training checkpoints: `RUN/step-NNNNNNNN/` holds the weights (the Hugging Face
//! layout), the optimizer state with the schedule and step, the techniques' state
//! tensors, the loop's own state (counters, best evaluation) as `trainer_state.json`, and
//! the vocabulary files. Written to a temporary dir and renamed; `RUN/latest` points at
//! the newest; old ones rotate ([`crate::train::checkpoints`]).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use serde::Serialize;

use super::Trainer;
use crate::model::checkpoint;
use crate::model::checkpoint::TRAINER_STATE;
use crate::model::classifier::SequenceClassifier;
use crate::model::params::named_vars;
use crate::optim::{load_state, save_state, NamedParam, Resume, STATE_FILE};
use crate::room;
use crate::train::checkpoints;

/// The techniques' state inside a training checkpoint (EMA shadow, SWA snapshots), when
/// they have any.
const TECHNIQUE_FILE: &str = "average.safetensors";

/// A model a training checkpoint holds: its parameters, and how its weights are written
/// to and read from a checkpoint dir.
pub trait TrainedModel {
    /// Every trained variable once, under its checkpoint name.
    fn params(&self) -> Vec<NamedParam>;

    /// Write the weights into `dir` (atomically) with `extra` files (name, source) and
    /// whatever `write_more` adds to the temporary dir before it is renamed.
    fn save(
        &self,
        dir: &Path,
        extra: &[(&str, &Path)],
        write_more: &mut dyn FnMut(&Path) -> Result<()>,
    ) -> Result<()>;

    /// Read the weights of a dir written by [`TrainedModel::save`].
    fn load(&self, dir: &Path) -> Result<()>;
}

impl Trainer<'_> {
    /// Save a checkpoint of `model` after `step` optimizer steps into the run dir with
    /// the vocabulary `files` and the loop's `state`, point `latest` at it and keep the
    /// newest `keep_last` (0: all). Weights that are no longer finite are never saved:
    /// `latest` keeps pointing at the last good checkpoint.
    pub fn save(
        &self,
        model: &dyn TrainedModel,
        step: u64,
        keep_last: usize,
        files: &[(&str, &Path)],
        state: &impl Serialize,
    ) -> Result<()> {
        let params = model.params();
        for (name, var) in &params {
            let sum = var.as_tensor().sqr()?.sum_all()?.to_scalar::<f32>()?;
            if !sum.is_finite() {
                let last = checkpoints::latest(&self.run_dir)
                    .map_or("none".into(), |p| p.display().to_string());
                anyhow::bail!(
                    "{}{name} is no longer finite after step {step}: training diverged; the last good checkpoint is {last} (`latest` still points at it). Lower --lr or raise --warmup-ratio, then --resume auto",
                    self.label
                );
            }
        }
        let name = checkpoints::step_dir_name(step);
        let dir = self.run_dir.join(&name);
        let mut technique_state = Vec::new();
        for t in &self.techniques {
            technique_state.extend(t.state_tensors(self.params())?);
        }
        let bytes = room::tensors_bytes(params.iter().map(|(_, v)| v.as_tensor()))
            + room::tensors_bytes(self.opt.state_tensors()?.iter().map(|(_, t)| t))
            + room::tensors_bytes(technique_state.iter().map(|(_, t)| t));
        room::ensure_room(&dir, bytes)?;
        let json = serde_json::to_string_pretty(state)? + "\n";
        let mut technique_state = Some(technique_state).filter(|t| !t.is_empty());
        model.save(&dir, files, &mut |tmp| {
            save_state(
                &tmp.join(STATE_FILE),
                self.opt.as_ref(),
                &self.schedule,
                step,
            )?;
            if let Some(tensors) = technique_state.take() {
                let tensors: HashMap<String, Tensor> = tensors.into_iter().collect();
                candle_core::safetensors::save(&tensors, tmp.join(TECHNIQUE_FILE))?;
            }
            let path = tmp.join(TRAINER_STATE);
            std::fs::write(&path, &json).with_context(|| format!("writing {}", path.display()))
        })?;
        checkpoints::set_latest(&self.run_dir, &name)?;
        checkpoints::rotate(&self.run_dir, keep_last)
    }

    /// Restore `model`, the optimizer and the techniques from checkpoint `dir`; the
    /// optimizer's schedule and step as saved.
    pub fn restore(&mut self, model: &dyn TrainedModel, dir: &Path) -> Result<Resume> {
        model.load(dir)?;
        let restored = load_state(&dir.join(STATE_FILE), self.opt.as_mut())?;
        let file = dir.join(TECHNIQUE_FILE);
        let mut tensors = match file.exists() {
            true => candle_core::safetensors::load(&file, &Device::Cpu)
                .with_context(|| format!("reading {}", file.display()))?,
            false => HashMap::new(),
        };
        for t in &mut self.techniques {
            t.load_state(self.opt.params(), &mut tensors)?;
        }
        Ok(restored)
    }
}

impl TrainedModel for SequenceClassifier {
    fn params(&self) -> Vec<NamedParam> {
        named_vars(&self.vars)
    }

    fn save(
        &self,
        dir: &Path,
        extra: &[(&str, &Path)],
        write_more: &mut dyn FnMut(&Path) -> Result<()>,
    ) -> Result<()> {
        checkpoint::save_with(
            dir,
            &self.config,
            &named_vars(&self.vars),
            extra,
            write_more,
        )
    }

    fn load(&self, dir: &Path) -> Result<()> {
        checkpoint::load_all(dir, &self.vars)
    }
}
