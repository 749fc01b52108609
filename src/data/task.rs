//! Which fine-tuning task a run trains (`--task`): what its inputs are and which of the
//! pair-level augmentations keep a label true. A fine-tuned checkpoint records it in
//! config.json as `dapt_task` (absent: pair classification, what every dapt before it
//! trained), so `predict` and `eval` know it without a flag.

use anyhow::Result;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::data::augment::AugmentRule;
use crate::data::uda_augment::UdaRule;

/// A kind of fine-tuning task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    /// Classes of sentence pairs whose order does not matter (paraphrase, query
    /// matching): swapping a pair keeps its label, so `--augment swap`, `--augment
    /// closure` and `--tta swap` apply.
    #[default]
    PairClassification,
    /// Natural-language inference: classes of ordered pairs (premise, hypothesis), e.g.
    /// entailment / neutral / contradiction. Swapping a pair changes its label, so the
    /// swap and closure augmentations and swap TTA are refused.
    Nli,
}

impl TaskKind {
    /// The `--task` value.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::PairClassification => "pair-classification",
            TaskKind::Nli => "nli",
        }
    }

    /// Whether swapping a pair's two texts keeps its label.
    pub fn symmetric(self) -> bool {
        self == TaskKind::PairClassification
    }

    /// The task of a checkpoint's `dapt_task` (absent: pair classification).
    pub fn of_config(recorded: Option<TaskKind>) -> TaskKind {
        recorded.unwrap_or_default()
    }

    /// What config.json records for it: nothing for pair classification, so the
    /// checkpoints of that task stay as before.
    pub fn recorded(self) -> Option<TaskKind> {
        (self != TaskKind::PairClassification).then_some(self)
    }

    /// Refuse (exit 2) the augmentations that would change the labels of this task.
    pub fn check_augment(self, augment: &[AugmentRule]) -> Result<()> {
        if self.symmetric() {
            return Ok(());
        }
        if let Some(rule) = augment.first() {
            let (flag, what) = match rule {
                AugmentRule::Swap => (
                    "swap",
                    "swap would train on (hypothesis, premise) with the label of (premise, hypothesis)",
                ),
                AugmentRule::Closure => (
                    "closure",
                    "closure infers labels by treating pairs as symmetric matches",
                ),
            };
            crate::bad_input!(
                "--augment {flag} with --task {}: a pair's order matters in this task and {what}; drop --augment",
                self.name()
            );
        }
        Ok(())
    }

    /// Refuse (exit 2) UDA's `pair-swap` noise for a task whose pairs are ordered: the
    /// consistency term would teach the model that swapped pairs mean the same.
    pub fn check_uda(self, rules: &[UdaRule]) -> Result<()> {
        if !self.symmetric() && rules.contains(&UdaRule::PairSwap) {
            crate::bad_input!(
                "--uda-augment pair-swap with --task {}: a pair's order matters in this task, so a swapped copy is not the same example; use tfidf, delete or span-swap",
                self.name()
            );
        }
        Ok(())
    }

    /// Refuse (exit 2) swap test-time augmentation for a task whose pairs are ordered;
    /// `model` names the checkpoint.
    pub fn check_swap_tta(self, model: &std::path::Path) -> Result<()> {
        if !self.symmetric() {
            crate::bad_input!(
                "--tta swap: {} was fine-tuned with --task {}, where a pair's order matters (swapping premise and hypothesis changes the answer); drop --tta swap",
                model.display(),
                self.name()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_symmetric_tasks_take_swaps() {
        let both = [AugmentRule::Swap, AugmentRule::Closure];
        assert!(TaskKind::PairClassification.check_augment(&both).is_ok());
        for rule in both {
            let err = TaskKind::Nli
                .check_augment(&[rule])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("drop --augment") && err.contains("--task nli"),
                "{err}"
            );
        }
        assert!(TaskKind::Nli.check_augment(&[]).is_ok());
        let uda = [UdaRule::Tfidf, UdaRule::PairSwap];
        assert!(TaskKind::PairClassification.check_uda(&uda).is_ok());
        assert!(TaskKind::Nli.check_uda(&uda).is_err());
        assert!(TaskKind::Nli.check_uda(&uda[..1]).is_ok());
        let dir = std::path::Path::new("m");
        assert!(TaskKind::PairClassification.check_swap_tta(dir).is_ok());
        assert!(TaskKind::Nli.check_swap_tta(dir).is_err());
    }

    #[test]
    fn config_json_names_only_other_tasks() {
        assert_eq!(TaskKind::PairClassification.recorded(), None);
        assert_eq!(TaskKind::Nli.recorded(), Some(TaskKind::Nli));
        assert_eq!(TaskKind::of_config(None), TaskKind::PairClassification);
        assert_eq!(serde_json::to_string(&TaskKind::Nli).unwrap(), "\"nli\"");
    }
}
