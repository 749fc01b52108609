//! `dapt pretrain` on the OPPO sample: outputs a transformers-style checkpoint and a
//! metrics log, refuses to overwrite a run, and stops on divergence keeping the last
//! good checkpoint as `latest`.

mod common;

use std::path::{Path, PathBuf};

use common::{arg, dapt, dapt_ok, oppo_vocab_and_shard, root, stderr};

fn pretrain<'a>(
    vocab: &'a Path,
    shard: &'a Path,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    common::pretrain_tiny_args(&[arg(shard)], vocab, out, extra)
}

/// A fresh OPPO vocabulary and shard in `tmp`, and a tiny run of them into `tmp/run`
/// with `extra` flags: `(vocab, shard, run dir)`.
fn run_in(tmp: &Path, extra: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let (vocab, shard) = oppo_vocab_and_shard(tmp);
    let out = tmp.join("run");
    dapt_ok(&pretrain(&vocab, &shard, &out, extra));
    (vocab, shard, out)
}

#[test]
fn checkpoint_layout_and_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let (vocab, shard, out) = run_in(tmp.path(), &["--max-steps", "4", "--save-every", "2"]);
    let latest = std::fs::read_to_string(out.join("latest")).unwrap();
    assert_eq!(latest.trim(), "step-00000004");
    let ckpt = out.join("step-00000004");
    for f in [
        "config.json",
        "model.safetensors",
        "vocab.txt",
        "tokenizer.json",
        "optimizer.safetensors",
        "trainer_state.json",
        "manifest.json",
    ] {
        assert!(ckpt.join(f).exists(), "{f} missing");
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ckpt.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForMaskedLM");
    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(log
        .lines()
        .any(|l| l.contains("\"event\":\"eval\"") && l.contains("masked_accuracy")));

    // A second fresh run into the same dir is refused, not silently mixed.
    let again = dapt(&pretrain(&vocab, &shard, &out, &["--max-steps", "4"]));
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("--resume auto"),
        "{}",
        stderr(&again)
    );

    // Resuming with another vocabulary is refused, naming both hashes.
    let other = tmp.path().join("vocab2");
    let sample = root().join("corpora/oppo_sample.tsv");
    dapt_ok(&[
        "vocab",
        "--input",
        arg(&sample),
        "--min-count",
        "3",
        "--out",
        arg(&other),
    ]);
    let shard2 = tmp.path().join("o2.shard");
    dapt_ok(&[
        "encode",
        "--vocab",
        arg(&other),
        "--input",
        arg(&sample),
        "--out",
        arg(&shard2),
    ]);
    let mismatch = dapt(&pretrain(
        &other,
        &shard2,
        &out,
        &["--max-steps", "6", "--resume", "auto"],
    ));
    assert_eq!(mismatch.status.code(), Some(2));
    assert!(
        stderr(&mismatch).contains("trained with vocabulary sha256"),
        "{}",
        stderr(&mismatch)
    );
}

#[test]
fn divergence_stops_and_latest_stays_good() {
    let tmp = tempfile::tempdir().unwrap();
    let (vocab, shard) = oppo_vocab_and_shard(tmp.path());
    let out = tmp.path().join("run");
    // Warmup makes step 1's lr 0 (a good checkpoint); step 2's lr 1e30 wrecks the weights.
    let r = dapt(&pretrain(
        &vocab,
        &shard,
        &out,
        &[
            "--max-steps",
            "10",
            "--save-every",
            "1",
            "--lr",
            "1e30",
            "--max-grad-norm",
            "0",
            "--warmup-ratio",
            "0.05",
        ],
    ));
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    let err = stderr(&r);
    assert!(
        err.contains("diverged") && err.contains("step-00000001"),
        "{err}"
    );
    let latest = std::fs::read_to_string(out.join("latest")).unwrap();
    assert_eq!(latest.trim(), "step-00000001");
}

#[test]
fn match_embedding_is_pretrained_and_kept_by_finetune() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, out) = run_in(
        tmp.path(),
        &["--max-steps", "3", "--save-every", "3", "--match-embedding"],
    );
    let ckpt = out.join("step-00000003");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ckpt.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["dapt_match_embedding"], true);
    let weights =
        candle_core::safetensors::load(ckpt.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let rows: Vec<f32> = weights["bert.embeddings.match_embeddings.weight"]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(
        rows.iter().any(|&x| x != 0.0),
        "pair documents trained the rows"
    );
    // Fine-tuning from it keeps the feature without the flag (labels made up: only the
    // saved config and weights are checked).
    let text = std::fs::read_to_string(root().join("corpora/oppo_sample.tsv")).unwrap();
    let labelled: String = text
        .lines()
        .take(200)
        .enumerate()
        .map(|(i, l)| format!("{l}\t{}\n", i % 2))
        .collect();
    let train = tmp.path().join("train.tsv");
    std::fs::write(&train, labelled).unwrap();
    let ft = tmp.path().join("ft");
    dapt_ok(&[
        "finetune",
        "--train",
        arg(&train),
        "--init",
        arg(&ckpt),
        "--folds",
        "2",
        "--fold",
        "0",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--max-len",
        "32",
        "--out",
        arg(&ft),
    ]);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ft.join("fold-0/best/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["dapt_match_embedding"], true);
}

#[test]
fn electra_checkpoints_are_refused_for_mlm() {
    let tmp = tempfile::tempdir().unwrap();
    let (vocab, shard) = oppo_vocab_and_shard(tmp.path());
    let out = tmp.path().join("run");
    let init = root().join("tests/fixtures/electra/proj/disc");
    let res = dapt(&pretrain(
        &vocab,
        &shard,
        &out,
        &["--init-from", arg(&init)],
    ));
    assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
    assert!(
        stderr(&res).contains("an ELECTRA checkpoint"),
        "{}",
        stderr(&res)
    );
    assert!(!out.exists());
}
