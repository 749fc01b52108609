//! `dapt finetune`, `predict` and `eval` end to end on the shipped MRPC sample and on a
//! small synthetic task: outputs, checkpoints, ensembling, test-time swap, learning and
//! reproducibility.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::Device;
use common::{arg, dapt_ok, fresh_dir, lines, root};
use dapt::model::build::Init;
use dapt::model::classifier::SequenceClassifier;
use dapt::model::{checkpoint, BertConfig};
use serde_json::Value;

fn mrpc_vocab() -> &'static Path {
    common::mrpc_vocab("cli_finetune_vocab")
}

/// The arguments of a quick 3-fold run of a tiny model on the MRPC sample with `seed`
/// and `extra` flags.
fn quick_args(out: &Path, seed: &str, extra: &[&str]) -> Vec<String> {
    let mut flags = vec![
        "--class-weight",
        "1:1.3",
        "--label-smoothing",
        "0.1",
        "--seed",
        seed,
    ];
    flags.extend_from_slice(extra);
    let train = Path::new("corpora/mrpc_sample.tsv");
    common::finetune_tiny_args(train, mrpc_vocab(), "3", out, &flags)
}

/// Run [`quick_args`]; fail the test unless it succeeds.
fn quick_run(out: &Path, seed: &str, extra: &[&str]) {
    let args = quick_args(out, seed, extra);
    common::dapt_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// The quick run, done once and shared by the tests that only read its outputs.
fn quick_out() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = fresh_dir("cli_finetune_quick").join("ft");
        quick_run(&out, "7", &[]);
        out
    })
    .as_path()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// `tests/fixtures/overlap/reference.json`: the word-overlap baselines by Python.
fn overlap_reference() -> Value {
    read_json(&root().join("tests/fixtures/overlap/reference.json"))
}

/// One probability per line.
fn read_probs(p: &Path) -> Vec<f64> {
    lines(p).iter().map(|l| l.parse().unwrap()).collect()
}

fn predict(model: &Path, input: &Path, extra: &[&str]) -> Vec<f64> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut args = vec![
        "predict",
        "--model",
        arg(model),
        "--input",
        arg(input),
        "--out",
        arg(out.path()),
    ];
    args.extend(extra);
    dapt_ok(&args);
    read_probs(out.path())
}

#[test]
fn finetune_writes_folds_oof_cv_and_loadable_best_checkpoints() {
    let out = quick_out();
    let n = lines(&root().join("corpora/mrpc_sample.tsv")).len();
    let folds = read_json(&out.join("folds.json"));
    assert_eq!(folds["k"], 3);
    assert_eq!(folds["assignment"].as_array().unwrap().len(), n);

    let oof = lines(&out.join("oof.tsv"));
    assert_eq!(oof.len(), n, "one out-of-fold line per input pair");
    for (i, l) in oof.iter().enumerate() {
        let cols: Vec<&str> = l.split('\t').collect();
        assert_eq!(cols[0], (i + 1).to_string(), "input order");
        assert_eq!(cols[1], folds["assignment"][i].to_string());
        let p: Vec<f64> = cols[3..].iter().map(|c| c.parse().unwrap()).collect();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{l}");
    }

    let cv = read_json(&out.join("cv.json"));
    assert_eq!(cv["metric"], "auc");
    assert_eq!(cv["folds"].as_array().unwrap().len(), 3);
    for key in ["auc", "accuracy", "f1", "log_loss"] {
        for part in ["mean", "std", "oof"] {
            assert!(cv[part][key].is_f64(), "cv.json {part}.{key}: {cv}");
        }
        assert!(cv["folds"][0][key].is_f64());
    }
    // Baselines over all pairs as scikit-learn computes them; their fold mean.
    let want = &overlap_reference()["files"]["corpora/mrpc_sample.tsv"]["auc"];
    let b = &cv["baselines"];
    for m in ["jaccard", "overlap", "edit"] {
        assert!((b["all"][m].as_f64().unwrap() - want[m].as_f64().unwrap()).abs() < 1e-12);
        let folds: Vec<f64> = (0..3).map(|k| b["folds"][k][m].as_f64().unwrap()).collect();
        assert!((b["mean"][m].as_f64().unwrap() - folds.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    }
    let fold_aucs: Vec<f64> = (0..3)
        .map(|k| cv["folds"][k]["auc"].as_f64().unwrap())
        .collect();
    let mean = fold_aucs.iter().sum::<f64>() / 3.0;
    assert!((cv["mean"]["auc"].as_f64().unwrap() - mean).abs() < 1e-12);

    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let evals = log.lines().filter(|l| l.contains("\"eval\"")).count();
    assert_eq!(evals, 3, "one evaluation per fold and epoch: {log}");

    for k in 0..3 {
        let best = out.join(format!("fold-{k}/best"));
        for f in [
            "config.json",
            "model.safetensors",
            "vocab.txt",
            "manifest.json",
            "trainer_state.json",
        ] {
            assert!(best.join(f).exists(), "{} lacks {f}", best.display());
        }
        let config = BertConfig::read(&best.join("config.json")).unwrap();
        assert_eq!(config.num_labels, Some(2));
        assert_eq!(
            config.architectures,
            vec!["BertForSequenceClassification".to_string()]
        );
        let (model, _) = SequenceClassifier::new(&config, 2, &Device::Cpu, Init::Fresh(1)).unwrap();
        let report = checkpoint::load_into(&best, &model.vars).unwrap();
        assert!(report.newly_initialized.is_empty(), "{report:?}");
        assert!(report.unused.is_empty(), "{report:?}");
    }
}

/// The MRPC sample without its label column, and with its two texts swapped.
fn unlabelled_and_swapped(dir: &Path) -> (PathBuf, PathBuf) {
    let (plain, swapped) = (dir.join("test.tsv"), dir.join("swapped.tsv"));
    let rows: Vec<Vec<String>> = lines(&root().join("corpora/mrpc_sample.tsv"))
        .iter()
        .take(60)
        .map(|l| l.split('\t').map(String::from).collect())
        .collect();
    let text = |swap: bool| -> String {
        rows.iter()
            .map(|r| {
                if swap {
                    format!("{}\t{}\n", r[1], r[0])
                } else {
                    format!("{}\t{}\n", r[0], r[1])
                }
            })
            .collect()
    };
    std::fs::write(&plain, text(false)).unwrap();
    std::fs::write(&swapped, text(true)).unwrap();
    (plain, swapped)
}

#[test]
fn predict_averages_the_folds_and_the_swapped_pairs() {
    let out = quick_out();
    let tmp = tempfile::tempdir().unwrap();
    let (plain, swapped) = unlabelled_and_swapped(tmp.path());
    let ensemble = predict(out, &plain, &[]);
    assert_eq!(ensemble.len(), 60, "one line per input pair");
    assert!(ensemble.iter().all(|p| (0.0..=1.0).contains(p)));

    let singles: Vec<Vec<f64>> = (0..3)
        .map(|k| predict(&out.join(format!("fold-{k}/best")), &plain, &[]))
        .collect();
    for (i, p) in ensemble.iter().enumerate() {
        let mean = singles.iter().map(|s| s[i]).sum::<f64>() / 3.0;
        assert!((p - mean).abs() < 1e-6, "pair {i}: {p} vs mean {mean}");
    }
    assert!(
        singles[0].iter().zip(&singles[1]).any(|(a, b)| a != b),
        "folds differ"
    );

    let tta = predict(out, &plain, &["--tta", "swap"]);
    let reversed = predict(out, &swapped, &[]);
    for i in 0..60 {
        let want = (ensemble[i] + reversed[i]) / 2.0;
        assert!(
            (tta[i] - want).abs() < 1e-6,
            "pair {i}: {} vs {want}",
            tta[i]
        );
    }

    let rich = tempfile::NamedTempFile::new().unwrap();
    dapt_ok(&[
        "predict",
        "--model",
        arg(out),
        "--input",
        "corpora/mrpc_sample.tsv",
        "--out",
        arg(rich.path()),
        "--with-ids",
    ]);
    let rows = lines(rich.path());
    assert_eq!(rows[0], "line\tp_0\tp_1\tprediction\tlabel");
    assert_eq!(rows.len(), 401);
    assert!(rows[1].starts_with("1\t"));
}

#[test]
fn eval_prints_every_fold_and_the_ensemble() {
    let out = quick_out();
    let res = dapt_ok(&[
        "eval",
        "--model",
        arg(out),
        "--input",
        "corpora/mrpc_sample.tsv",
        "--json",
    ]);
    let rows: Vec<Value> = String::from_utf8(res.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r["model"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "fold-0",
            "fold-1",
            "fold-2",
            "ensemble",
            "baseline:jaccard",
            "baseline:overlap",
            "baseline:edit"
        ]
    );
    assert!(rows.iter().all(|r| r["auc"].as_f64().unwrap() > 0.0));
    // The baselines' AUC as scikit-learn computes it (tests/overlap_baselines.rs).
    let want = &overlap_reference()["files"]["corpora/mrpc_sample.tsv"]["auc"];
    for r in &rows[4..] {
        let name = r["model"].as_str().unwrap().trim_start_matches("baseline:");
        assert!((r["auc"].as_f64().unwrap() - want[name].as_f64().unwrap()).abs() < 1e-12);
    }
    let table = dapt_ok(&[
        "eval",
        "--model",
        arg(out),
        "--input",
        "corpora/mrpc_sample.tsv",
    ]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.starts_with("model") && text.contains("ensemble"),
        "{text}"
    );
}

#[test]
fn same_seed_gives_identical_oof() {
    let tmp = tempfile::tempdir().unwrap();
    let again = tmp.path().join("again");
    quick_run(&again, "7", &[]);
    assert_eq!(
        std::fs::read_to_string(quick_out().join("oof.tsv")).unwrap(),
        std::fs::read_to_string(again.join("oof.tsv")).unwrap()
    );
}

/// Groups of three paraphrases (tokens 10..40) chained by positive pairs, each with a
/// negative partner sentence (tokens 40..70): the label is learnable from the tokens, and
/// closure has pairs to add.
fn synthetic(path: &Path, groups: usize) {
    let mut state = 12345u64;
    let mut next = |lo: u64, hi: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (state >> 33) % (hi - lo)
    };
    let mut sentence = |lo: u64, hi: u64| -> String {
        (0..5)
            .map(|_| next(lo, hi).to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut text = String::new();
    for _ in 0..groups {
        let (s1, s2, s3, neg) = (
            sentence(10, 40),
            sentence(10, 40),
            sentence(10, 40),
            sentence(40, 70),
        );
        text += &format!("{s1}\t{s2}\t1\n{s2}\t{s3}\t1\n{s1}\t{neg}\t0\n");
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn training_learns_with_components_folds_and_augmentation() {
    let tmp = tempfile::tempdir().unwrap();
    let train = tmp.path().join("train.tsv");
    synthetic(&train, 40);
    let vocab = tmp.path().join("vocab");
    dapt_ok(&["vocab", "--input", arg(&train), "--out", arg(&vocab)]);
    let out = tmp.path().join("ft");
    dapt_ok(&[
        "finetune",
        "--train",
        arg(&train),
        "--vocab",
        arg(&vocab),
        "--model-config",
        "tiny",
        "--folds",
        "2",
        "--fold-by",
        "components",
        "--augment",
        "swap,closure",
        "--closure-max",
        "1000",
        "--epochs",
        "4",
        "--batch-size",
        "16",
        "--lr",
        "1e-3",
        "--metric",
        "accuracy",
        "--eval-every",
        "5",
        "--patience",
        "100",
        "--out",
        arg(&out),
    ]);
    let cv = read_json(&out.join("cv.json"));
    // 60 training pairs per fold (20 groups); closure adds s1~s3 and two negatives per
    // group; swap doubles everything.
    for k in 0..2 {
        let f = &cv["folds"][k];
        assert_eq!(f["augment"]["closure_positive"], 20, "{f}");
        assert_eq!(f["augment"]["closure_negative"], 40, "{f}");
        assert_eq!(f["augment"]["swapped"], 120, "{f}");
        assert_eq!(f["train_examples"], 240, "{f}");
    }
    // Components folds: no sentence of a validation pair occurs in its training part.
    let folds = read_json(&out.join("folds.json"));
    let rows: Vec<Vec<String>> = lines(&train)
        .iter()
        .map(|l| l.split('\t').map(String::from).collect())
        .collect();
    for k in 0..2u64 {
        let side = |in_fold: bool| -> std::collections::HashSet<&str> {
            rows.iter()
                .enumerate()
                .filter(|(i, _)| (folds["assignment"][*i].as_u64() == Some(k)) == in_fold)
                .flat_map(|(_, r)| [r[0].as_str(), r[1].as_str()])
                .collect()
        };
        assert!(side(true).is_disjoint(&side(false)));
    }
    // Learning: the majority class is 2/3; the best checkpoints must beat it clearly and
    // the training loss must fall.
    let acc = cv["oof"]["accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "out-of-fold accuracy {acc}: {cv}");
    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let losses: Vec<f64> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["fold"] == 0 && v["loss"].is_f64())
        .map(|v| v["loss"].as_f64().unwrap())
        .collect();
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.5),
        "loss did not fall: {losses:?}"
    );
    // --eval-every 5 adds evaluations inside the epochs.
    let evals = log.lines().filter(|l| l.contains("\"eval\"")).count();
    assert!(evals > 8, "{evals} evaluations");
}

#[test]
fn one_fold_at_a_time_completes_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ft");
    quick_run(&out, "7", &["--fold", "0"]);
    assert!(out.join("fold-0/result.json").exists());
    assert!(!out.join("cv.json").exists(), "fold 1 and 2 still missing");
    for k in ["1", "2"] {
        quick_run(&out, "7", &["--fold", k]);
    }
    assert_eq!(
        std::fs::read_to_string(quick_out().join("oof.tsv")).unwrap(),
        std::fs::read_to_string(out.join("oof.tsv")).unwrap(),
        "fold by fold equals the full run"
    );
}

#[test]
fn fold_seed_keeps_the_folds_of_another_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let assignment = |out: &Path, extra: &[&str]| -> Value {
        quick_run(out, "8", &[&["--fold", "0"], extra].concat());
        read_json(&out.join("folds.json"))["assignment"].clone()
    };
    let seed7 = read_json(&quick_out().join("folds.json"))["assignment"].clone();
    assert_eq!(
        assignment(&tmp.path().join("fixed"), &["--fold-seed", "7"]),
        seed7,
        "--seed 8 --fold-seed 7 splits as --seed 7"
    );
    assert_ne!(
        assignment(&tmp.path().join("own"), &[]),
        seed7,
        "--seed 8 alone splits anew"
    );
}

#[test]
fn resume_auto_skips_the_folds_an_identical_run_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ft");
    // As if a run had been killed during fold 2: folds 0 and 1 finished, fold 2 not.
    quick_run(&out, "7", &["--fold", "0"]);
    quick_run(&out, "7", &["--fold", "1"]);
    let flags = |extra: &[&str]| -> String {
        let args = quick_args(&out, "7", &[&["--resume", "auto"], extra].concat());
        common::stderr(&dapt_ok(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        ))
    };
    let err = flags(&[]);
    assert!(
        err.contains("fold 0: finished by an earlier run") && err.contains("fold 1: finished"),
        "{err}"
    );
    assert!(!err.contains("fold 2: finished"), "{err}");
    assert_eq!(
        std::fs::read_to_string(quick_out().join("oof.tsv")).unwrap(),
        std::fs::read_to_string(out.join("oof.tsv")).unwrap(),
        "the resumed run equals the uninterrupted one"
    );
    // Where and how a run runs does not count: every fold is reused.
    let tb = tmp.path().join("tb");
    let tb = tb.to_str().unwrap();
    let err = flags(&["--keep-last", "0", "--tensorboard", tb, "--save-every", "3"]);
    for k in 0..3 {
        assert!(err.contains(&format!("fold {k}: finished")), "{err}");
    }
    // Another recipe, or another seed (the shared run options' part of the outcome):
    // nothing is reused.
    let err = flags(&["--warmup-ratio", "0.2"]);
    assert!(!err.contains("finished by an earlier run"), "{err}");
    flags(&["--fold-seed", "7"]);
    let args = quick_args(&out, "8", &["--resume", "auto", "--fold-seed", "7"]);
    let err = common::stderr(&dapt_ok(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(!err.contains("finished by an earlier run"), "{err}");
}

#[test]
fn a_second_job_on_the_same_out_exits_75_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ft");
    let args = |seed: &str| quick_args(&out, seed, &["--fold-seed", "7"]);
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_dapt"))
        .args(args("7"))
        .current_dir(root())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // folds.json is written once the first job holds the lock.
    while !out.join("folds.json").exists() {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first job ended early"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second_args = args("9");
    let second = common::dapt(&second_args.iter().map(String::as_str).collect::<Vec<_>>());
    let err = common::stderr(&second);
    assert_eq!(second.status.code(), Some(75), "{err}");
    assert!(err.contains("another dapt job"), "{err}");
    assert!(first.wait().unwrap().success());
    // Had the second job (seed 9) written anything, the result would differ from seed 7's.
    assert_eq!(
        std::fs::read_to_string(quick_out().join("oof.tsv")).unwrap(),
        std::fs::read_to_string(out.join("oof.tsv")).unwrap()
    );
}

#[test]
fn one_fold_jobs_share_the_run_dir_and_exclude_the_same_fold() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ft");
    // As a running `--fold 1` job does: share the run dir, hold fold 1's.
    std::fs::create_dir_all(out.join("fold-1")).unwrap();
    let run_dir = std::fs::File::create(out.join(".dapt.lock")).unwrap();
    run_dir.try_lock_shared().unwrap();
    let fold_1 = std::fs::File::create(out.join("fold-1/.dapt.lock")).unwrap();
    fold_1.try_lock().unwrap();
    let run = |extra: &[&str]| {
        let args = quick_args(&out, "7", extra);
        common::dapt(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let other_fold = run(&["--fold", "0"]);
    assert!(
        other_fold.status.success(),
        "{}",
        common::stderr(&other_fold)
    );
    for (extra, what) in [(&["--fold", "1"][..], "fold-1"), (&[][..], "ft")] {
        let refused = run(extra);
        let err = common::stderr(&refused);
        assert_eq!(refused.status.code(), Some(75), "{extra:?}: {err}");
        assert!(
            err.contains(what) && err.contains("another dapt job"),
            "{err}"
        );
    }
    assert!(!out.join("fold-1/result.json").exists());
}
