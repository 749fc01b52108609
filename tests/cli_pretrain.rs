//! `dapt pretrain` on the OPPO sample: outputs a transformers-style checkpoint and a
//! metrics log, refuses to overwrite a run, and stops on divergence keeping the last
//! good checkpoint as `latest`.

mod common;

use std::path::Path;

use common::{arg, dapt, dapt_ok, oppo_vocab_and_shard, root, stderr};

fn pretrain<'a>(
    vocab: &'a Path,
    shard: &'a Path,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "pretrain",
        "--corpus",
        arg(shard),
        "--vocab",
        arg(vocab),
        "--model-config",
        "tiny",
        "--max-len",
        "32",
        "--batch-size",
        "8",
        "--out",
        arg(out),
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn checkpoint_layout_and_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let (vocab, shard) = oppo_vocab_and_shard(tmp.path());
    let out = tmp.path().join("run");
    dapt_ok(&pretrain(
        &vocab,
        &shard,
        &out,
        &["--max-steps", "4", "--save-every", "2"],
    ));
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
