//! `dapt stack` end to end on the shipped desensitized LCQMC sample (its first 600
//! training pairs, to stay quick): two tiny finetune runs on the same folds, stacked. The second level never sees the label of a pair it
//! scores out of fold; the runs' and baselines' figures agree with `cv.json`, `dapt eval`
//! and scikit-learn; mismatched runs and unreadable test files are refused before fitting.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{arg, dapt, dapt_ok, fresh_dir, lines, stderr};
use serde_json::Value;

const TRAIN_FULL: &str = "corpora/lcqmc_desens_train.tsv";
const TEST: &str = "corpora/lcqmc_desens_test.tsv";

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The training file (600 pairs) and two runs on it (seeds 1, 2) with the same folds,
/// made once.
fn setup() -> &'static (PathBuf, PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        let dir = fresh_dir("cli_stack");
        let train = dir.join("train.tsv");
        let head = lines(&common::root().join(TRAIN_FULL))[..600].join("\n") + "\n";
        std::fs::write(&train, head).unwrap();
        let vocab = dir.join("vocab");
        dapt_ok(&["vocab", "--input", TRAIN_FULL, TEST, "--out", arg(&vocab)]);
        let run = |seed: &str| {
            let out = dir.join(format!("ft{seed}"));
            let flags = [
                "--fold-by",
                "components",
                "--fold-seed",
                "1",
                "--seed",
                seed,
            ];
            common::finetune_tiny(&train, &vocab, "3", &out, &flags);
            out
        };
        let (ft1, ft2) = (run("1"), run("2"));
        (train, ft1, ft2)
    })
}

fn stack(runs: &[&Path], train: &Path, test: &str, out: &Path) -> std::process::Output {
    let mut args = vec!["stack", "--runs"];
    args.extend(runs.iter().map(|r| arg(r)));
    args.extend(["--train", arg(train), "--test", test, "--out", arg(out)]);
    dapt(&args)
}

/// Column `col` of a TSV with a header, as numbers.
fn column(path: &Path, col: usize) -> Vec<f64> {
    lines(path)[1..]
        .iter()
        .map(|l| l.split('\t').nth(col).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn report_agrees_with_cv_eval_and_scikit_learn() {
    let (train, ft1, ft2) = setup();
    let out = fresh_dir("cli_stack_report");
    let res = stack(&[ft1, ft2], train, TEST, &out);
    assert!(res.status.success(), "{}", stderr(&res));
    let report = read_json(&out.join("stack.json"));
    assert_eq!(report["features"].as_array().unwrap().len(), 2 + 6);
    // Each run's fold AUCs are its cv.json's (the best checkpoints' validation AUC).
    let cv = read_json(&ft1.join("cv.json"));
    let run = &report["runs"][0];
    for k in 0..3 {
        let (a, b) = (
            run["folds"][k].as_f64().unwrap(),
            cv["folds"][k]["auc"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-6, "fold {k}: {a} vs {b}");
    }
    // Its test AUC is `dapt eval`'s for the fold ensemble.
    let eval = dapt_ok(&["eval", "--model", arg(ft1), "--input", TEST, "--json"]);
    let ensemble: Value = String::from_utf8(eval.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["model"] == "ensemble")
        .unwrap();
    let (a, b) = (
        run["test"].as_f64().unwrap(),
        ensemble["auc"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    // The baselines' test AUC is scikit-learn's (tests/fixtures/overlap).
    let fixture = read_json(&common::root().join("tests/fixtures/overlap/reference.json"));
    for b in report["baselines"].as_array().unwrap() {
        let m = b["name"].as_str().unwrap().trim_start_matches("baseline:");
        let want = fixture["files"][TEST]["auc"][m].as_f64().unwrap();
        assert!((b["test"].as_f64().unwrap() - want).abs() < 1e-12, "{m}");
    }
    for learner in report["learners"].as_array().unwrap() {
        eprintln!(
            "{}: CV {} test {}",
            learner["name"], learner["cv"], learner["test"]
        );
    }
    assert_eq!(column(&out.join("oof.tsv"), 3).len(), 600);
    assert_eq!(
        column(&out.join("test.tsv"), 1).len(),
        lines(&common::root().join(TEST)).len()
    );
}

/// The text of `path` with the 0/1 label in column `col` flipped on the lines (0-based)
/// that `which` selects.
fn flip_labels(path: &Path, col: usize, which: &dyn Fn(usize) -> bool) -> String {
    let flipped: Vec<String> = lines(path)
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut c: Vec<&str> = l.split('\t').collect();
            if which(i) {
                c[col] = if c[col] == "1" { "0" } else { "1" };
            }
            c.join("\t")
        })
        .collect();
    flipped.join("\n") + "\n"
}

#[test]
fn out_of_fold_scores_never_see_their_own_labels() {
    let (train_file, ft1, ft2) = setup();
    // A copy of the training file and of the runs in which every fold-0 label is
    // flipped: the second level's fold-0 scores must not move; the others must.
    let dir = fresh_dir("cli_stack_flipped");
    let folds = read_json(&ft1.join("folds.json"))["assignment"].clone();
    let in_fold0 = |i: usize| folds[i] == 0;
    let flipped_train = dir.join("train.tsv");
    std::fs::write(&flipped_train, flip_labels(train_file, 2, &in_fold0)).unwrap();
    let mut runs = Vec::new();
    for ft in [ft1, ft2] {
        let copy = dir.join(ft.file_name().unwrap());
        let status = std::process::Command::new("cp")
            .args(["-r", arg(ft), arg(&copy)])
            .status();
        assert!(status.unwrap().success());
        std::fs::write(
            copy.join("oof.tsv"),
            flip_labels(&ft.join("oof.tsv"), 2, &in_fold0),
        )
        .unwrap();
        runs.push(copy);
    }
    let (a, b) = (dir.join("a"), dir.join("b"));
    assert!(stack(&[ft1, ft2], train_file, TEST, &a).status.success());
    let r = stack(&[&runs[0], &runs[1]], &flipped_train, TEST, &b);
    assert!(r.status.success(), "{}", stderr(&r));
    for col in [3, 4] {
        let (x, y) = (
            column(&a.join("oof.tsv"), col),
            column(&b.join("oof.tsv"), col),
        );
        let (mut same, mut moved) = (true, false);
        for i in 0..x.len() {
            if in_fold0(i) {
                same &= x[i] == y[i];
            } else {
                moved |= x[i] != y[i];
            }
        }
        assert!(
            same,
            "column {col}: a fold-0 score changed with the fold-0 labels"
        );
        assert!(
            moved,
            "column {col}: the other folds' scores should depend on fold 0's labels"
        );
    }
}

#[test]
fn mismatched_runs_and_unreadable_tests_are_refused_before_fitting() {
    let (train, ft1, _) = setup();
    let dir = fresh_dir("cli_stack_refusals");
    // A run whose folds.json assigns the pairs differently (fold ids rotated).
    let other = dir.join("other");
    let status = std::process::Command::new("cp")
        .args(["-r", arg(ft1), arg(&other)])
        .status();
    assert!(status.unwrap().success());
    let mut folds = read_json(&other.join("folds.json"));
    for f in folds["assignment"].as_array_mut().unwrap() {
        *f = ((f.as_u64().unwrap() + 1) % 3).into();
    }
    std::fs::write(other.join("folds.json"), folds.to_string()).unwrap();
    let out = dir.join("out");
    let r = stack(&[ft1, &other], train, TEST, &out);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("different folds"), "{}", stderr(&r));
    // Another training file (the first 500 pairs only).
    let short = dir.join("short.tsv");
    let head: Vec<String> = lines(train)[..500].to_vec();
    std::fs::write(&short, head.join("\n") + "\n").unwrap();
    let r = stack(&[ft1], &short, TEST, &out);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("trained on another file"),
        "{}",
        stderr(&r)
    );
    // English pairs the desensitized vocabulary cannot read.
    let r = stack(&[ft1], train, "corpora/mrpc_sample.tsv", &out);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("unknown to the vocabulary"),
        "{}",
        stderr(&r)
    );
    assert!(!out.exists(), "nothing written before fitting");
}
