//! `dapt pretrain` killed with SIGKILL at three points (and stopped once with SIGTERM),
//! resumed each time with `--resume auto`, ends with parameters and optimizer state
//! bit-identical to an uninterrupted run with the same seed.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{arg, oppo_vocab_and_shard};

const STEPS: u64 = 24;

fn pretrain(vocab: &Path, shard: &Path, out: &Path, resume: bool) -> Child {
    let steps = STEPS.to_string();
    let mut args = vec![
        "pretrain",
        "--corpus",
        arg(shard),
        "--vocab",
        arg(vocab),
        "--model-config",
        "tiny",
        "--max-len",
        "32",
        "--batch-size",
        "8",
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
        "--out",
        arg(out),
    ];
    if resume {
        args.extend(["--resume", "auto"]);
    }
    Command::new(env!("CARGO_BIN_EXE_dapt"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning dapt pretrain")
}

fn latest_step(out: &Path) -> u64 {
    std::fs::read_to_string(out.join("latest"))
        .ok()
        .and_then(|s| s.trim().strip_prefix("step-")?.parse().ok())
        .unwrap_or(0)
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

/// Every tensor of a safetensors file as raw bytes, by name (metadata key order in the
/// file header may differ between processes; the values may not).
fn tensors(path: &Path) -> Tensors {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    out.sort();
    out
}

fn final_state(out: &Path) -> (Tensors, Tensors) {
    let dir = out.join(format!("step-{STEPS:08}"));
    (
        tensors(&dir.join("model.safetensors")),
        tensors(&dir.join("optimizer.safetensors")),
    )
}

#[test]
fn killed_and_resumed_run_equals_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (vocab, shard) = oppo_vocab_and_shard(tmp.path());

    let straight = tmp.path().join("straight");
    assert!(pretrain(&vocab, &shard, &straight, false)
        .wait()
        .unwrap()
        .success());

    let broken = tmp.path().join("broken");
    let mut child = pretrain(&vocab, &shard, &broken, false);
    for kill_after in [4, 8, 16] {
        wait_for(&mut child, &broken, kill_after);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        child = pretrain(&vocab, &shard, &broken, true);
    }
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
        child = pretrain(&vocab, &shard, &broken, true);
    } else {
        // The run happened to finish before the signal arrived.
        assert!(status.success(), "{status:?}");
        child = pretrain(&vocab, &shard, &broken, true);
    }
    assert!(child.wait().unwrap().success());

    let (a, b) = (final_state(&straight), final_state(&broken));
    assert!(a.0 == b.0, "model.safetensors differs after resuming");
    assert!(a.1 == b.1, "optimizer.safetensors differs after resuming");
    let log = std::fs::read_to_string(broken.join("metrics.jsonl")).unwrap();
    assert!(
        log.contains("\"event\":\"eval\""),
        "metrics.jsonl has eval records"
    );
}
