//! `dapt finetune` with the techniques on the shipped MRPC sample: what a fold evaluated
//! (averaged weights, its pooling) is what it saved and what `predict` reproduces; and
//! `dapt average` against the mean computed here from the input files.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{arg, dapt, dapt_ok, fresh_dir, lines};
use serde_json::Value;

fn mrpc_vocab() -> &'static Path {
    common::mrpc_vocab("cli_finetune_techniques_vocab")
}

/// A 2-fold, 1-epoch tiny run with `flags`, evaluated every 3 steps; its output dir.
fn run(name: &str, flags: &[&str]) -> PathBuf {
    let out = fresh_dir(name).join("ft");
    let mut all = vec!["--eval-every", "3", "--seed", "5"];
    all.extend_from_slice(flags);
    let train = Path::new("corpora/mrpc_sample.tsv");
    common::finetune_tiny(train, mrpc_vocab(), "2", &out, &all);
    out
}

fn run_a() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        run(
            "cli_finetune_techniques_a",
            &[
                "--adversarial",
                "fgm",
                "--ema",
                "0.9",
                "--rdrop",
                "1.0",
                "--multi-sample-dropout",
                "3",
                "--pooling",
                "mean",
                "--classifier-dropout",
                "0.2",
                "--layer-lr-decay",
                "0.8",
            ],
        )
    })
    .as_path()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// `predict` of `fold-K/best` on fold K's validation pairs equals the fold's out-of-fold
/// probabilities (class 1): the saved weights and head are the evaluated ones.
fn predict_reproduces_oof(out: &Path, k: usize) {
    let folds = read_json(&out.join("folds.json"));
    let input = lines(&common::root().join("corpora/mrpc_sample.tsv"));
    let oof = lines(&out.join("oof.tsv"));
    let mut valid = String::new();
    let mut want = Vec::new();
    for (i, line) in input.iter().enumerate() {
        if folds["assignment"][i] == k {
            valid += &format!("{line}\n");
            let cols: Vec<&str> = oof[i].split('\t').collect();
            want.push(cols[4].parse::<f64>().unwrap());
        }
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), valid).unwrap();
    let preds = tempfile::NamedTempFile::new().unwrap();
    let best = out.join(format!("fold-{k}/best"));
    dapt_ok(&[
        "predict",
        "--model",
        arg(&best),
        "--input",
        arg(file.path()),
        "--out",
        arg(preds.path()),
    ]);
    let got: Vec<f64> = lines(preds.path())
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "{}: predict vs out-of-fold max diff {diff:.2e}",
        best.display()
    );
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn fgm_ema_rdrop_mean_pooling_save_what_they_evaluated() {
    let out = run_a();
    let config = read_json(&out.join("fold-0/best/config.json"));
    assert_eq!(config["dapt_pooling"], "mean");
    assert_eq!(config["classifier_dropout"], 0.2);
    for k in 0..2 {
        predict_reproduces_oof(out, k);
    }
    // Several evaluations per fold (every 3 steps and at the epoch's end).
    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert!(log.lines().filter(|l| l.contains("\"eval\"")).count() >= 4);
}

#[test]
fn pgd_swa_cls_mean_save_what_they_evaluated() {
    let out = run(
        "cli_finetune_techniques_b",
        &[
            "--adversarial",
            "pgd",
            "--adv-steps",
            "2",
            "--swa",
            "2",
            "--pooling",
            "cls-mean",
        ],
    );
    let config = read_json(&out.join("fold-1/best/config.json"));
    assert_eq!(config["dapt_pooling"], "cls-mean");
    predict_reproduces_oof(&out, 1);
    // An ensemble over folds trained this way works unchanged.
    dapt_ok(&[
        "eval",
        "--model",
        arg(&out),
        "--input",
        "corpora/mrpc_sample.tsv",
    ]);
    // A cls-mean classifier is twice as wide: averaging it with a mean-pooling one fails.
    let avg = fresh_dir("cli_finetune_techniques_avg_bad").join("avg");
    let res = dapt(&[
        "average",
        arg(&run_a().join("fold-0/best")),
        arg(&out.join("fold-0/best")),
        "--out",
        arg(&avg),
    ]);
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&res.stderr).contains("config.json differs"));
    assert!(!avg.exists());
}

fn tensors(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let v = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn average_is_the_element_wise_mean_of_the_fold_bests() {
    let out = run_a();
    let avg = fresh_dir("cli_finetune_techniques_avg").join("avg");
    dapt_ok(&["average", arg(out), "--out", arg(&avg)]);
    let a = tensors(&out.join("fold-0/best"));
    let b = tensors(&out.join("fold-1/best"));
    let m = tensors(&avg);
    assert_eq!(m.len(), a.len());
    let mut worst = 0.0f64;
    for ((na, va), ((nb, vb), (nm, vm))) in a.iter().zip(b.iter().zip(&m)) {
        assert!(na == nb && na == nm);
        for ((x, y), z) in va.iter().zip(vb).zip(vm) {
            worst = worst.max(((*x as f64 + *y as f64) / 2.0 - *z as f64).abs());
        }
    }
    eprintln!("average vs mean computed here: max abs diff {worst:.2e}");
    assert!(worst < 1e-6);
    // The averaged dir is a complete classifier: it keeps the pooling and predicts.
    assert_eq!(read_json(&avg.join("config.json"))["dapt_pooling"], "mean");
    assert!(avg.join("dapt_average.json").exists() && avg.join("vocab.txt").exists());
    dapt_ok(&[
        "eval",
        "--model",
        arg(&avg),
        "--input",
        "corpora/mrpc_sample.tsv",
    ]);
    // One checkpoint is not an average.
    let res = dapt(&["average", arg(&out.join("fold-0/best")), "--out", arg(&avg)]);
    assert_eq!(res.status.code(), Some(2));
}

#[test]
fn compete_config_trains_with_its_techniques() {
    // configs/compete.toml's [finetune] table on other data and another checkpoint
    // (command-line flags win): its keys are valid flags and its head reaches the dir.
    let dir = fresh_dir("cli_finetune_techniques_compete");
    let corpus = dir.join("mrpc.tsv");
    std::fs::copy(common::root().join("corpora/mrpc_sample.tsv"), &corpus).unwrap();
    let pre = dir.join("pre");
    dapt_ok(&[
        "pretrain",
        "--vocab",
        arg(mrpc_vocab()),
        "--corpus",
        arg(&corpus),
        "--model-config",
        "tiny",
        "--max-len",
        "48",
        "--batch-size",
        "8",
        "--max-steps",
        "2",
        "--out",
        arg(&pre),
    ]);
    let ft = dir.join("ft");
    dapt_ok(&[
        "finetune",
        "--config",
        "configs/compete.toml",
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
    let config = read_json(&ft.join("fold-0/best/config.json"));
    assert_eq!(config["dapt_pooling"], "mean");
}

#[test]
fn match_embedding_is_learned_saved_and_used_by_predict() {
    let out = run("cli_finetune_techniques_match", &["--match-embedding"]);
    let best = out.join("fold-0/best");
    assert_eq!(
        read_json(&best.join("config.json"))["dapt_match_embedding"],
        true
    );
    let rows = tensors(&best)
        .into_iter()
        .find(|(name, _)| name == "bert.embeddings.match_embeddings.weight")
        .expect("the match rows are saved")
        .1;
    assert_eq!(rows.len(), 2 * 128, "two rows of the tiny model's width");
    assert!(
        rows.iter().any(|&x| x != 0.0),
        "trained away from their zero start"
    );
    // predict computes the same flags as training did: it reproduces the evaluation.
    for k in 0..2 {
        predict_reproduces_oof(&out, k);
    }
}

#[test]
fn electra_discriminator_fine_tunes_as_electra_for_sequence_classification() {
    let dir = fresh_dir("cli_finetune_techniques_electra");
    // The fixture discriminator has 128 token ids: a WordPiece vocabulary that fits
    // (the alphabet and little more, 108 tokens).
    let vocab = dir.join("vocab");
    common::mrpc_wordpiece("100", &vocab);
    let out = dir.join("ft");
    let init = common::root().join("tests/fixtures/electra/proj/disc");
    // --init wins over the helper's --model-config.
    let train = Path::new("corpora/mrpc_sample.tsv");
    let flags = ["--init", arg(&init), "--layer-lr-decay", "0.8"];
    common::finetune_tiny(train, &vocab, "2", &out, &flags);
    let best = out.join("fold-0/best");
    let config = read_json(&best.join("config.json"));
    assert_eq!(config["model_type"], "electra");
    assert_eq!(
        config["architectures"][0],
        "ElectraForSequenceClassification"
    );
    assert_eq!(config["embedding_size"], 16);
    let names: Vec<String> = tensors(&best).into_iter().map(|(n, _)| n).collect();
    for key in [
        "electra.embeddings_project.weight",
        "classifier.dense.weight",
        "classifier.out_proj.weight",
    ] {
        assert!(names.iter().any(|n| n == key), "{key} missing: {names:?}");
    }
    assert!(!names
        .iter()
        .any(|n| n.starts_with("bert.") || n.starts_with("discriminator")));
    for k in 0..2 {
        predict_reproduces_oof(&out, k);
    }
}
