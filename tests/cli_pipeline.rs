//! `dapt pipeline`: stages run in order from one TOML file, up-to-date stages are
//! skipped, and a changed input re-runs its stage and everything after it.

mod common;

use common::{dapt_ok, root, stderr};

fn config(dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        r#"
[vocab]
input = ["{d}/corpus.tsv"]
min_count = 2
out = "{d}/vocab"

[encode]
vocab = "{d}/vocab"
input = ["{d}/corpus.tsv"]
out = "{d}/corpus.shard"

[pretrain]
vocab = "{d}/vocab"
corpus = ["{d}/corpus.shard"]
model_config = "tiny"
max_len = 32
batch_size = 8
max_steps = 3
eval_every = 2
save_every = 2
out = "{d}/pretrain"
"#
    )
}

#[test]
fn stages_run_once_and_rerun_when_an_input_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::copy(
        root().join("corpora/oppo_sample.tsv"),
        dir.join("corpus.tsv"),
    )
    .unwrap();
    let cfg = dir.join("p.toml");
    std::fs::write(&cfg, config(dir)).unwrap();
    let cfg = cfg.to_str().unwrap();

    let first = stderr(&dapt_ok(&["pipeline", "--config", cfg]));
    for stage in ["vocab", "encode", "pretrain"] {
        assert!(
            first.contains(&format!("pipeline: {stage}: dapt {stage}")),
            "{first}"
        );
    }
    assert!(dir.join("pretrain/latest").exists());
    assert!(
        first.contains("--resume auto"),
        "pretrain resumes by default: {first}"
    );

    let second = stderr(&dapt_ok(&["pipeline", "--config", cfg]));
    for stage in ["vocab", "encode", "pretrain"] {
        assert!(
            second.contains(&format!("pipeline: {stage}: up to date")),
            "{second}"
        );
    }

    // A newer corpus makes vocab stale, and with it everything downstream.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let text = std::fs::read(dir.join("corpus.tsv")).unwrap();
    std::fs::write(dir.join("corpus.tsv"), text).unwrap();
    let third = stderr(&dapt_ok(&["pipeline", "--config", cfg]));
    for stage in ["vocab", "encode"] {
        assert!(
            third.contains(&format!("pipeline: {stage}: dapt {stage}")),
            "{third}"
        );
    }
}

#[test]
fn bad_pipeline_configs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("p.toml");
    for (text, needle) in [
        ("lr = 1\n[vocab]\nout = \"v\"\n", "top-level key lr"),
        ("[train]\nout = \"x\"\n", "unknown table [train]"),
        ("[vocab]\ninput = [\"x\"]\n", "[vocab] needs an `out` key"),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let out = common::dapt(&["pipeline", "--config", cfg.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(stderr(&out).contains(needle), "{}", stderr(&out));
    }
}

#[test]
fn pretrain_and_finetune_resume_by_default() {
    let shown = stderr(&dapt_ok(&[
        "pipeline",
        "--config",
        "configs/quickstart.toml",
        "--dry-run",
    ]));
    for stage in ["pretrain", "finetune"] {
        let line = shown
            .lines()
            .find(|l| l.starts_with(&format!("pipeline: {stage}: dapt {stage}")))
            .unwrap_or_else(|| panic!("no {stage} line: {shown}"));
        assert!(line.ends_with("--resume auto"), "{line}");
    }
}
