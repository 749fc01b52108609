//! UDA, unsupervised data augmentation (Xie et al. 2019, <https://arxiv.org/abs/1904.12848>):
//! each step also draws a batch of unlabelled pairs and an augmented copy of each
//! ([`crate::data::uda_augment`]); the loss adds λ times the KL divergence from the
//! model's sharpened, detached prediction on a pair to its prediction on the copy, over
//! the pairs it is confident about. Training-signal annealing (TSA) drops labelled pairs
//! the model already gets right with a probability above a threshold rising from 1/K to 1.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, D};
use clap::{Args, ValueEnum};
use rand::Rng;

use crate::data::pair_batch::{pad_batch, EncodeStats, EncodedPair, PairEncoder, PairTensors};
use crate::data::pairs::PairRecord;
use crate::data::rng::{keyed_rng, Purpose};
use crate::data::uda_augment::{Augmenter, UdaRates, UdaRule};

/// A TSA schedule: how the threshold rises over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Tsa {
    /// α = t/T.
    Linear,
    /// α = 1 − exp(−5·t/T): releases labelled signal early.
    Log,
    /// α = exp(5·(t/T − 1)): holds it back longest (the paper's choice for few labels).
    Exp,
}

impl Tsa {
    /// The threshold η = α·(1 − 1/K) + 1/K at `progress` = t/T in [0, 1] for K classes:
    /// labelled pairs whose correct-class probability is above it leave the loss.
    pub fn threshold(self, progress: f64, classes: usize) -> f64 {
        let alpha = match self {
            Tsa::Linear => progress,
            Tsa::Log => 1.0 - (-5.0 * progress).exp(),
            Tsa::Exp => (5.0 * (progress - 1.0)).exp(),
        };
        let start = 1.0 / classes as f64;
        alpha * (1.0 - start) + start
    }
}

/// The rows of a batch TSA keeps: correct-class probability at most `threshold`.
pub fn tsa_keep(logits: &Tensor, labels: &[u32], threshold: f64) -> candle_core::Result<Vec<u32>> {
    let probs: Vec<Vec<f32>> = candle_nn::ops::softmax(&logits.detach(), D::Minus1)?
        .to_dtype(DType::F32)?
        .to_vec2()?;
    Ok((0..labels.len() as u32)
        .filter(|&i| f64::from(probs[i as usize][labels[i as usize] as usize]) <= threshold)
        .collect())
}

/// The consistency term: `mean over rows of m·KL(softmax(z/τ) ‖ softmax(ẑ))` where z are
/// the logits of the unlabelled pairs (detached: the target), ẑ those of their augmented
/// copies, and m = 1 when the largest probability of softmax(z) is at least `confidence`
/// (the mean is over all rows, as in the paper's code). Returns it and the rows kept.
pub fn consistency(
    original: &Tensor,
    augmented: &Tensor,
    temperature: f64,
    confidence: f64,
) -> Result<(Tensor, usize)> {
    let original = original.detach();
    let probs = candle_nn::ops::softmax(&original, D::Minus1)?;
    let largest: Vec<f32> = probs.max(D::Minus1)?.to_dtype(DType::F32)?.to_vec1()?;
    let mask: Vec<f32> = largest
        .iter()
        .map(|&p| f32::from(u8::from(f64::from(p) >= confidence)))
        .collect();
    let kept = mask.iter().filter(|&&m| m > 0.0).count();
    let rows = mask.len();
    let mask = Tensor::from_vec(mask, rows, original.device())?.to_dtype(augmented.dtype())?;
    let target_log = candle_nn::ops::log_softmax(&(original / temperature)?, D::Minus1)?;
    let target = target_log.exp()?;
    let aug_log = candle_nn::ops::log_softmax(augmented, D::Minus1)?;
    let kl = (target * (target_log - aug_log)?)?.sum(D::Minus1)?;
    Ok((((kl * mask)?.sum_all()? / rows as f64)?, kept))
}

/// The unlabelled pairs of UDA and what makes their augmented copies.
pub struct UdaData {
    pairs: Vec<PairRecord>,
    encoded: Vec<EncodedPair>,
    augmenter: Augmenter,
    batch_size: usize,
}

impl UdaData {
    /// The pairs, encoded, with an augmenter fitted on every text of `training` and
    /// `pairs` (one document each).
    pub fn new(
        pairs: Vec<PairRecord>,
        training: &[PairRecord],
        args: &UdaArgs,
        batch_size: usize,
        encoder: &PairEncoder,
    ) -> Result<UdaData> {
        let mut stats = EncodeStats::default();
        let encoded = pairs
            .iter()
            .map(|p| encoder.encode(&p.a, &p.b, &mut stats))
            .collect::<Result<_>>()?;
        let corpus: Vec<&str> = training
            .iter()
            .chain(&pairs)
            .flat_map(|p| [p.a.as_str(), p.b.as_str()])
            .collect();
        Ok(UdaData {
            augmenter: Augmenter::new(&corpus, &args.uda_augment, args.rates()),
            pairs,
            encoded,
            batch_size: args.uda_batch_size.unwrap_or(batch_size),
        })
    }

    /// Number of unlabelled pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The unlabelled pairs of micro-batch `micro` of fold `fold` (drawn with replacement
    /// from their own keyed stream) and their augmented copies (made with `encoder`, the
    /// one that encoded the pairs), row for row, as tensors.
    pub fn batch(
        &self,
        encoder: &PairEncoder,
        key: (u64, u64, u64),
        match_embedding: bool,
        device: &Device,
    ) -> Result<(PairTensors, PairTensors)> {
        let (seed, micro, fold) = key;
        let mut rng = keyed_rng(seed, micro, fold, Purpose::Uda);
        let mut stats = EncodeStats::default();
        let (mut originals, mut copies) = (Vec::new(), Vec::new());
        for _ in 0..self.batch_size {
            let i = rng.random_range(0..self.pairs.len());
            let (a, b) = self
                .augmenter
                .augment(&self.pairs[i].a, &self.pairs[i].b, &mut rng);
            originals.push(&self.encoded[i]);
            copies.push(encoder.encode(&a, &b, &mut stats)?);
        }
        let pad = encoder.vocab().special.pad;
        Ok((
            pad_batch(&originals, pad, match_embedding, device)?,
            pad_batch(
                &copies.iter().collect::<Vec<_>>(),
                pad,
                match_embedding,
                device,
            )?,
        ))
    }
}

/// The flags of UDA (its unlabelled file, `--uda`, is one of the job's files).
#[derive(Args, Debug, Clone)]
pub struct UdaArgs {
    /// Weight λ of the consistency term
    #[arg(
        long,
        default_value_t = 1.0,
        value_name = "LAMBDA",
        help_heading = "UDA"
    )]
    pub uda_weight: f64,
    /// Unlabelled pairs per micro-batch (default: --batch-size)
    #[arg(long, value_name = "N", help_heading = "UDA")]
    pub uda_batch_size: Option<usize>,
    /// Sharpening temperature τ of the target distribution (the paper's 0.4)
    #[arg(long, default_value_t = 0.4, value_name = "TAU", help_heading = "UDA")]
    pub uda_temperature: f64,
    /// Confidence masking β: only unlabelled pairs whose largest probability is at least β count
    #[arg(long, default_value_t = 0.8, value_name = "BETA", help_heading = "UDA")]
    pub uda_confidence: f64,
    /// Training-signal annealing of the labelled loss (off by default)
    #[arg(long, value_enum, help_heading = "UDA")]
    pub tsa: Option<Tsa>,
    /// Augmentations of the unlabelled copies, comma-separated
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "tfidf",
        help_heading = "UDA"
    )]
    pub uda_augment: Vec<UdaRule>,
    /// tfidf: mean fraction of words replaced
    #[arg(long, default_value_t = 0.2, help_heading = "UDA")]
    pub uda_replace_rate: f64,
    /// delete: probability of dropping a word
    #[arg(long, default_value_t = 0.1, help_heading = "UDA")]
    pub uda_delete_rate: f64,
    /// span-swap: probability that two spans of a text swap places
    #[arg(long, default_value_t = 0.5, help_heading = "UDA")]
    pub uda_span_swap_rate: f64,
    /// pair-swap: probability that the two texts swap sides
    #[arg(long, default_value_t = 0.5, help_heading = "UDA")]
    pub uda_pair_swap_rate: f64,
}

impl UdaArgs {
    /// The augmentation rates.
    pub fn rates(&self) -> UdaRates {
        UdaRates {
            replace: self.uda_replace_rate,
            delete: self.uda_delete_rate,
            span_swap: self.uda_span_swap_rate,
            pair_swap: self.uda_pair_swap_rate,
        }
    }

    /// Refuse values out of range (exit 2).
    pub fn validate(&self) -> Result<()> {
        let unit = [
            ("--uda-confidence", self.uda_confidence),
            ("--uda-replace-rate", self.uda_replace_rate),
            ("--uda-delete-rate", self.uda_delete_rate),
            ("--uda-span-swap-rate", self.uda_span_swap_rate),
            ("--uda-pair-swap-rate", self.uda_pair_swap_rate),
        ];
        for (flag, v) in unit {
            if !(0.0..=1.0).contains(&v) {
                crate::bad_input!("{flag} {v} must be in [0, 1]");
            }
        }
        if !(self.uda_temperature > 0.0 && self.uda_temperature.is_finite()) {
            crate::bad_input!(
                "--uda-temperature {} must be positive, e.g. 0.4",
                self.uda_temperature
            );
        }
        if !(self.uda_weight >= 0.0 && self.uda_weight.is_finite()) {
            crate::bad_input!(
                "--uda-weight {} must be a non-negative number",
                self.uda_weight
            );
        }
        if self.uda_batch_size == Some(0) {
            crate::bad_input!("--uda-batch-size must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn tsa_thresholds_follow_the_paper() {
        // Linear and exp end at 1, log at 1 − e⁻⁵ of the way; the halfway points.
        for tsa in [Tsa::Linear, Tsa::Exp] {
            assert!((tsa.threshold(1.0, 2) - 1.0).abs() < 1e-12);
        }
        assert!((Tsa::Log.threshold(1.0, 2) - ((1.0 - (-5f64).exp()) * 0.5 + 0.5)).abs() < 1e-12);
        assert_eq!(Tsa::Linear.threshold(0.0, 2), 0.5);
        assert_eq!(Tsa::Log.threshold(0.0, 3), 1.0 / 3.0);
        assert!((Tsa::Exp.threshold(0.0, 2) - (0.5 * (-5f64).exp() + 0.5)).abs() < 1e-12);
        assert!((Tsa::Linear.threshold(0.5, 2) - 0.75).abs() < 1e-12);
        assert!((Tsa::Log.threshold(0.5, 2) - ((1.0 - (-2.5f64).exp()) * 0.5 + 0.5)).abs() < 1e-12);
        assert!((Tsa::Exp.threshold(0.5, 2) - ((-2.5f64).exp() * 0.5 + 0.5)).abs() < 1e-12);
    }

    #[test]
    fn tsa_drops_rows_already_right() {
        let dev = Device::Cpu;
        // Correct-class probabilities: softmax([2, 0])[0] = 0.881, [0, 0] -> 0.5, [0, 3][1] = 0.953.
        let logits = Tensor::new(&[[2.0f32, 0.0], [0.0, 0.0], [0.0, 3.0]], &dev).unwrap();
        assert_eq!(tsa_keep(&logits, &[0, 1, 1], 0.9).unwrap(), vec![0, 1]);
        assert_eq!(tsa_keep(&logits, &[1, 1, 0], 0.6).unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn sharpening_and_masking_by_hand() {
        let dev = Device::Cpu;
        // Row 0: probabilities (0.881, 0.119), confident at β = 0.8; row 1 (0.5, 0.5) is not.
        let original = Tensor::new(&[[2.0f64, 0.0], [0.0, 0.0]], &dev).unwrap();
        let augmented = Tensor::new(&[[0.0f64, 0.0], [5.0, -5.0]], &dev).unwrap();
        let (loss, kept) = consistency(&original, &augmented, 0.5, 0.8).unwrap();
        assert_eq!(kept, 1);
        // Sharpened target of row 0: softmax([4, 0]) = (e⁴, 1)/(e⁴ + 1); KL to (0.5, 0.5).
        let t0 = 4f64.exp() / (4f64.exp() + 1.0);
        let t1 = 1.0 - t0;
        let kl = t0 * (t0 / 0.5).ln() + t1 * (t1 / 0.5).ln();
        let got = loss.to_scalar::<f64>().unwrap();
        assert!((got - kl / 2.0).abs() < 1e-12, "{got} vs {}", kl / 2.0);
    }
}
