//! BertConfig reads a transformers-written config.json and writes the same keys back.

use dapt::model::BertConfig;

/// Written by `BertConfig(...).to_json_file()` in transformers 5 (trimmed of nothing).
const HF_CONFIG: &str = r#"{
  "architectures": ["BertForMaskedLM"],
  "attention_probs_dropout_prob": 0.1,
  "classifier_dropout": null,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "hidden_size": 32,
  "initializer_range": 0.02,
  "intermediate_size": 64,
  "layer_norm_eps": 1e-12,
  "max_position_embeddings": 64,
  "model_type": "bert",
  "num_attention_heads": 4,
  "num_hidden_layers": 2,
  "pad_token_id": 0,
  "transformers_version": "5.23.0",
  "type_vocab_size": 2,
  "use_cache": true,
  "vocab_size": 100
}"#;

#[test]
fn reads_transformers_config_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, HF_CONFIG).unwrap();
    let c = BertConfig::read(&path).unwrap();
    assert_eq!(
        (c.vocab_size, c.hidden_size, c.num_hidden_layers),
        (100, 32, 2)
    );
    assert_eq!((c.num_attention_heads, c.intermediate_size), (4, 64));
    assert_eq!(c.max_position_embeddings, 64);
    assert_eq!(c.architectures, vec!["BertForMaskedLM".to_string()]);
    assert_eq!(c.head_dim(), 8);

    let written: serde_json::Value = serde_json::from_str(&c.to_json().unwrap()).unwrap();
    let original: serde_json::Value = serde_json::from_str(HF_CONFIG).unwrap();
    for key in [
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "hidden_act",
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "max_position_embeddings",
        "type_vocab_size",
        "layer_norm_eps",
        "pad_token_id",
        "initializer_range",
        "model_type",
        "architectures",
    ] {
        assert_eq!(written[key], original[key], "key {key}");
    }
}

#[test]
fn refuses_heads_not_dividing_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        HF_CONFIG.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5"),
    )
    .unwrap();
    let err = BertConfig::read(&path).unwrap_err();
    assert_eq!(dapt::error::exit_code(&err), 2);
    assert!(err.to_string().contains("num_attention_heads 5"), "{err}");
}

#[test]
fn presets_match_design() {
    let t = BertConfig::preset("tiny", 22000).unwrap();
    assert_eq!(
        (
            t.num_hidden_layers,
            t.hidden_size,
            t.num_attention_heads,
            t.intermediate_size
        ),
        (2, 128, 2, 512)
    );
    let s = BertConfig::preset("small", 22000).unwrap();
    assert_eq!(
        (
            s.num_hidden_layers,
            s.hidden_size,
            s.num_attention_heads,
            s.intermediate_size
        ),
        (4, 256, 4, 1024)
    );
    assert!(BertConfig::preset("huge", 1).is_none());
}

#[test]
fn refuses_absurd_sizes_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    for (from, to, needle) in [
        (
            "\"num_hidden_layers\": 2",
            "\"num_hidden_layers\": 1000000",
            "num_hidden_layers 1000000 exceeds dapt's limit of 256",
        ),
        (
            "\"vocab_size\": 100",
            "\"vocab_size\": 1000000000000",
            "vocab_size 1000000000000 exceeds dapt's limit of 4194304",
        ),
        // Each size within its limit, together far too large: 256 layers of width 8192.
        (
            "\"hidden_size\": 32",
            "\"hidden_size\": 8192, \"num_hidden_layers\": 256",
            "parameters, above dapt's limit of 2e9",
        ),
    ] {
        let text = HF_CONFIG.replace(from, to);
        let text = if from.contains("hidden_size") {
            text.replace("  \"num_hidden_layers\": 2,\n", "")
        } else {
            text
        };
        std::fs::write(&path, text).unwrap();
        let err = BertConfig::read(&path).unwrap_err();
        assert_eq!(dapt::error::exit_code(&err), 2);
        assert!(err.to_string().contains(needle), "{err}");
    }
}
