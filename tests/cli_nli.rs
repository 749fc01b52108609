//! `--task nli` from the command line on real Korean NLI pairs (`corpora/kornli_sample.tsv`,
//! 3 classes): it trains and records its task in config.json, refuses the augmentations
//! and test-time swap that would change its labels (exit 2, nothing written), and the
//! default task's closure message no longer sends NLI users to `--augment swap`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{arg, dapt, dapt_ok, fresh_dir, lines, stderr};
use serde_json::Value;

const TRAIN: &str = "corpora/kornli_sample.tsv";

/// A word-level vocabulary of the sample.
fn vocab() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = fresh_dir("cli_nli_vocab").join("vocab");
        dapt_ok(&["vocab", "--input", TRAIN, "--out", arg(&dir)]);
        dir
    })
}

fn finetune_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let flags = [&["--metric", "accuracy"], extra].concat();
    common::finetune_tiny_args(Path::new(TRAIN), vocab(), "2", out, &flags)
}

fn run(args: &[String]) -> std::process::Output {
    dapt(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn nli_trains_three_classes_and_refuses_swaps() {
    let dir = fresh_dir("cli_nli");
    let out = dir.join("ft");
    let res = run(&finetune_args(&out, &["--task", "nli"]));
    assert!(res.status.success(), "{}", stderr(&res));
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("fold-0/best/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["dapt_task"], "nli");
    assert_eq!(config["num_labels"], 3);
    let cv: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cv.json")).unwrap()).unwrap();
    assert!(cv["mean"]["accuracy"].as_f64().is_some(), "{cv}");
    // Every out-of-fold line (line, fold, label, probabilities) has the three classes'.
    let oof = lines(&out.join("oof.tsv"));
    assert_eq!(oof.len(), 600);
    for row in &oof {
        let fields: Vec<&str> = row.split('\t').collect();
        assert_eq!(fields.len(), 6, "{row}");
        let total: f64 = fields[3..].iter().map(|p| p.parse::<f64>().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-4, "{row}");
    }

    // Test-time swap of premise and hypothesis: refused, no predictions written.
    let preds = dir.join("preds.tsv");
    let predict = |extra: &[&str]| {
        let args = [
            &[
                "predict",
                "--model",
                arg(&out),
                "--input",
                TRAIN,
                "--out",
                arg(&preds),
            ],
            extra,
        ]
        .concat();
        dapt(&args)
    };
    let res = predict(&["--tta", "swap"]);
    assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
    let err = stderr(&res);
    assert!(
        err.contains("--tta swap") && err.contains("--task nli"),
        "{err}"
    );
    assert!(!preds.exists());
    let res = predict(&[]);
    assert!(res.status.success(), "{}", stderr(&res));
    assert_eq!(lines(&preds).len(), 600);

    // Training on swapped or closed pairs: refused before anything is written.
    for rule in ["swap", "closure"] {
        let refused = dir.join(format!("refused-{rule}"));
        let res = run(&finetune_args(
            &refused,
            &["--task", "nli", "--augment", rule],
        ));
        assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
        let err = stderr(&res);
        assert!(
            err.contains(&format!("--augment {rule} with --task nli")),
            "{err}"
        );
        assert!(
            !refused.exists(),
            "{rule}: the refused run wrote {refused:?}"
        );
    }
}

#[test]
fn closure_on_three_classes_points_nli_users_to_the_task() {
    let out = fresh_dir("cli_nli_closure").join("ft");
    let res = run(&finetune_args(&out, &["--augment", "closure"]));
    assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
    let err = stderr(&res);
    assert!(
        err.contains("3 classes") && err.contains("--task nli"),
        "{err}"
    );
}
