//! The flags of `dapt finetune` (also its `--config` keys, in snake_case): the job's
//! files, the recipe, pseudo-labelling and the shared run options. [`super::config`]
//! turns them into the configuration the training code reads.

use std::path::PathBuf;

use clap::Args;

use crate::data::augment::AugmentRule;
use crate::data::folds::FoldBy;
use crate::data::task::TaskKind;
use crate::metrics::MetricKind;
use crate::train::finetune::pseudo::PseudoArgs;
use crate::train::options::OptimArgs;
use crate::train::run::RunArgs;
use crate::train::soft::SoftLossArgs;
use crate::train::techniques::uda::data::UdaArgs;
use crate::train::techniques::TechniqueArgs;

/// Fine-tune a sentence-pair classifier with k-fold cross-validation.
///
/// Each fold trains on the other folds' pairs and keeps its best checkpoint by
/// `--metric` as `OUT/fold-K/best` (a Hugging Face BertForSequenceClassification dir).
/// Writes `OUT/folds.json`, `OUT/oof.tsv` (out-of-fold probabilities, one line per
/// input pair), `OUT/cv.json` (per-fold metrics, mean and std) and `OUT/metrics.jsonl`.
#[derive(Args, Debug, Clone)]
pub struct FinetuneArgs {
    /// Labelled pairs: text_a<TAB>text_b<TAB>label, labels 0..C-1 (with --soft-labels,
    /// lines without a label are soft-only training pairs)
    #[arg(long, value_name = "FILE")]
    pub train: PathBuf,
    /// The first line of --train is a header
    #[arg(long)]
    pub header: bool,
    /// A teacher's class probabilities for the pairs of --train (`dapt predict --with-ids`
    /// output or a finetune run's oof.tsv): train on α·CE(hard) + (1−α)·T²·KL(teacher_T ‖
    /// student_T). Lines of --train without a label are then allowed: they join every
    /// fold's training part with the soft term only
    #[arg(long, value_name = "FILE", help_heading = "Distillation")]
    pub soft_labels: Option<PathBuf>,
    /// Train only this fold (0-based), e.g. one fold per parallel job; the job that
    /// completes the set writes oof.tsv and cv.json
    #[arg(long, value_name = "I")]
    pub fold: Option<usize>,
    /// Unlabelled pairs (text_a<TAB>text_b; a label column is ignored) for consistency
    /// training (UDA, Xie et al. 2020)
    #[arg(long, value_name = "FILE", help_heading = "UDA")]
    pub uda: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub recipe: FinetuneRecipe,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub pseudo: PseudoArgs,
    /// Save a checkpoint of the fold in training every N optimizer steps, for --resume
    /// (default: at the end of each epoch; 0: never). Removed when the fold finishes
    #[arg(long, value_name = "N")]
    pub save_every: Option<u64>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub run: RunArgs,
}

/// What decides a fold's results apart from the data, the seed and the precision: the
/// model, the folds, the loss, the schedule and the techniques. A run resumes only
/// folds made with the same recipe ([`super::resume::fingerprint`]).
#[derive(Args, Debug, Clone)]
pub struct FinetuneRecipe {
    /// The task: pair-classification (pairs whose order does not matter, e.g. paraphrase
    /// or query matching) or nli (ordered pairs: premise, hypothesis; refuses the swap
    /// and closure augmentations). Recorded in each checkpoint's config.json
    #[arg(long, value_enum, default_value = "pair-classification")]
    pub task: TaskKind,
    /// Class names in id order, e.g. entailment,neutral,contradiction: the label column
    /// holds these names (or ids); default: the training file's distinct names, sorted,
    /// when its labels are not all integers. Recorded as id2label in config.json;
    /// predictions print them
    #[arg(long, value_name = "NAME,NAME,..")]
    pub labels: Option<String>,
    /// Pretrained checkpoint dir whose encoder and tokenizer are fine-tuned
    #[arg(long, value_name = "DIR")]
    pub init: Option<PathBuf>,
    /// Without --init: model size preset (tiny, small, base) or a config.json, randomly initialised
    #[arg(long, default_value = "small", value_name = "FILE|tiny|small|base")]
    pub model_config: String,
    /// Vocabulary dir to read text with (required without --init; with --init it must
    /// equal the checkpoint's own vocab.txt)
    #[arg(long, value_name = "DIR")]
    pub vocab: Option<PathBuf>,
    /// Longest input, [CLS]/[SEP] included (pairs truncated longest-first)
    #[arg(long, default_value_t = 64)]
    pub max_len: usize,
    /// Number of cross-validation folds
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// stratified: classes spread evenly; components: no sentence on both sides of a split
    #[arg(long, value_enum, default_value = "stratified")]
    pub fold_by: FoldBy,
    /// Seed of the fold assignment only (default: --seed): fix it to train several seeds
    /// on the same folds (a seed ensemble, or a seed-to-seed spread)
    #[arg(long, value_name = "SEED")]
    pub fold_seed: Option<u64>,
    /// Class weights of the cross-entropy, one per class, e.g. 1:1.3
    #[arg(long, value_name = "W0:W1[:...]")]
    pub class_weight: Option<String>,
    /// Label smoothing of the cross-entropy, in [0, 1)
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// Training-set augmentations, comma-separated (applied to each fold's training part only)
    #[arg(long, value_enum, value_delimiter = ',', value_name = "swap,closure")]
    pub augment: Vec<AugmentRule>,
    /// closure: most pairs it may add per fold
    #[arg(long, default_value_t = 100_000)]
    pub closure_max: usize,
    /// Metric that picks the best checkpoint (and drives --patience)
    #[arg(long, value_enum, default_value = "auc")]
    pub metric: MetricKind,
    /// Passes over each fold's training part
    #[arg(long, default_value_t = 3)]
    pub epochs: u64,
    /// Pairs per micro-batch
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Pairs per batch when evaluating
    #[arg(long, default_value_t = 128)]
    pub eval_batch_size: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub optim: OptimArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub techniques: TechniqueArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub soft_loss: SoftLossArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub uda: UdaArgs,
    /// Also evaluate every N optimizer steps (0: only at the end of each epoch)
    #[arg(long, default_value_t = 0)]
    pub eval_every: u64,
    /// Stop a fold after this many evaluations without improvement (0: never)
    #[arg(long, default_value_t = 0)]
    pub patience: usize,
    /// Largest fraction of tokens the vocabulary may not know (guards against data and
    /// checkpoint vocabularies that do not belong together; 1 disables the check)
    #[arg(long, default_value_t = 0.5)]
    pub max_unk_rate: f64,
}
