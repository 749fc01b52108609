//! `trainer_state.json`: where a run stands, everything besides weights and optimizer
//! state that an exact resume needs. All randomness is keyed by (seed, counters), so
//! the counters are the whole random state.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error::InputError;

/// The position of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps taken.
    pub step: u64,
    /// Micro-batches drawn (the key of their masks and dropout).
    pub micro_step: u64,
    /// Current epoch (0-based).
    pub epoch: u64,
    /// Next batch of the current epoch's plan.
    pub batch_in_epoch: usize,
    /// Real (non-padding) tokens trained on.
    pub tokens_seen: u64,
    /// Seconds spent training, over all resumed segments.
    pub train_seconds: f64,
    /// The seed everything is keyed by.
    pub seed: u64,
    /// Whether the run reached its planned end.
    pub finished: bool,
    /// Processes of the data-parallel run (1 in state files from before it existed):
    /// another world size slices the batches differently from there on.
    #[serde(default = "one")]
    pub world_size: usize,
}

fn one() -> usize {
    1
}

impl TrainerState {
    /// Write as pretty JSON to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Read from `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InputError::at_path(path, format!("cannot read trainer state: {e}")))?;
        Ok(serde_json::from_str(&text)
            .map_err(|e| InputError::at_path(path, format!("not a dapt trainer state: {e}")))?)
    }
}
