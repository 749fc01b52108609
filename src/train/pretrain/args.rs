//! The flags of `dapt pretrain` (also its `--config` keys, in snake_case).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::data::mask::{default_ngram_probs, MaskConfig, MaskStrategy};
use crate::model::align::AlignEmbeddings;
use crate::text::corpus::Format;
use crate::train::options::OptimArgs;
use crate::train::run::RunArgs;

/// Pretraining task flag values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectiveFlag {
    /// BERT's masked-language model: predict the masked tokens.
    Mlm,
    /// ELECTRA's replaced-token detection: a small generator fills the masked positions
    /// with sampled tokens, the discriminator tells for every token whether it was
    /// replaced (learns from all tokens, not the masked 15%).
    Rtd,
}

/// Masking strategy flag values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MaskFlag {
    /// Each maskable token with `mask_prob` (BERT).
    Token,
    /// Whole words, all their tokens together.
    Wwm,
    /// Spans of 1..=`ngram_max` whole words.
    Ngram,
}

/// Masked-language-model pretraining over shards or text corpora.
///
/// Checkpoints go to `OUT/step-NNNNNNNN/` (Hugging Face layout, loadable by
/// transformers) with `OUT/latest` pointing at the newest; `--resume auto` continues an
/// interrupted run exactly. SIGINT/SIGTERM stop after writing a checkpoint.
#[derive(Args, Debug, Clone)]
pub struct PretrainArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub recipe: PretrainRecipe,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

/// What a pretraining run does: its corpus, vocabulary, model, objective, masking,
/// schedule and checkpoint cadence (every flag but the shared run options).
#[derive(Args, Debug, Clone)]
pub struct PretrainRecipe {
    /// Corpora: `.shard` files from `dapt encode`, directories (their `.shard` files),
    /// quoted glob patterns (e.g. 'shards/*.shard'), or text files (encoded once into a
    /// cached shard in --cache-dir); read as they are when the run starts
    #[arg(long, num_args = 1.., required = true, value_name = "FILE|DIR|GLOB")]
    pub corpus: Vec<PathBuf>,
    /// Where text corpora's encoded shards are cached (default: $XDG_CACHE_HOME/dapt or
    /// ~/.cache/dapt; OUT/cache without a home)
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Layout of text corpora
    #[arg(long, value_enum, default_value = "pairs")]
    pub corpus_format: Format,
    /// Vocabulary dir (from `dapt vocab`) the corpora are encoded with
    #[arg(long, default_value = "vocab", value_name = "DIR")]
    pub vocab: PathBuf,
    /// Model size preset (tiny, small, base) or a config.json file; ignored with --init-from,
    /// --continue-from and --resume (the checkpoint's config rules)
    #[arg(long, default_value = "small", value_name = "FILE|tiny|small|base")]
    pub model_config: String,
    /// Pretraining task: mlm trains a BERT `BertForMaskedLM`; rtd trains an ELECTRA
    /// discriminator (saved in each checkpoint dir, ready for `dapt finetune --init`) and
    /// its generator (in the dir's `generator/`)
    #[arg(long, value_enum, default_value = "mlm")]
    pub objective: ObjectiveFlag,
    /// rtd: the generator's size, as a fraction of the discriminator's hidden size, heads
    /// and feed-forward width (same depth; 0.25 worked best in the ELECTRA paper), or a
    /// generator config.json; ignored with --init-from a dapt rtd checkpoint, whose
    /// `generator/` is continued
    #[arg(long, default_value = "0.25", value_name = "FRACTION|FILE")]
    pub generator_size: String,
    /// rtd: weight of the discriminator's loss against the generator's (the paper's 50)
    #[arg(long, default_value_t = 50.0)]
    pub disc_weight: f64,
    /// Start from this pretrained checkpoint dir (its encoder; embeddings aligned to --vocab)
    #[arg(long, value_name = "DIR")]
    pub init_from: Option<PathBuf>,
    /// With --init-from: which embedding rows the new vocabulary inherits (default: shared
    /// for WordPiece vocabularies, frequency for word-level ones, e.g. desensitized ids);
    /// with --continue-from a grown vocabulary: default shared (a token keeps its row)
    #[arg(long, value_enum)]
    pub align_embeddings: Option<AlignEmbeddings>,
    /// Longest sequence, [CLS]/[SEP] included (pairs truncated longest-first)
    #[arg(long, default_value_t = 64)]
    pub max_len: usize,
    /// Masking strategy
    #[arg(long, value_enum, default_value = "ngram")]
    pub mask: MaskFlag,
    /// Fraction of maskable tokens chosen per sequence
    #[arg(long, default_value_t = 0.15)]
    pub mask_prob: f64,
    /// ngram: longest span in words
    #[arg(long, default_value_t = 3)]
    pub ngram_max: usize,
    /// ngram: comma-separated probabilities of span lengths 1..=ngram_max (default 0.7,0.2,0.1 for 3)
    #[arg(long, value_delimiter = ',', value_name = "P,P,..")]
    pub ngram_probs: Option<Vec<f64>>,
    /// Chosen tokens replaced by [MASK] (the rest: random token, unchanged)
    #[arg(long, default_value_t = 0.8)]
    pub mask_token_prob: f64,
    /// Chosen tokens replaced by a random token
    #[arg(long, default_value_t = 0.1)]
    pub random_token_prob: f64,
    /// Pair documents: tokens that also occur in the other text are masked F times as
    /// often as the others, the total rate unchanged, so the MLM learns to copy across
    /// [SEP] (1: off; e.g. 3)
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub mask_shared_boost: f64,
    /// Probability of swapping the two texts of a pair each time it is drawn
    #[arg(long, default_value_t = 0.5)]
    pub swap_prob: f64,
    /// Add the exact-match input feature (as `dapt finetune --match-embedding`), learned
    /// here on pair documents; recorded in config.json, so fine-tuning keeps it
    #[arg(long)]
    pub match_embedding: bool,
    /// Pack short single texts into one sequence
    #[arg(long)]
    pub pack: bool,
    /// Batch sequences of similar length together (less padding)
    #[arg(long)]
    pub group_by_length: bool,
    /// Sequences per micro-batch
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub optim: OptimArgs,
    /// Stop after this many optimizer steps (default: --epochs)
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Passes over the training documents (default 1 when --max-steps is not given)
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Stop cleanly, with a checkpoint, after this long: seconds, or e.g. 90s, 30m, 2h
    #[arg(long, value_parser = parse_duration, value_name = "TIME")]
    pub max_time: Option<f64>,
    /// Save a checkpoint every N optimizer steps (and always at the end; 0: only then)
    #[arg(long, default_value_t = 1000)]
    pub save_every: u64,
    /// Evaluate on the held-out documents every N optimizer steps (and at the end; 0:
    /// only then)
    #[arg(long, default_value_t = 500)]
    pub eval_every: u64,
    /// Log the training loss, lr, gradient norm and tokens/s (averaged since the last
    /// line) every N optimizer steps; 0: every 2 seconds
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub log_every: u64,
    /// Fraction of documents held out for evaluation (at most 20,000 documents: a larger
    /// eval set costs time and changes little)
    #[arg(long, default_value_t = 0.01)]
    pub eval_fraction: f64,
    /// Start this run from another run's newest checkpoint (a pretrain --out dir, or
    /// one checkpoint dir): its weights, optimizer moments, Lookahead slow weights and
    /// step counter (the schedule, set by this run's flags, starts at that step), on
    /// this run's --corpus. A grown --vocab is aligned as --init-from does, the new rows'
    /// optimizer state starting at zero. The nightly way to go on pretraining
    #[arg(long, value_name = "RUN", conflicts_with = "init_from")]
    pub continue_from: Option<PathBuf>,
    /// Largest fraction of corpus tokens the vocabulary may not know ([UNK] or a rare
    /// placeholder; guards against a checkpoint whose tokenizer cannot read the corpus;
    /// 1 disables the check)
    #[arg(long, default_value_t = 0.5)]
    pub max_unk_rate: f64,
}

impl PretrainRecipe {
    /// The masking settings the flags describe (not yet validated).
    pub fn mask_config(&self) -> MaskConfig {
        MaskConfig {
            strategy: match self.mask {
                MaskFlag::Token => MaskStrategy::Token,
                MaskFlag::Wwm => MaskStrategy::WholeWord,
                MaskFlag::Ngram => MaskStrategy::Ngram,
            },
            mask_prob: self.mask_prob,
            ngram_max: self.ngram_max,
            ngram_probs: self
                .ngram_probs
                .clone()
                .unwrap_or_else(|| default_ngram_probs(self.ngram_max)),
            mask_token_prob: self.mask_token_prob,
            random_token_prob: self.random_token_prob,
            mask_shared_boost: self.mask_shared_boost,
        }
    }
}

/// Seconds from `90`, `90s`, `30m` or `2h`.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let scale = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        _ => return Err(format!("{s}: use seconds or a suffix s, m or h (e.g. 30m)")),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| *v > 0.0)
        .map(|v| v * scale)
        .ok_or_else(|| format!("{s}: expected a positive duration such as 90s, 30m or 2h"))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(90.0));
        assert_eq!(parse_duration("30m"), Ok(1800.0));
        assert_eq!(parse_duration("2h"), Ok(7200.0));
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("-1").is_err());
    }
}
