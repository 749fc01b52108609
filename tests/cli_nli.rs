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
    // --task is optional; one that contradicts config.json is refused.
    std::fs::remove_file(&preds).unwrap();
    let res = predict(&["--task", "pair-classification"]);
    assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
    assert!(
        stderr(&res).contains("was fine-tuned for --task nli"),
        "{}",
        stderr(&res)
    );
    assert!(!preds.exists());
    assert!(predict(&["--task", "nli"]).status.success());
    // A teacher of another task cannot teach an NLI student.
    let res = run(&[
        &["distill".to_string(), "--teacher".into(), arg(&out).into()][..],
        &finetune_args(&dir.join("student"), &[])[1..],
    ]
    .concat());
    assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
    assert!(stderr(&res).contains("the student trains --task pair-classification"));
    assert!(!dir.join("student").exists());

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

/// The sample as KorNLI ships it: a header and the label names.
fn named_sample(dir: &Path) -> PathBuf {
    let names = ["entailment", "neutral", "contradiction"];
    let mut text = String::from("sentence1\tsentence2\tgold_label\n");
    for row in lines(Path::new(TRAIN)) {
        let (pair, id) = row.rsplit_once('\t').unwrap();
        text += &format!("{pair}\t{}\n", names[id.parse::<usize>().unwrap()]);
    }
    let path = dir.join("named.tsv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn label_names_are_read_kept_in_config_json_and_printed() {
    let dir = fresh_dir("cli_nli_names");
    let train = named_sample(&dir);
    let named_args = |out: &Path, extra: &[&str]| -> Vec<String> {
        let flags = [&["--task", "nli", "--header"], extra].concat();
        common::finetune_tiny_args(&train, vocab(), "2", out, &flags)
    };
    let id2label = |out: &Path| -> Value {
        let text = std::fs::read_to_string(out.join("fold-1/best/config.json")).unwrap();
        let config: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            config["label2id"][config["id2label"]["0"].as_str().unwrap()],
            0
        );
        config["id2label"].clone()
    };

    // Names read from the file, sorted as transformers' run_glue sorts its label list.
    let out = dir.join("ft");
    let res = run(&named_args(&out, &["--metric", "macro_f1"]));
    assert!(res.status.success(), "{}", stderr(&res));
    check_class_report(&out, &["contradiction", "entailment", "neutral"]);
    assert_eq!(
        id2label(&out),
        serde_json::json!({"0": "contradiction", "1": "entailment", "2": "neutral"})
    );
    // Predictions print the names; the id table keeps ids and adds the name.
    let preds = dir.join("preds.tsv");
    let predict = |extra: &[&str]| {
        let args = [
            &[
                "predict",
                "--model",
                arg(&out),
                "--input",
                arg(&train),
                "--header",
            ],
            &["--out", arg(&preds)][..],
            extra,
        ]
        .concat();
        dapt_ok(&args);
        lines(&preds)
    };
    let plain = predict(&[]);
    assert_eq!(plain.len(), 600);
    assert!(
        plain
            .iter()
            .all(|l| ["contradiction", "entailment", "neutral"].contains(&l.as_str())),
        "{:?}",
        &plain[..3]
    );
    let table = predict(&["--with-ids"]);
    assert_eq!(
        table[0],
        "line\tp_0\tp_1\tp_2\tprediction\tpredicted_label\tlabel"
    );
    // Line 2 of the file is the sample's first pair, a contradiction (id 0 here).
    let first: Vec<&str> = table[1].split('\t').collect();
    assert_eq!((first[0], first[6]), ("2", "0"), "{}", table[1]);
    let names = ["contradiction", "entailment", "neutral"];
    assert_eq!(first[5], names[first[4].parse::<usize>().unwrap()]);

    // Distillation keeps the task and the names: the teacher's pairs are written with
    // them and the student reads them back.
    let student = dir.join("student");
    // finetune_tiny_args starts with "finetune": the rest are the student's flags.
    let mut distill: Vec<String> = named_args(&student, &["--metric", "accuracy"]);
    distill.splice(0..1, ["distill", "--teacher", arg(&out)].map(String::from));
    let distill: Vec<&str> = distill.iter().map(String::as_str).collect();
    dapt_ok(&distill);
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(student.join("fold-0/best/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["dapt_task"], "nli");
    assert_eq!(config["id2label"], id2label(&out));

    // Stacking combines binary models only: refused, naming the classes.
    let res = dapt(&[
        "stack",
        "--runs",
        arg(&out),
        "--train",
        arg(&train),
        "--test",
        arg(&train),
        "--header",
        "--out",
        arg(&dir.join("stack.tsv")),
    ]);
    assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
    assert!(stderr(&res).contains("3 classes"), "{}", stderr(&res));

    // UDA's pair-swap noise would call a swapped NLI pair the same example.
    let refused = dir.join("uda");
    let res = run(&named_args(
        &refused,
        &["--uda", TRAIN, "--uda-augment", "tfidf,pair-swap"],
    ));
    assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
    assert!(stderr(&res).contains("--uda-augment pair-swap with --task nli"));
    assert!(!refused.exists());

    // --labels fixes the order.
    let given = dir.join("given");
    let order = "entailment,neutral,contradiction";
    let res = run(&named_args(
        &given,
        &["--metric", "accuracy", "--labels", order],
    ));
    assert!(res.status.success(), "{}", stderr(&res));
    assert_eq!(
        id2label(&given),
        serde_json::json!({"0": "entailment", "1": "neutral", "2": "contradiction"})
    );

    // A label outside --labels, or a listed label without examples: exit 2, nothing written.
    for (labels, says) in [
        (
            "entailment,neutral,other",
            "not one of the labels entailment, neutral, other",
        ),
        (
            "entailment,neutral,contradiction,other",
            "no example has label \"other\"",
        ),
    ] {
        let refused = dir.join("refused");
        let res = run(&named_args(
            &refused,
            &["--metric", "accuracy", "--labels", labels],
        ));
        assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
        let err = stderr(&res);
        assert!(err.contains(says), "{err}");
        assert!(!refused.exists());
    }
}

/// cv.json's per-class report of run `out` against one computed here from its oof.tsv
/// (argmax of the probabilities against the label column), and `dapt eval --json` and
/// `dapt report` showing the same.
fn check_class_report(out: &Path, names: &[&str]) {
    let cv: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cv.json")).unwrap()).unwrap();
    let classes = &cv["classes"];
    assert_eq!(classes["labels"], serde_json::json!(names));
    let n = names.len();
    let mut confusion = vec![vec![0u64; n]; n];
    for row in lines(&out.join("oof.tsv")) {
        let f: Vec<&str> = row.split('\t').collect();
        let p: Vec<f64> = f[3..].iter().map(|x| x.parse().unwrap()).collect();
        let pred = (0..n).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        confusion[f[2].parse::<usize>().unwrap()][pred] += 1;
    }
    assert_eq!(classes["confusion"], serde_json::json!(confusion));
    assert_eq!(classes["support"], serde_json::json!([200, 200, 200]));
    let mut f1_sum = 0.0;
    for c in 0..n {
        let tp = confusion[c][c] as f64;
        let predicted: u64 = (0..n).map(|t| confusion[t][c]).sum();
        let f1 = if tp == 0.0 {
            0.0
        } else {
            2.0 * tp / (200.0 + predicted as f64)
        };
        let got = classes["f1"][c].as_f64().unwrap();
        assert!((got - f1).abs() < 1e-12, "class {c}: {got} vs {f1}");
        f1_sum += f1;
    }
    let macro_f1 = cv["oof"]["macro_f1"].as_f64().unwrap();
    assert!((macro_f1 - f1_sum / n as f64).abs() < 1e-12);
    assert_eq!(cv["metric"], "macro_f1");

    let eval = dapt_ok(&["eval", "--model", arg(out), "--input", TRAIN, "--json"]);
    let rows: Vec<Value> = String::from_utf8(eval.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ensemble = rows.iter().find(|r| r["model"] == "ensemble").unwrap();
    assert_eq!(ensemble["classes"]["labels"], serde_json::json!(names));
    assert!(ensemble["macro_f1"].as_f64().is_some());

    let html = out.with_extension("html");
    dapt_ok(&["report", "--runs", arg(out), "--out", arg(&html)]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("class=\"confusion\"") && page.contains("neutral"),
        "no confusion table"
    );
}

/// transformers' AutoTokenizer reads `tokenizer_config.json`; without it, it lowercases and
/// strips accents, which decomposes Hangul into jamo that the vocabulary does not hold
/// (every Korean word became [UNK] in transformers; tests/fixtures/model/
/// check_transformers.py compares the probabilities). Each vocabulary writes it, with
/// its own casing, and every checkpoint carries it.
#[test]
fn vocabularies_and_checkpoints_tell_transformers_their_casing() {
    let dir = fresh_dir("cli_nli_casing");
    let casing = |vocab: &Path| -> Value {
        let text = std::fs::read_to_string(vocab.join("tokenizer_config.json")).unwrap();
        let config: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(config["tokenizer_class"], "BertTokenizer");
        config["do_lower_case"].clone()
    };
    assert_eq!(casing(vocab()), false);
    let lower = dir.join("lower");
    dapt_ok(&[
        "vocab",
        "--input",
        TRAIN,
        "--lowercase",
        "--out",
        arg(&lower),
    ]);
    assert_eq!(casing(&lower), true);
    let out = dir.join("ft");
    let res = run(&finetune_args(&out, &["--task", "nli", "--fold", "0"]));
    assert!(res.status.success(), "{}", stderr(&res));
    assert_eq!(casing(&out.join("fold-0/best")), false);
}
