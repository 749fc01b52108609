//! How the pair head turns the encoder's last hidden states into one vector per pair.

use candle_core::{Result, Tensor, D};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

/// The pooling of the pair head (`--pooling`, `dapt_pooling` in `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum Pooling {
    /// transformers' pooler: tanh(dense([CLS])). The only one `BertForSequenceClassification`
    /// reproduces.
    #[default]
    Cls,
    /// Mean of the last hidden states of the real tokens ([CLS] and [SEP] included).
    Mean,
    /// Element-wise maximum over the real tokens.
    Max,
    /// The pooler's [CLS] vector and the mean, concatenated (a classifier of twice the width).
    ClsMean,
}

impl Pooling {
    /// Width of the pooled vector for hidden size `hidden`.
    pub fn width(self, hidden: usize) -> usize {
        match self {
            Pooling::ClsMean => 2 * hidden,
            _ => hidden,
        }
    }

    /// The pooled vector `(batch, width)` of last hidden states `(batch, seq, hidden)` whose
    /// real tokens `mask` `(batch, seq)` marks; `first` maps the first token's states
    /// `(batch, hidden)` to the `cls` vector (BERT's tanh pooler, identity for ELECTRA).
    pub fn pool(
        self,
        hidden: &Tensor,
        mask: &Tensor,
        first: impl Fn(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let cls = || first(&hidden.narrow(1, 0, 1)?.squeeze(1)?);
        match self {
            Pooling::Cls => cls(),
            Pooling::Mean => masked_mean(hidden, mask),
            Pooling::Max => masked_max(hidden, mask),
            Pooling::ClsMean => Tensor::cat(&[cls()?, masked_mean(hidden, mask)?], 1),
        }
    }

    /// The flag value (`cls`, `cls-mean`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Cls => "cls",
            Pooling::Mean => "mean",
            Pooling::Max => "max",
            Pooling::ClsMean => "cls-mean",
        }
    }
}

/// Mean of `hidden` `(batch, seq, h)` over the positions where `mask` `(batch, seq)` is 1.
pub fn masked_mean(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let m = mask.to_dtype(hidden.dtype())?.unsqueeze(D::Minus1)?;
    let sum = hidden.broadcast_mul(&m)?.sum(1)?;
    let count = m.sum(1)?.clamp(1.0, f64::INFINITY)?;
    sum.broadcast_div(&count)
}

/// Element-wise maximum of `hidden` `(batch, seq, h)` over the positions where `mask` is 1:
/// padding positions are pushed far below any activation first, as they hold zeros.
pub fn masked_max(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let m = mask.to_dtype(hidden.dtype())?;
    let penalty = ((m - 1.0)? * 1e9)?.unsqueeze(D::Minus1)?;
    hidden.broadcast_add(&penalty)?.max(1)
}
