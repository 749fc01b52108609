//! Unlabelled pairs at work. `dapt finetune --soft-labels`: a teacher's `predict --with-ids` output and a finetune
//! run's `oof.tsv` as soft targets; unlabelled lines of --train train on the soft term
//! only and never reach validation; files that do not fit are refused before training
//! (exit 2, nothing written). `dapt distill`: the teacher's labels made once and cached
//! by the teacher's and the inputs' identity, one student, a teacher with another
//! vocabulary refused. `dapt finetune --pseudo`: confident pairs join every fold's
//! training part, never a validation part, round after round.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{arg, dapt, dapt_ok, finetune_tiny, fresh_dir, lines, stderr};
use serde_json::Value;

/// The teacher (a 2-fold tiny run on the first 300 MRPC sample pairs), the mixed file
/// (those 300 pairs and the last 100 without labels) and the teacher's `predict
/// --with-ids` output on the mixed file.
struct Setup {
    dir: PathBuf,
    labelled: PathBuf,
    mixed: PathBuf,
    teacher: PathBuf,
    soft: PathBuf,
    unlabelled: PathBuf,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let dir = fresh_dir("cli_unlabelled");
        let common::MrpcSplit {
            labelled,
            unlabelled,
            mixed,
        } = common::mrpc_split(&dir);
        let teacher = dir.join("teacher");
        finetune_tiny(&labelled, vocab(), "2", &teacher, &["--seed", "3"]);
        let soft = dir.join("soft.tsv");
        dapt_ok(&[
            "predict",
            "--model",
            arg(&teacher),
            "--input",
            arg(&mixed),
            "--with-ids",
            "--out",
            arg(&soft),
        ]);
        Setup {
            dir,
            labelled,
            mixed,
            teacher,
            soft,
            unlabelled,
        }
    })
}

fn vocab() -> &'static Path {
    common::mrpc_vocab("cli_unlabelled_vocab")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// A student run of `train` with `extra` flags; its stderr.
fn student(train: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "finetune",
        "--train",
        arg(train),
        "--vocab",
        arg(vocab()),
        "--model-config",
        "tiny",
        "--folds",
        "2",
        "--epochs",
        "1",
        "--max-len",
        "48",
        "--lr",
        "1e-3",
        "--out",
        arg(out),
    ];
    args.extend_from_slice(extra);
    stderr(&dapt_ok(&args))
}

#[test]
fn unlabelled_lines_train_every_fold_and_are_never_validated() {
    let s = setup();
    let out = s.dir.join("student-mixed");
    let err = student(
        &s.mixed,
        &out,
        &["--soft-labels", arg(&s.soft), "--temperature", "2"],
    );
    assert!(err.contains("+100 soft-only"), "{err}");
    assert_eq!(
        read_json(&out.join("folds.json"))["assignment"]
            .as_array()
            .unwrap()
            .len(),
        300
    );
    let mut valid = 0;
    for k in 0..2 {
        let r = read_json(&out.join(format!("fold-{k}/result.json")));
        let (train, v) = (
            r["train_examples"].as_u64().unwrap(),
            r["valid_examples"].as_u64().unwrap(),
        );
        assert_eq!(
            train,
            300 - v + 100,
            "fold {k}: the labelled training part plus the 100 unlabelled"
        );
        valid += v;
        for (i, _) in serde_json::from_value::<Vec<(usize, Vec<f64>)>>(r["oof"].clone()).unwrap() {
            assert!(i < 300, "fold {k} validated pair {i}, which has no label");
        }
    }
    assert_eq!(valid, 300);
    assert_eq!(lines(&out.join("oof.tsv")).len(), 300);
}

#[test]
fn a_runs_out_of_fold_predictions_are_soft_labels_too() {
    let s = setup();
    let out = s.dir.join("student-oof");
    let oof = s.teacher.join("oof.tsv");
    student(
        &s.labelled,
        &out,
        &["--soft-labels", arg(&oof), "--distill-alpha", "0.3"],
    );
    assert!(out.join("cv.json").exists());
}

/// Finetune fails with exit 2, names every needle, writes nothing.
fn refused(train: &Path, extra: &[&str], needles: &[&str]) {
    let out = setup().dir.join("refused");
    let mut args = vec![
        "finetune",
        "--train",
        arg(train),
        "--vocab",
        arg(vocab()),
        "--model-config",
        "tiny",
        "--folds",
        "2",
        "--out",
        arg(&out),
    ];
    args.extend_from_slice(extra);
    let res = dapt(&args);
    let err = stderr(&res);
    assert_eq!(res.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
    assert!(!out.exists(), "nothing may be written: {err}");
}

#[test]
fn soft_labels_that_do_not_fit_are_refused() {
    let s = setup();
    let oof = s.teacher.join("oof.tsv");
    // Made for the 300 labelled pairs, given with the 400-line mixed file.
    refused(
        &s.mixed,
        &["--soft-labels", arg(&oof)],
        &["for 300 pairs", "400", "another file"],
    );
    // Three classes for a two-class task.
    let three = s.dir.join("three.tsv");
    let rows: String = (1..=300)
        .map(|l| format!("{l}\t0.2\t0.3\t0.5\t2\n"))
        .collect();
    std::fs::write(&three, format!("line\tp_0\tp_1\tp_2\tprediction\n{rows}")).unwrap();
    refused(
        &s.labelled,
        &["--soft-labels", arg(&three)],
        &["3 classes", "has 2"],
    );
    // One label flipped: the file belongs to another training file.
    let mut flipped = lines(&oof);
    let cols: Vec<&str> = flipped[5].split('\t').collect();
    let other = if cols[2] == "0" { "1" } else { "0" };
    flipped[5] = [cols[0], cols[1], other, cols[3], cols[4]].join("\t");
    let flipped_path = s.dir.join("flipped.tsv");
    std::fs::write(&flipped_path, flipped.join("\n") + "\n").unwrap();
    refused(
        &s.labelled,
        &["--soft-labels", arg(&flipped_path)],
        &["flipped.tsv:6", "has label"],
    );
    // Unlabelled lines need soft labels.
    refused(&s.mixed, &[], &["missing field 3"]);
}

#[test]
fn distillation_flags_out_of_range_name_the_flag() {
    let s = setup();
    refused(
        &s.mixed,
        &["--soft-labels", arg(&s.soft), "--distill-alpha", "1.5"],
        &["--distill-alpha 1.5"],
    );
    refused(
        &s.mixed,
        &["--soft-labels", arg(&s.soft), "--temperature", "0"],
        &["--temperature 0"],
    );
}

/// A distill run of the teacher `teacher` into a tiny student over `vocab`; its output.
fn distill(teacher: &Path, vocab: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let s = setup();
    let unlabelled = &s.unlabelled;
    let mut args = vec![
        "distill",
        "--teacher",
        arg(teacher),
        "--train",
        arg(&s.labelled),
        "--unlabelled",
        arg(unlabelled),
        "--vocab",
        arg(vocab),
        "--model-config",
        "tiny",
        "--epochs",
        "1",
        "--max-len",
        "48",
        "--lr",
        "1e-3",
        "--out",
        arg(out),
    ];
    args.extend_from_slice(extra);
    dapt(&args)
}

#[test]
fn distill_labels_once_and_trains_one_student() {
    let s = setup();
    let out = s.dir.join("distilled");
    let first = distill(&s.teacher, vocab(), &out, &[]);
    let err = stderr(&first);
    assert!(first.status.success(), "{err}");
    assert!(
        err.contains("teacher (2 model(s)) labelled 400 pairs (300 labelled, 100 unlabelled)"),
        "{err}"
    );
    // The cached labels are the teacher ensemble's predictions of the same pairs.
    let cached = lines(&out.join("teacher/soft-labels.tsv"));
    let direct = s.dir.join("direct.tsv");
    dapt_ok(&[
        "predict",
        "--model",
        arg(&s.teacher),
        "--input",
        arg(&out.join("teacher/pairs.tsv")),
        "--with-ids",
        "--out",
        arg(&direct),
    ]);
    assert_eq!(cached, lines(&direct));
    assert!(out.join("fold-0/best/model.safetensors").exists());
    assert!(!out.join("fold-1").exists(), "one student");
    let again = distill(&s.teacher, vocab(), &out, &[]);
    assert!(stderr(&again).contains("cached"), "{}", stderr(&again));
    assert_eq!(lines(&out.join("teacher/soft-labels.tsv")), cached);
    // Another teacher (one fold model) is not served from the cache.
    let other = distill(&s.teacher.join("fold-1/best"), vocab(), &out, &[]);
    let err = stderr(&other);
    assert!(
        err.contains("teacher (1 model(s)) labelled 400 pairs"),
        "{err}"
    );
    assert_ne!(lines(&out.join("teacher/soft-labels.tsv")), cached);
}

#[test]
fn distill_refuses_a_teacher_with_another_vocabulary() {
    let s = setup();
    let other_vocab = s.dir.join("other-vocab");
    dapt_ok(&[
        "vocab",
        "--input",
        arg(&s.labelled),
        "--tokenizer",
        "wordpiece",
        "--max-size",
        "500",
        "--out",
        arg(&other_vocab),
    ]);
    let out = s.dir.join("refused-distill");
    let res = distill(&s.teacher, &other_vocab, &out, &[]);
    let err = stderr(&res);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("another vocabulary"), "{err}");
    assert!(!out.exists(), "nothing may be written: {err}");
    let res = distill(&s.teacher, vocab(), &out, &["--soft-labels", arg(&s.soft)]);
    assert_eq!(res.status.code(), Some(2));
    assert!(stderr(&res).contains("drop --soft-labels"));
}

#[test]
fn pseudo_labels_join_training_parts_only() {
    let s = setup();
    // What the teacher is confident about, from its own predictions of the same 100 pairs
    // (lines 301-400 of the mixed file, in the same order as the unlabelled file).
    let threshold = 0.6;
    let mut want = [0usize; 2];
    for row in &lines(&s.soft)[301..] {
        let p: Vec<f64> = row
            .split('\t')
            .skip(1)
            .take(2)
            .map(|x| x.parse().unwrap())
            .collect();
        if p[0] >= threshold {
            want[0] += 1;
        } else if p[1] >= threshold {
            want[1] += 1;
        }
    }
    let added = want[0] + want[1];
    assert!(
        added > 0,
        "the teacher is confident about none of the pairs: lower the threshold"
    );
    let out = s.dir.join("pseudo");
    let t = threshold.to_string();
    let err = student(
        &s.labelled,
        &out,
        &[
            "--pseudo",
            arg(&s.unlabelled),
            "--pseudo-teacher",
            arg(&s.teacher),
            "--pseudo-threshold",
            &t,
            "--pseudo-rounds",
            "2",
        ],
    );
    let first = read_json(&out.join("round-1/pseudo.json"));
    assert_eq!(first["added_per_class"], serde_json::json!(want), "{err}");
    assert_eq!(first["candidates"], 100);
    let last = read_json(&out.join("pseudo.json"));
    assert!(last["teacher"].as_str().unwrap().ends_with("round-1"));
    let last_added: u64 = last["added_per_class"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .sum();
    let mut valid = 0;
    for k in 0..2 {
        let r = read_json(&out.join(format!("fold-{k}/result.json")));
        let (train, v) = (
            r["train_examples"].as_u64().unwrap(),
            r["valid_examples"].as_u64().unwrap(),
        );
        assert_eq!(train, 300 - v + last_added, "fold {k}");
        valid += v;
        for (i, _) in serde_json::from_value::<Vec<(usize, Vec<f64>)>>(r["oof"].clone()).unwrap() {
            assert!(
                i < 300,
                "fold {k} validated pair {i}, which is not a labelled pair"
            );
        }
    }
    assert_eq!(
        valid, 300,
        "every labelled pair is validated once, nothing else"
    );
    assert!(out.join("cv.json").exists() && out.join("round-1/cv.json").exists());
}

#[test]
fn pseudo_flags_out_of_range_are_refused() {
    let s = setup();
    let u = arg(&s.unlabelled);
    refused(
        &s.labelled,
        &["--pseudo", u, "--pseudo-threshold", "0.5"],
        &["--pseudo-threshold 0.5", "(0.5, 1]"],
    );
    refused(
        &s.labelled,
        &["--pseudo", u, "--pseudo-rounds", "0"],
        &["--pseudo-rounds"],
    );
    refused(
        &s.labelled,
        &["--pseudo", u, "--fold", "0"],
        &["drop --fold"],
    );
    refused(
        &s.labelled,
        &["--pseudo", arg(&s.dir.join("missing.tsv"))],
        &["missing.tsv"],
    );
}

#[test]
fn uda_trains_on_labelled_pairs_plus_consistency_reproducibly() {
    let s = setup();
    let flags = [
        "--uda",
        arg(&s.unlabelled),
        "--tsa",
        "linear",
        "--uda-augment",
        "tfidf,delete,span-swap,pair-swap",
        "--uda-batch-size",
        "16",
        "--seed",
        "5",
    ];
    let (one, two) = (s.dir.join("uda-1"), s.dir.join("uda-2"));
    student(&s.labelled, &one, &flags);
    student(&s.labelled, &two, &flags);
    for k in 0..2 {
        let r = read_json(&one.join(format!("fold-{k}/result.json")));
        let (train, v) = (
            r["train_examples"].as_u64().unwrap(),
            r["valid_examples"].as_u64().unwrap(),
        );
        assert_eq!(
            train + v,
            300,
            "fold {k}: unlabelled pairs are not training examples"
        );
    }
    assert_eq!(
        lines(&one.join("oof.tsv")),
        lines(&two.join("oof.tsv")),
        "same seed, same run"
    );
}

#[test]
fn uda_flags_out_of_range_are_refused() {
    let s = setup();
    let u = arg(&s.unlabelled);
    refused(
        &s.labelled,
        &["--uda", u, "--uda-confidence", "1.5"],
        &["--uda-confidence 1.5"],
    );
    refused(
        &s.labelled,
        &["--uda", u, "--uda-temperature", "0"],
        &["--uda-temperature 0"],
    );
    refused(
        &s.labelled,
        &["--uda", u, "--uda-delete-rate", "1.1"],
        &["--uda-delete-rate"],
    );
    refused(
        &s.labelled,
        &["--uda", arg(&s.dir.join("missing.tsv"))],
        &["missing.tsv"],
    );
}
