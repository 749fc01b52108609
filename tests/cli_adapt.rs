//! Adapting a pretrained WordPiece checkpoint to a corpus: `dapt vocab --extend CKPT
//! --add N` against the words Python `tokenizers` picks (tests/fixtures/vocab/
//! make_fixtures.py, part 5), and `dapt pretrain --init-from CKPT` over the extended
//! vocabulary: old rows copied, new rows the mean of the pieces Python split them into.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use common::{arg, dapt, dapt_ok, lines, root, stderr};

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/vocab").join(name)
}

fn weights(dir: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap()
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_vec2().unwrap()
}

/// A tiny checkpoint over the hub-style tokenizer (`[tokenizer.json with MiniLM's
/// settings, 3000 WordPiece tokens]`), trained one step at `lr` on `corpus`.
fn pretrain(tmp: &Path, corpus: &Path, vocab: &Path, out: &str, extra: &[&str]) -> PathBuf {
    let dir = tmp.join(out);
    let mut args = vec!["--max-steps", "1"];
    args.extend_from_slice(extra);
    let args = common::pretrain_tiny_args(&[arg(corpus)], vocab, &dir, &args);
    dapt_ok(&args);
    dir.join("step-00000001")
}

#[test]
fn extend_then_init_from_averages_the_pieces() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("mrpc.tsv");
    std::fs::copy(root().join("corpora/mrpc_sample.tsv"), &corpus).unwrap();
    let base = pretrain(tmp.path(), &corpus, &fixture("hub_tokenizer"), "base", &[]);

    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("extend_words.json")).unwrap())
            .unwrap();
    let added = expected["added"].as_array().unwrap();
    let ext = tmp.path().join("ext");
    let add = added.len().to_string();
    dapt_ok(&[
        "vocab",
        "--extend",
        arg(&base),
        "--add",
        &add,
        "--input",
        arg(&corpus),
        "--out",
        arg(&ext),
    ]);
    let base_tokens = lines(&base.join("vocab.txt"));
    let tokens = lines(&ext.join("vocab.txt"));
    let n = base_tokens.len();
    assert_eq!(&tokens[..n], &base_tokens[..], "old ids must not move");
    let words: Vec<&str> = added.iter().map(|w| w["word"].as_str().unwrap()).collect();
    assert_eq!(&tokens[n..], &words[..]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ext.join("extend.json")).unwrap()).unwrap();
    assert_eq!(report["candidates"], expected["candidates"]);
    assert_eq!(report["texts"], expected["texts"]);
    let before = report["tokens_per_text_before"].as_f64().unwrap();
    assert!((before - expected["tokens_per_text_before"].as_f64().unwrap()).abs() < 1e-9);
    assert!(report["tokens_per_text_after"].as_f64().unwrap() < before);

    // lr 0: the saved weights are the initialisation.
    let init = pretrain(
        tmp.path(),
        &corpus,
        &ext,
        "init",
        &["--init-from", arg(&base), "--lr", "0"],
    );
    // The MLM curve of an adaptation starts at the checkpoint (step 0).
    let first_eval = lines(&tmp.path().join("init/metrics.jsonl"))
        .into_iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(&l).unwrap())
        .find(|r| r["event"] == "eval")
        .unwrap();
    assert_eq!(first_eval["step"], 0);
    let (old, new) = (weights(&base), weights(&init));
    let key = "bert.embeddings.word_embeddings.weight";
    let (old_emb, new_emb) = (rows(&old[key]), rows(&new[key]));
    assert_eq!(new_emb.len(), n + words.len());
    assert_eq!(&new_emb[..n], &old_emb[..], "old rows copied exactly");
    let old_bias: Vec<f32> = old["cls.predictions.bias"].to_vec1().unwrap();
    let new_bias: Vec<f32> = new["cls.predictions.bias"].to_vec1().unwrap();
    assert_eq!(&new_bias[..n], &old_bias[..]);
    for (j, w) in added.iter().enumerate() {
        let pieces: Vec<usize> = w["pieces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap() as usize)
            .collect();
        let k = pieces.len() as f32;
        for (d, got) in new_emb[n + j].iter().enumerate() {
            let mean = pieces.iter().map(|&p| old_emb[p][d]).sum::<f32>() / k;
            assert!((got - mean).abs() < 1e-6, "{}: dim {d}", words[j]);
        }
        let mean = pieces.iter().map(|&p| old_bias[p]).sum::<f32>() / k;
        assert!((new_bias[n + j] - mean).abs() < 1e-6, "{} bias", words[j]);
    }
}

#[test]
fn extend_refuses_bad_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = root().join("corpora/mrpc_sample.tsv");
    let extend = |dir: &Path, add: &str| {
        dapt(&[
            "vocab",
            "--extend",
            arg(dir),
            "--add",
            add,
            "--input",
            arg(&corpus),
            "--out",
            arg(&tmp.path().join("out")),
        ])
    };
    // More words than there are candidates.
    let out = extend(&fixture("hub_tokenizer"), "100000");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--add 100000") && err.contains("use --add 2077 or less"),
        "{err}"
    );
    // A word-level vocabulary.
    let wordlevel = tmp.path().join("wl");
    dapt_ok(&[
        "vocab",
        "--input",
        "corpora/oppo_sample.tsv",
        "--out",
        arg(&wordlevel),
    ]);
    let out = extend(&wordlevel, "5");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("word-level") && err.contains("--align-embeddings"),
        "{err}"
    );
    assert!(!tmp.path().join("out").exists());
    // --add without --extend.
    let out = dapt(&["vocab", "--input", arg(&corpus), "--add", "5"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A checkpoint whose tokenizer cannot read the corpus (an English WordPiece over Korean
/// text: every word is [UNK]) is refused before training, exit 2, naming the flag.
#[test]
fn pretrain_refuses_a_corpus_the_tokenizer_cannot_read() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("ko.tsv");
    let line = "그는 어제 시장에 갔다\t그녀는 오늘 학교에 간다\t1\n";
    std::fs::write(&corpus, line.repeat(40)).unwrap();
    let out = dapt(&[
        "pretrain",
        "--corpus",
        arg(&corpus),
        "--vocab",
        arg(&fixture("hub_tokenizer")),
        "--model-config",
        "tiny",
        "--max-steps",
        "1",
        "--batch-size",
        "4",
        "--out",
        arg(&tmp.path().join("run")),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("100.0% of the tokens") && err.contains("--max-unk-rate"),
        "{err}"
    );
    assert!(!tmp.path().join("run").join("latest").exists());
}

/// configs/adapt.toml's stages on a stand-in checkpoint (a tiny one over the hub-style
/// tokenizer; command-line flags win): its keys are valid flags, the extended vocabulary
/// reaches pretraining, and the adapted checkpoint fine-tunes.
#[test]
fn adapt_config_runs_its_stages() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("mrpc.tsv");
    std::fs::copy(root().join("corpora/mrpc_sample.tsv"), &corpus).unwrap();
    let ckpt = pretrain(tmp.path(), &corpus, &fixture("hub_tokenizer"), "base", &[]);
    let (vocab, pre, ft) = (
        tmp.path().join("vocab"),
        tmp.path().join("pre"),
        tmp.path().join("ft"),
    );
    let config = ["--config", "configs/adapt.toml"];
    let run = |args: &[&str]| dapt_ok(&[&args[..1], &config, &args[1..]].concat());
    run(&[
        "vocab",
        "--extend",
        arg(&ckpt),
        "--input",
        arg(&corpus),
        "--min-count",
        "2",
        "--add",
        "10",
        "--out",
        arg(&vocab),
    ]);
    let out = run(&[
        "pretrain",
        "--init-from",
        arg(&ckpt),
        "--vocab",
        arg(&vocab),
        "--corpus",
        arg(&corpus),
        "--max-steps",
        "2",
        "--batch-size",
        "8",
        "--max-len",
        "48",
        "--out",
        arg(&pre),
    ]);
    assert!(
        stderr(&out).contains("--align-embeddings shared")
            && stderr(&out).contains("from pieces 10"),
        "{}",
        stderr(&out)
    );
    run(&[
        "finetune",
        "--train",
        arg(&corpus),
        "--init",
        arg(&pre),
        "--fold",
        "0",
        "--epochs",
        "1",
        "--max-len",
        "48",
        "--out",
        arg(&ft),
    ]);
    assert!(ft.join("fold-0/best/model.safetensors").exists());
}
