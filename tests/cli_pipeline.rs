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
    // Under an MPI launcher (its variables set by hand) every stage would join the job.
    std::fs::write(&cfg, "[vocab]\nout = \"v\"\n").unwrap();
    let out = common::dapt_command()
        .args(["pipeline", "--config", cfg.to_str().unwrap()])
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("launch `dapt pretrain` and `dapt finetune` themselves"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pretrain_and_finetune_resume_by_default() {
    let shown = stderr(&dapt_ok(&[
        "pipeline",
        "--config",
        "configs/quickstart.toml",
        "--dry-run",
        // Shown even when the quick start already ran in this checkout.
        "--force",
    ]));
    for stage in ["pretrain", "finetune"] {
        let line = shown
            .lines()
            .find(|l| l.starts_with(&format!("pipeline: {stage}: dapt {stage}")))
            .unwrap_or_else(|| panic!("no {stage} line: {shown}"));
        assert!(line.ends_with("--resume auto"), "{line}");
    }
}

/// `configs/nightly.toml` with its outputs in `dir`, its incoming text `dir/incoming/*.tsv`,
/// and test-sized budgets (4 pretraining steps a night, 2 folds of 1 epoch on 200 pairs).
fn nightly_config(dir: &std::path::Path) -> String {
    let d = dir.display();
    let shipped = std::fs::read_to_string(root().join("configs/nightly.toml")).unwrap();
    let mut text = shipped.replace("\"runs/nightly/", &format!("\"{d}/"));
    let setting = |l: &&str| !l.trim_start().starts_with('#');
    let missed = text
        .lines()
        .filter(setting)
        .find(|l| l.contains("runs/nightly"));
    assert!(
        missed.is_none(),
        "a path the test does not redirect: {missed:?}"
    );
    for (from, to) in [
        (
            "[\"corpora/lcqmc_desens_*.tsv\"]",
            format!("[\"{d}/incoming/*.tsv\"]"),
        ),
        ("max_steps = 100", "max_steps = 4".into()),
        ("eval_every = 50", "eval_every = 2".into()),
        ("save_every = 50", "save_every = 2".into()),
        ("folds = 5", "folds = 2".into()),
        ("epochs = 2", "epochs = 1".into()),
        (
            "train = \"corpora/lcqmc_desens_train.tsv\"",
            format!("train = \"{d}/train.tsv\""),
        ),
    ] {
        assert!(text.contains(from), "configs/nightly.toml has no {from}");
        text = text.replace(from, &to);
    }
    text
}

/// Lines `from..to` of the LCQMC training sample as `path`.
fn lcqmc_lines(path: &std::path::Path, from: usize, to: usize) {
    let text = std::fs::read_to_string(root().join("corpora/lcqmc_desens_train.tsv")).unwrap();
    let lines: Vec<&str> = text.lines().skip(from).take(to - from).collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn nightly_config_appends_new_text_and_continues_pretraining() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("incoming")).unwrap();
    lcqmc_lines(&dir.join("train.tsv"), 0, 200);
    lcqmc_lines(&dir.join("incoming/day1.tsv"), 0, 700);
    let cfg = dir.join("nightly.toml");
    std::fs::write(&cfg, nightly_config(dir)).unwrap();
    let cfg = cfg.to_str().unwrap();
    let night = || stderr(&dapt_ok(&["pipeline", "--config", cfg]));
    let ran = |log: &str, stage: &str| log.contains(&format!("pipeline: {stage}: dapt {stage}"));

    let first = night();
    for stage in [
        "vocab", "encode", "pretrain", "finetune", "predict", "report",
    ] {
        assert!(ran(&first, stage), "{stage} did not run: {first}");
    }
    assert_eq!(common::latest_step(&dir.join("pretrain")), 4);

    // Nothing new: nothing runs.
    let quiet = night();
    assert!(!quiet.contains(": dapt "), "{quiet}");

    // A new day's file: encoded alone into a second shard, pretraining continues from
    // step 4 to 8 over both, and the ensemble and its predictions are refreshed.
    std::thread::sleep(std::time::Duration::from_millis(20));
    lcqmc_lines(&dir.join("incoming/day2.tsv"), 700, 1400);
    let second = night();
    assert!(!ran(&second, "vocab"), "{second}");
    for stage in ["encode", "pretrain", "finetune", "predict", "report"] {
        assert!(ran(&second, stage), "{stage} did not run: {second}");
    }
    assert!(second.contains("1 of 2 inputs are new"), "{second}");
    assert!(dir.join("shards/part-00001.shard").exists());
    assert!(second.contains("from step 4"), "{second}");
    assert_eq!(common::latest_step(&dir.join("pretrain")), 8);
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(report.contains("data-chart=\"finetune-roc\""));

    // An overlapping job holds the pretraining dir: the night stops with the stage's
    // exit code 75 (try again later), and the next night does the work.
    std::thread::sleep(std::time::Duration::from_millis(20));
    lcqmc_lines(&dir.join("incoming/day3.tsv"), 1400, 1500);
    let lock = std::fs::File::open(dir.join("pretrain/.dapt.lock")).unwrap();
    lock.lock().unwrap();
    let held = common::dapt(&["pipeline", "--config", cfg]);
    assert_eq!(held.status.code(), Some(75), "{}", stderr(&held));
    drop(lock);
    night();
    assert_eq!(common::latest_step(&dir.join("pretrain")), 12);
}
