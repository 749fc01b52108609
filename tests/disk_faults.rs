//! A full disk and a failing write, rehearsed through `DAPT_FREE_BYTES` and
//! `DAPT_FAIL_CHECKPOINT`: the run stops with a clear error, the previous checkpoint and
//! `latest` stay intact, no temporary dir is left behind, and `--resume auto` continues
//! from the intact checkpoint.

mod common;

use std::path::Path;
use std::process::Output;

use common::{arg, fresh_dir, latest_step, oppo_vocab_and_shard, stderr};

/// `dapt pretrain` of a tiny model for 6 steps, a checkpoint every 2, with `env` set.
fn pretrain(dir: &Path, out: &Path, env: &[(&str, &str)], resume: bool) -> Output {
    let (vocab, shard) = (dir.join("vocab"), dir.join("oppo.shard"));
    let flags = [
        "--max-steps",
        "6",
        "--save-every",
        "2",
        "--eval-every",
        "0",
        "--seed",
        "3",
    ];
    let mut cmd = common::dapt_command();
    cmd.args(common::pretrain_tiny_args(
        &[arg(&shard)],
        &vocab,
        out,
        &flags,
    ));
    if resume {
        cmd.args(["--resume", "auto"]);
    }
    cmd.envs(env.iter().copied())
        .output()
        .expect("running dapt")
}

/// Names in `dir` that start with `.` and hold `.tmp-` (temporary outputs).
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.') && n.contains(".tmp-"))
        .collect()
}

fn step_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("step-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_failed_checkpoint_write_leaves_the_previous_one_and_resume_continues_from_it() {
    let dir = fresh_dir("disk_faults_write");
    oppo_vocab_and_shard(&dir);
    let out = dir.join("run");
    // The second checkpoint (step 4) fails after its weights are written.
    let failed = pretrain(&dir, &out, &[("DAPT_FAIL_CHECKPOINT", "2")], false);
    let err = stderr(&failed);
    assert_eq!(failed.status.code(), Some(1), "{err}");
    assert!(err.contains("injected write failure"), "{err}");
    assert_eq!(latest_step(&out), 2, "latest still points at step 2");
    assert_eq!(step_dirs(&out), ["step-00000002"]);
    assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
    common::dapt_ok(&["inspect", arg(&out.join("step-00000002"))]);

    let resumed = pretrain(&dir, &out, &[], true);
    let err = stderr(&resumed);
    assert!(resumed.status.success(), "{err}");
    assert!(
        err.contains("resuming from") && err.contains("at step 2"),
        "{err}"
    );
    assert_eq!(latest_step(&out), 6);
}

#[test]
fn a_full_disk_stops_before_writing() {
    let dir = fresh_dir("disk_faults_full");
    oppo_vocab_and_shard(&dir);
    let out = dir.join("run");
    let full = pretrain(&dir, &out, &[("DAPT_FREE_BYTES", "1000000")], false);
    let err = stderr(&full);
    assert_eq!(full.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not enough disk space") && err.contains("1.0 MiB are free"),
        "{err}"
    );
    assert!(step_dirs(&out).is_empty() && temporaries(&out).is_empty());
    assert!(!out.join("latest").exists());

    // Fine-tuning stops the same way at its first checkpoint (the fold's best).
    let train = common::root().join("corpora/mrpc_sample.tsv");
    let vocab = common::mrpc_vocab("disk_faults_vocab");
    let ft = dir.join("ft");
    let args = common::finetune_tiny_args(&train, vocab, "2", &ft, &[]);
    let full = std::process::Command::new(env!("CARGO_BIN_EXE_dapt"))
        .args(&args)
        .env("DAPT_FREE_BYTES", "1000000")
        .output()
        .unwrap();
    let err = stderr(&full);
    assert_eq!(full.status.code(), Some(1), "{err}");
    assert!(err.contains("not enough disk space"), "{err}");
    assert!(!ft.join("fold-0/best").exists() && temporaries(&ft.join("fold-0")).is_empty());
}
