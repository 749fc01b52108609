//! `dapt pretrain` killed with SIGKILL at three points (and stopped once with SIGTERM),
//! resumed each time with `--resume auto`, ends with parameters and optimizer state
//! bit-identical to an uninterrupted run with the same seed; and the same for
//! replaced-token detection (`--objective rtd`, whose generator samples are keyed draws
//! too), killed twice.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{arg, latest_step, oppo_vocab_and_shard, tensor_bytes};

const STEPS: u64 = 24;

fn pretrain(vocab: &Path, shard: &Path, out: &Path, extra: &[&str], resume: bool) -> Child {
    let steps = STEPS.to_string();
    let flags = [
        "--grad-accum",
        "2",
        "--mask",
        "ngram",
        "--optimizer",
        "lookahead",
        "--lookahead-k",
        "3",
        "--lr",
        "1e-3",
        "--schedule",
        "cosine",
        "--max-steps",
        &steps,
        "--save-every",
        "4",
        "--eval-every",
        "8",
        "--eval-fraction",
        "0.01",
        "--keep-last",
        "2",
        "--seed",
        "7",
    ];
    let args = common::pretrain_tiny_args(&[arg(shard)], vocab, out, &flags);
    common::spawn_run(args, extra, resume, Stdio::null())
}

/// Wait until `out/latest` reaches `step`, then a little longer (to land mid-step).
fn wait_for(child: &mut Child, out: &Path, step: u64) {
    let start = Instant::now();
    while latest_step(out) < step {
        assert!(
            child.try_wait().unwrap().is_none(),
            "run ended before step {step}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no checkpoint {step}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(40));
}

/// Named tensors as raw bytes.
type Tensors = Vec<(String, Vec<u8>)>;

/// Weights (the generator's too, under rtd) and optimizer state of the final checkpoint.
fn final_state(out: &Path) -> Vec<Tensors> {
    let dir = out.join(format!("step-{STEPS:08}"));
    [
        "model.safetensors",
        "generator/model.safetensors",
        "optimizer.safetensors",
    ]
    .iter()
    .map(|f| dir.join(f))
    .filter(|p| p.exists())
    .map(|p| tensor_bytes(&p))
    .collect()
}

/// A straight run against one SIGKILLed after each checkpoint of `kills` and resumed
/// (and, with `sigterm`, stopped politely once more).
fn check_resume(extra: &[&str], kills: &[u64], sigterm: bool) -> PathBuf {
    let tmp = tempfile::tempdir().unwrap().keep();
    let (vocab, shard) = oppo_vocab_and_shard(&tmp);

    let straight = tmp.join("straight");
    assert!(pretrain(&vocab, &shard, &straight, extra, false)
        .wait()
        .unwrap()
        .success());

    let broken = tmp.join("broken");
    let mut child = pretrain(&vocab, &shard, &broken, extra, false);
    for &kill_after in kills {
        wait_for(&mut child, &broken, kill_after);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        child = pretrain(&vocab, &shard, &broken, extra, true);
    }
    if sigterm {
        // A polite stop: SIGTERM writes a checkpoint at the current step and exits 130.
        wait_for(&mut child, &broken, 20);
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = child.wait().unwrap();
        if status.code() == Some(130) {
            assert!(latest_step(&broken) >= 20);
        } else {
            // The run happened to finish before the signal arrived.
            assert!(status.success(), "{status:?}");
        }
        child = pretrain(&vocab, &shard, &broken, extra, true);
    }
    assert!(child.wait().unwrap().success());

    let (a, b) = (final_state(&straight), final_state(&broken));
    assert!(!a.is_empty() && a.len() == b.len());
    for (i, (a, b)) in a.iter().zip(&b).enumerate() {
        assert!(
            a == b,
            "file {i} of the final checkpoint differs after resuming"
        );
    }
    let log = std::fs::read_to_string(broken.join("metrics.jsonl")).unwrap();
    assert!(
        log.contains("\"event\":\"eval\""),
        "metrics.jsonl has eval records"
    );
    broken
}

#[test]
fn killed_and_resumed_run_equals_uninterrupted_run() {
    let out = check_resume(&[], &[4, 8, 16], true);
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}

#[test]
fn killed_and_resumed_rtd_run_equals_uninterrupted_run() {
    let out = check_resume(&["--objective", "rtd"], &[4, 12], false);
    let generator = out.join(format!("step-{STEPS:08}/generator/model.safetensors"));
    assert!(generator.exists(), "the rtd run saved its generator");
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}
