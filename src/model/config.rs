//! `BertConfig`: the Hugging Face `config.json` keys of a BERT encoder, and the size presets.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::pooling::Pooling;
use crate::data::task::TaskKind;
use crate::error::InputError;

/// The hyper-parameters of a BERT encoder, under the key names of Hugging Face's
/// `BertConfig`, so a `config.json` written by transformers reads here and back.
///
/// Keys that transformers writes but dapt does not use (e.g. `transformers_version`) are
/// ignored on read; `architectures` and `model_type` are kept so a saved dir stays loadable
/// by `from_pretrained`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Number of rows of the word-embedding matrix (and MLM output classes).
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// ELECTRA's width of the embeddings when it differs from `hidden_size` (they are
    /// then projected by `embeddings_project`); absent for BERT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_size: Option<usize>,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward inner layer.
    pub intermediate_size: usize,
    /// Feed-forward activation; only `gelu` (erf form) is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Dropout on embeddings, attention output and feed-forward output.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on the attention probabilities.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Number of learned position embeddings (longest input).
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// Number of token-type (segment) embeddings.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding token.
    #[serde(default)]
    pub pad_token_id: u32,
    /// Standard deviation of the normal initialisation of weights.
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// Number of classes of the pair head (transformers derives it from `id2label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_labels: Option<usize>,
    /// Class names by id, as strings (transformers' key; dapt writes it when the classes
    /// have names, `--labels` or the training file's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    /// Class ids by name (transformers' key, the inverse of `id2label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label2id: Option<BTreeMap<String, usize>>,
    /// Dropout before the pair classifier (transformers' key; `None`: `hidden_dropout_prob`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_dropout: Option<f64>,
    /// The pair head's pooling (dapt's key; absent: `cls`, transformers' pooler). Any other
    /// value makes a dir whose predictions transformers' `BertForSequenceClassification`
    /// does not reproduce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dapt_pooling: Option<Pooling>,
    /// The exact-match input feature (dapt's key, `--match-embedding`): a learned row added
    /// to each token's input embedding saying whether its id also occurs in the other text
    /// of the pair (`bert.embeddings.match_embeddings.weight`, 2 rows). transformers
    /// ignores the key and cannot load such a dir as a plain `BertModel`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dapt_match_embedding: bool,
    /// The fine-tuning task (dapt's key, `--task`; absent: pair classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dapt_task: Option<TaskKind>,
    /// Model classes that can load the checkpoint, for transformers' `AutoModel`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// `"bert"`, or `"electra"` for the ELECTRA family.
    #[serde(default = "default_model_type")]
    pub model_type: String,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_max_pos() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_init_range() -> f64 {
    0.02
}
fn default_model_type() -> String {
    "bert".into()
}

/// The largest size each `config.json` field may ask for (a BERT-large has vocab 30,522,
/// hidden 1,024, 24 layers, intermediate 4,096, 512 positions).
const SIZE_LIMITS: [(&str, usize); 8] = [
    ("vocab_size", 1 << 22),
    ("hidden_size", 1 << 13),
    ("embedding_size", 1 << 13),
    ("num_hidden_layers", 256),
    ("intermediate_size", 1 << 16),
    ("max_position_embeddings", 1 << 16),
    ("type_vocab_size", 1 << 10),
    ("num_labels", 1 << 16),
];

/// The most parameters a model may have (2e9: 8 GB of f32 weights, 32 GB with AdamW's
/// moments and the gradients).
const MAX_PARAMETERS: f64 = 2e9;

impl BertConfig {
    /// The class names of `id2label` in id order (`None` without it, or when its keys
    /// are not the ids 0..n-1).
    pub fn label_names(&self) -> Option<Vec<String>> {
        let map = self.id2label.as_ref()?;
        (0..map.len())
            .map(|i| map.get(&i.to_string()).cloned())
            .collect()
    }

    /// Record `names` (class names in id order; `None`: ids only) as `id2label` and
    /// `label2id`.
    pub fn set_label_names(&mut self, names: Option<&[String]>) {
        self.id2label = names.map(|n| {
            (0..n.len())
                .map(|i| (i.to_string(), n[i].clone()))
                .collect()
        });
        self.label2id = names.map(|n| (0..n.len()).map(|i| (n[i].clone(), i)).collect());
    }

    /// A preset by name (`tiny`, `small`, `base`, as in DESIGN.md) for `vocab_size` tokens.
    pub fn preset(name: &str, vocab_size: usize) -> Option<Self> {
        let (layers, hidden, heads, ffn) = match name {
            "tiny" => (2, 128, 2, 512),
            "small" => (4, 256, 4, 1024),
            "base" => (12, 768, 12, 3072),
            _ => return None,
        };
        Some(Self {
            vocab_size,
            hidden_size: hidden,
            embedding_size: None,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: ffn,
            hidden_act: default_act(),
            hidden_dropout_prob: default_dropout(),
            attention_probs_dropout_prob: default_dropout(),
            max_position_embeddings: default_max_pos(),
            type_vocab_size: default_type_vocab(),
            layer_norm_eps: default_eps(),
            pad_token_id: 0,
            initializer_range: default_init_range(),
            num_labels: None,
            id2label: None,
            label2id: None,
            classifier_dropout: None,
            dapt_pooling: None,
            dapt_match_embedding: false,
            dapt_task: None,
            architectures: Vec::new(),
            model_type: default_model_type(),
        })
    }

    /// Width of the embeddings (`embedding_size`, else `hidden_size`).
    pub fn embedding_width(&self) -> usize {
        self.embedding_size.unwrap_or(self.hidden_size)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Checks the values that the model relies on; the error names `origin` and the key.
    pub fn validate(&self, origin: &Path) -> Result<()> {
        let bad = |what: String| Err(InputError::at_path(origin, what).into());
        if self.hidden_size == 0 || self.num_attention_heads == 0 {
            return bad("hidden_size and num_attention_heads must be positive".into());
        }
        // Sizes come from a file that may be hostile or mistyped: refuse absurd ones
        // before a model of that size is allocated.
        // In the order of SIZE_LIMITS.
        let values = [
            self.vocab_size,
            self.hidden_size,
            self.embedding_width(),
            self.num_hidden_layers,
            self.intermediate_size,
            self.max_position_embeddings,
            self.type_vocab_size,
            self.num_labels.unwrap_or(2),
        ];
        for ((key, limit), value) in SIZE_LIMITS.into_iter().zip(values) {
            if value > limit {
                return bad(format!(
                    "{key} {value} exceeds dapt's limit of {limit}: a corrupt or mistyped config.json?"
                ));
            }
        }
        let params = self.approx_parameters();
        if params > MAX_PARAMETERS {
            return bad(format!(
                "the model would have about {params:.2e} parameters, above dapt's limit of {MAX_PARAMETERS:.0e} ({} GB of f32 weights before optimizer state): check its sizes",
                MAX_PARAMETERS * 4.0 / 1e9
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.hidden_act != "gelu" {
            return bad(format!(
                "hidden_act \"{}\" is not supported; use \"gelu\"",
                self.hidden_act
            ));
        }
        for (key, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ] {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("{key} {p} must be in [0, 1)"));
            }
        }
        if let Some(p) = self.classifier_dropout {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("classifier_dropout {p} must be in [0, 1)"));
            }
        }
        Ok(())
    }

    /// The parameter count, roughly: embeddings and encoder layers (heads and biases
    /// add well under 1%).
    fn approx_parameters(&self) -> f64 {
        let (e, h, i) = (
            self.embedding_width() as f64,
            self.hidden_size as f64,
            self.intermediate_size as f64,
        );
        let rows = (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) as f64;
        rows * e + self.num_hidden_layers as f64 * (4.0 * h * h + 2.0 * h * i)
    }

    /// Reads and validates a `config.json`.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: Self = serde_json::from_str(&text)
            .map_err(|e| InputError::at_path(path, format!("not a BERT config.json: {e}")))?;
        config.validate(path)?;
        Ok(config)
    }

    /// The `config.json` text (pretty-printed, keys in transformers' names).
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}
