//! `dapt pretrain --objective rtd` on the shipped desensitized LCQMC sample: the
//! checkpoint layout (discriminator dir with its generator in `generator/`, one manifest
//! chain), the held-out discriminator metrics next to their baselines, fine-tuning the
//! discriminator, `--init-from` an rtd checkpoint with a new vocabulary (aligned), and
//! the exit-2 refusals of bad generators and of checkpoints of the wrong family.

mod common;

use std::path::{Path, PathBuf};

use common::{arg, dapt, dapt_ok, root, stderr};

const TRAIN: &str = "corpora/lcqmc_desens_train.tsv";

fn vocab(tmp: &Path, name: &str, min_count: &str) -> PathBuf {
    let out = tmp.join(name);
    let train = root().join(TRAIN);
    dapt_ok(&[
        "vocab",
        "--input",
        arg(&train),
        "--min-count",
        min_count,
        "--out",
        arg(&out),
    ]);
    out
}

fn pretrain(vocab: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let train = root().join(TRAIN);
    let mut args = vec![
        "pretrain",
        "--corpus",
        arg(&train),
        "--vocab",
        arg(vocab),
        "--model-config",
        "tiny",
        "--max-len",
        "48",
        "--batch-size",
        "16",
        "--save-every",
        "3",
        "--eval-every",
        "3",
        "--out",
        arg(out),
    ];
    args.extend_from_slice(extra);
    dapt(&args)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn refused(out: &std::process::Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

#[test]
fn rtd_layout_metrics_finetune_and_init_from() {
    let tmp = tempfile::tempdir().unwrap();
    let vocab2 = vocab(tmp.path(), "vocab2", "2");
    let run = tmp.path().join("rtd");
    let out = pretrain(
        &vocab2,
        &run,
        &["--objective", "rtd", "--mask", "wwm", "--max-steps", "6"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("discriminator accuracy"));

    let ckpt = run.join("step-00000006");
    let disc = json(&ckpt.join("config.json"));
    assert_eq!(disc["architectures"][0], "ElectraForPreTraining");
    assert_eq!(disc["model_type"], "electra");
    assert_eq!(disc["embedding_size"], 128);
    let gen = json(&ckpt.join("generator/config.json"));
    assert_eq!(gen["architectures"][0], "ElectraForMaskedLM");
    assert_eq!(gen["hidden_size"], 32, "a quarter of the tiny preset's 128");
    assert_eq!(gen["embedding_size"], 128, "the shared embeddings' width");
    assert!(ckpt.join("generator/vocab.txt").exists());
    assert!(json(&ckpt.join("manifest.json"))["generator/manifest.json"].is_string());

    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let eval = records.iter().rev().find(|r| r["event"] == "eval").unwrap();
    for key in [
        "disc_accuracy",
        "disc_majority_accuracy",
        "disc_auc",
        "replaced_rate",
        "masked_accuracy",
        "unigram_accuracy",
    ] {
        assert!(eval[key].is_f64(), "eval record lacks {key}: {eval}");
    }
    let rate = eval["replaced_rate"].as_f64().unwrap();
    assert!(rate > 0.0 && rate < 0.2, "replaced rate {rate}");
    assert!(records
        .iter()
        .any(|r| r["gen_loss"].is_f64() && r["disc_loss"].is_f64()));

    // A corrupt generator invalidates its checkpoint: --resume auto skips it.
    let weights = ckpt.join("generator/model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&weights, bytes).unwrap();
    let out = pretrain(
        &vocab2,
        &run,
        &[
            "--objective",
            "rtd",
            "--mask",
            "wwm",
            "--max-steps",
            "6",
            "--resume",
            "auto",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming from") && stderr(&out).contains("step-00000003"));

    // The discriminator fine-tunes as ElectraForSequenceClassification.
    let ft = tmp.path().join("ft");
    common::finetune_tiny(
        &root().join(TRAIN),
        &vocab2,
        "2",
        &ft,
        &["--init", arg(&run)],
    );
    let cls = walk(&ft)
        .into_iter()
        .find(|p| p.ends_with("config.json"))
        .unwrap();
    assert_eq!(
        json(&cls)["architectures"][0],
        "ElectraForSequenceClassification"
    );

    // --init-from an rtd checkpoint with another vocabulary: embeddings aligned.
    let vocab3 = vocab(tmp.path(), "vocab3", "3");
    let out = pretrain(
        &vocab3,
        &tmp.path().join("again"),
        &[
            "--objective",
            "rtd",
            "--init-from",
            arg(&ckpt),
            "--max-steps",
            "2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("initialised from"),
        "{}",
        stderr(&out)
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn bad_generators_and_wrong_families_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let vocab = vocab(tmp.path(), "vocab", "2");
    let rtd = |name: &str, extra: &[&str]| {
        let mut args = vec!["--objective", "rtd", "--max-steps", "2"];
        args.extend_from_slice(extra);
        pretrain(&vocab, &tmp.path().join(name), &args)
    };
    refused(
        &rtd("big", &["--generator-size", "2"]),
        "--generator-size 2",
    );
    refused(
        &rtd("odd", &["--generator-size", "abc"]),
        "neither a fraction",
    );

    let mut config = json(&root().join("tests/fixtures/rtd/ckpt/generator/config.json"));
    config["hidden_size"] = 256.into();
    config["num_attention_heads"] = 4.into();
    let larger = tmp.path().join("larger.json");
    std::fs::write(&larger, config.to_string()).unwrap();
    refused(
        &rtd("larger", &["--generator-size", arg(&larger)]),
        "larger than the discriminator",
    );
    config["hidden_size"] = 32.into();
    config["embedding_size"] = 64.into();
    let narrow = tmp.path().join("narrow.json");
    std::fs::write(&narrow, config.to_string()).unwrap();
    refused(
        &rtd("narrow", &["--generator-size", arg(&narrow)]),
        "embedding_size",
    );
    refused(&rtd("weight", &["--disc-weight", "0"]), "--disc-weight");

    // A BERT checkpoint where rtd needs an ELECTRA one, and the reverse.
    let bert = tmp.path().join("bert");
    let out = pretrain(&vocab, &bert, &["--max-steps", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bert_ckpt = bert.join("step-00000001");
    refused(
        &rtd("from-bert", &["--init-from", arg(&bert_ckpt)]),
        "ELECTRA discriminator",
    );
    let electra = tmp.path().join("electra");
    assert!(rtd("electra", &[]).status.success());
    let electra_ckpt = electra.join("step-00000002");
    let out = pretrain(
        &vocab,
        &tmp.path().join("mlm"),
        &["--init-from", arg(&electra_ckpt)],
    );
    refused(&out, "--objective rtd");
}
