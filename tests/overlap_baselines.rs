//! The word-overlap baselines against `tests/fixtures/overlap/reference.json`, made by
//! `make_fixture.py` beside it: BERT's basic tokenization written out in Python, the
//! similarities by hand and the AUCs by scikit-learn.

mod common;

use dapt::data::overlap::{baseline_aucs, words, Overlap};
use serde_json::Value;

fn reference() -> Value {
    let path = common::root().join("tests/fixtures/overlap/reference.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn close(got: &Overlap, want: &Value, what: &str) {
    for (name, g) in got.named() {
        let w = want[name].as_f64().unwrap();
        assert!((g - w).abs() < 1e-12, "{what} {name}: {g} vs {w}");
    }
}

#[test]
fn words_and_similarities_match_the_python_reference() {
    for t in reference()["texts"].as_array().unwrap() {
        let (a, b) = (t["a"].as_str().unwrap(), t["b"].as_str().unwrap());
        for (text, key) in [(a, "words_a"), (b, "words_b")] {
            let want: Vec<&str> = t[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            assert_eq!(words(text), want, "{text:?}");
        }
        close(&Overlap::of_texts(a, b), t, &format!("{a:?} / {b:?}"));
    }
}

#[test]
fn baseline_aucs_match_scikit_learn_on_the_shipped_samples() {
    let reference = reference();
    for (file, want) in reference["files"].as_object().unwrap() {
        let text = std::fs::read_to_string(common::root().join(file)).unwrap();
        let (mut scores, mut labels) = (Vec::new(), Vec::new());
        for line in text.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            scores.push(Overlap::of_texts(cols[0], cols[1]));
            labels.push(cols[2].parse::<usize>().unwrap());
        }
        for (i, w) in want["first"].as_array().unwrap().iter().enumerate() {
            close(&scores[i], w, &format!("{file} line {}", i + 1));
        }
        let aucs = baseline_aucs(&scores, &labels, |_| true).unwrap();
        close(&aucs, &want["auc"], file);
    }
}
