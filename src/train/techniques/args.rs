//! The flags of the fine-tuning techniques (also `--config` keys, in snake_case), and
//! their checks, which run before any training starts.

use anyhow::Result;
use clap::Args;

use super::{Adversarial, AdversarialKind};
use crate::bad_input;
use crate::model::pooling::Pooling;

/// Fine-tuning techniques: adversarial training, weight averaging, R-Drop, multi-sample
/// dropout, pooling, the exact-match feature, layer-wise learning-rate decay. All off by
/// default.
#[derive(Args, Debug, Clone, Default)]
pub struct TechniqueArgs {
    /// Adversarial training on the word embeddings: fgm (one extra pass) or pgd
    /// (--adv-steps extra passes)
    #[arg(long, value_enum, help_heading = "Techniques")]
    pub adversarial: Option<AdversarialKind>,
    /// Adversarial perturbation radius ε (the L2 norm over the embedding matrix)
    #[arg(long, default_value_t = 0.3, help_heading = "Techniques")]
    pub adv_epsilon: f64,
    /// PGD: attack steps K
    #[arg(long, default_value_t = 3, help_heading = "Techniques")]
    pub adv_steps: usize,
    /// PGD: step size α (default ε/3)
    #[arg(long, help_heading = "Techniques")]
    pub adv_alpha: Option<f64>,
    /// Evaluate and save an exponential moving average of the weights with this decay,
    /// e.g. 0.999
    #[arg(long, value_name = "DECAY", help_heading = "Techniques")]
    pub ema: Option<f64>,
    /// Evaluate and save the average of the weights at the last N evaluation points
    #[arg(long, value_name = "N", help_heading = "Techniques")]
    pub swa: Option<usize>,
    /// R-Drop: two passes with independent dropout, plus ALPHA times the symmetric KL of
    /// their distributions, e.g. 1.0 (one extra pass)
    #[arg(long, value_name = "ALPHA", help_heading = "Techniques")]
    pub rdrop: Option<f64>,
    /// N dropout masks on the pooled vector through the same classifier, logits averaged
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        help_heading = "Techniques"
    )]
    pub multi_sample_dropout: usize,
    /// Pooling of the pair head: cls (transformers' pooler, the only one
    /// BertForSequenceClassification reproduces), mean or max over real tokens, cls-mean
    #[arg(long, value_enum, default_value = "cls", help_heading = "Techniques")]
    pub pooling: Pooling,
    /// Add the exact-match input feature: a learned embedding row, added to each token's
    /// input, saying whether its id also occurs in the other text (on by itself when
    /// --init was pretrained with it). The dir then needs dapt to run
    #[arg(long, help_heading = "Techniques")]
    pub match_embedding: bool,
    /// Dropout before the classifier (default: the model's hidden_dropout_prob)
    #[arg(long, value_name = "P", help_heading = "Techniques")]
    pub classifier_dropout: Option<f64>,
    /// Layer-wise learning-rate decay γ: classifier, pooler and top layer at --lr, each
    /// layer below ×γ, embeddings last (1: off)
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "γ",
        help_heading = "Techniques"
    )]
    pub layer_lr_decay: f64,
}

impl TechniqueArgs {
    /// Exit-2 errors, naming the flag, for every out-of-range value.
    pub fn validate(&self) -> Result<()> {
        let positive = |v: f64| v > 0.0 && v.is_finite();
        if self.adversarial.is_some() {
            if !positive(self.adv_epsilon) {
                bad_input!(
                    "--adv-epsilon {} must be a positive number, e.g. 0.3",
                    self.adv_epsilon
                );
            }
            if let Some(a) = self.adv_alpha {
                if !positive(a) {
                    bad_input!("--adv-alpha {a} must be a positive number, e.g. 0.1");
                }
            }
            if self.adv_steps < 1 {
                bad_input!("--adv-steps must be at least 1; 3 is usual");
            }
        }
        if let Some(d) = self.ema {
            if !(d > 0.0 && d < 1.0) {
                bad_input!("--ema {d} must be in (0, 1), e.g. 0.999");
            }
        }
        if let Some(n) = self.swa {
            if n < 1 {
                bad_input!("--swa must be at least 1 evaluation point");
            }
            if self.ema.is_some() {
                bad_input!("--ema and --swa both replace the evaluated weights; choose one");
            }
        }
        if let Some(a) = self.rdrop {
            if !(a >= 0.0 && a.is_finite()) {
                bad_input!("--rdrop {a} must be 0 or more, e.g. 1.0");
            }
        }
        if self.multi_sample_dropout < 1 {
            bad_input!("--multi-sample-dropout must be at least 1");
        }
        if let Some(p) = self.classifier_dropout {
            if !(0.0..1.0).contains(&p) {
                bad_input!("--classifier-dropout {p} must be in [0, 1)");
            }
        }
        let g = self.layer_lr_decay;
        if !(g > 0.0 && g <= 1.0) {
            bad_input!("--layer-lr-decay {g} must be in (0, 1], e.g. 0.9 (1: off)");
        }
        Ok(())
    }

    /// The attack, when `--adversarial` is set.
    pub fn attack(&self) -> Option<Adversarial> {
        self.adversarial.map(|kind| Adversarial {
            kind,
            epsilon: self.adv_epsilon,
            steps: self.adv_steps,
            alpha: self.adv_alpha.unwrap_or(self.adv_epsilon / 3.0),
        })
    }
}
