//! `dapt finetune` / `predict` bad input: each case exits with code 2 and a message
//! saying what is wrong and how to fix it, before any training starts (nothing written).

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{arg, dapt, dapt_ok, fresh_dir, stderr};

/// A word-level vocabulary over ids 0..50 (the synthetic files below), built once.
fn id_vocab() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = fresh_dir("cli_finetune_errors_vocab");
        let corpus = dir.join("corpus.txt");
        let text: String = (0..50).map(|i| format!("{i} {i}\n")).collect();
        std::fs::write(&corpus, text).unwrap();
        dapt_ok(&[
            "vocab",
            "--input",
            arg(&corpus),
            "--format",
            "lines",
            "--out",
            arg(&dir.join("vocab")),
        ]);
        dir.join("vocab")
    })
    .as_path()
}

/// Run finetune on `content` with `extra` flags; assert exit code 2, every needle in
/// stderr, and no output dir.
fn finetune_fails(content: &str, extra: &[&str], needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let train = tmp.path().join("train.tsv");
    std::fs::write(&train, content).unwrap();
    let out = tmp.path().join("out");
    let mut args = vec![
        "finetune",
        "--train",
        arg(&train),
        "--model-config",
        "tiny",
        "--out",
        arg(&out),
    ];
    if !extra.contains(&"--vocab") && !extra.contains(&"--init") {
        args.extend(["--vocab", arg(id_vocab())]);
    }
    args.extend(extra);
    let res = dapt(&args);
    let err = stderr(&res);
    assert_eq!(res.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
    assert!(!out.exists(), "nothing may be written: {err}");
}

/// `n` labelled pairs with labels from `label`.
fn pairs(n: usize, label: impl Fn(usize) -> i64) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{} {}\t{} 3\t{}\n",
                i % 50,
                (i + 1) % 50,
                (i + 7) % 50,
                label(i)
            )
        })
        .collect()
}

#[test]
fn negative_label_names_file_and_line() {
    let mut text = pairs(10, |i| (i % 2) as i64);
    text += "1 2\t3 4\t-1\n";
    finetune_fails(&text, &[], &["train.tsv:11:", "field 3 (label)", "-1"]);
}

#[test]
fn label_gap_names_the_missing_class() {
    finetune_fails(
        &pairs(10, |i| if i % 2 == 0 { 0 } else { 2 }),
        &[],
        &["no example has label 1", "0..C-1"],
    );
}

#[test]
fn class_absent_from_a_fold() {
    finetune_fails(
        &pairs(10, |i| (i == 0) as i64),
        &["--folds", "3"],
        &["fold", "no example of class 1", "fewer --folds"],
    );
}

#[test]
fn fewer_examples_than_folds() {
    finetune_fails(
        &pairs(3, |i| (i % 2) as i64),
        &["--folds", "5"],
        &["3 labelled examples", "--folds 5"],
    );
}

#[test]
fn data_that_the_vocabulary_does_not_know() {
    let english: String = (0..20)
        .map(|i| format!("the cat sat\ton the mat\t{}\n", i % 2))
        .collect();
    finetune_fails(
        &english,
        &["--folds", "2"],
        &[
            "unknown to the vocabulary",
            "do not belong together",
            "dapt vocab",
        ],
    );
}

#[test]
fn class_weight_count_must_match_the_classes() {
    finetune_fails(
        &pairs(20, |i| (i % 2) as i64),
        &["--folds", "2", "--class-weight", "1:1:2"],
        &["--class-weight 1:1:2", "3 weights", "2 classes"],
    );
}

#[test]
fn init_without_a_checkpoint_and_no_model_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    finetune_fails(
        &pairs(20, |i| (i % 2) as i64),
        &["--folds", "2", "--init", arg(tmp.path())],
        &["no vocab.txt", "--vocab"],
    );
    let res = dapt(&[
        "finetune",
        "--train",
        "corpora/mrpc_sample.tsv",
        "--out",
        arg(&tmp.path().join("o")),
    ]);
    assert_eq!(res.status.code(), Some(2));
    assert!(stderr(&res).contains("--init DIR"), "{}", stderr(&res));
}

#[test]
fn predict_refuses_a_dir_without_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let res = dapt(&[
        "predict",
        "--model",
        arg(tmp.path()),
        "--input",
        "corpora/mrpc_sample.tsv",
        "--out",
        arg(&tmp.path().join("p.tsv")),
    ]);
    assert_eq!(res.status.code(), Some(2));
    assert!(stderr(&res).contains("fold-*/best"), "{}", stderr(&res));
    assert!(!tmp.path().join("p.tsv").exists());
}

#[test]
fn technique_values_out_of_range_name_the_flag() {
    let text = pairs(20, |i| (i % 2) as i64);
    let cases: [(&[&str], &str); 10] = [
        (
            &["--adversarial", "fgm", "--adv-epsilon=-0.1"],
            "--adv-epsilon",
        ),
        (&["--adversarial", "pgd", "--adv-steps", "0"], "--adv-steps"),
        (&["--adversarial", "pgd", "--adv-alpha", "0"], "--adv-alpha"),
        (&["--ema", "1.0"], "--ema"),
        (&["--ema", "0"], "--ema"),
        (&["--swa", "0"], "--swa"),
        (&["--ema", "0.99", "--swa", "3"], "choose one"),
        (&["--multi-sample-dropout", "0"], "--multi-sample-dropout"),
        (&["--layer-lr-decay", "1.5"], "--layer-lr-decay"),
        (&["--classifier-dropout", "1"], "--classifier-dropout"),
    ];
    for (flags, needle) in cases {
        finetune_fails(&text, flags, &[needle]);
    }
    // Unknown pooling and a negative R-Drop alpha: refused too (clap for the first).
    finetune_fails(&text, &["--pooling", "avg"], &["--pooling", "cls"]);
    finetune_fails(&text, &["--rdrop=-1"], &["--rdrop"]);
}

#[test]
fn electra_config_whose_embedding_size_does_not_match_its_weights() {
    // The fixture discriminator (embedding_size 16) with a config claiming 32: the
    // load names the tensor and both shapes before any training.
    let tmp = tempfile::tempdir().unwrap();
    let init = tmp.path().join("disc");
    std::fs::create_dir(&init).unwrap();
    let fixture = common::root().join("tests/fixtures/electra/proj/disc");
    std::fs::copy(
        fixture.join("model.safetensors"),
        init.join("model.safetensors"),
    )
    .unwrap();
    let config = std::fs::read_to_string(fixture.join("config.json")).unwrap();
    let config = config.replace("\"embedding_size\": 16", "\"embedding_size\": 32");
    std::fs::write(init.join("config.json"), config).unwrap();
    finetune_fails(
        &pairs(60, |i| (i % 2) as i64),
        &["--init", arg(&init), "--vocab", arg(id_vocab())],
        &[
            "model.safetensors",
            "electra.embeddings.",
            "has shape [16] but the model needs [32]",
        ],
    );
}
