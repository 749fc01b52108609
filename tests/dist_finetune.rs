//! Data-parallel fine-tuning (`--features mpi`, Open MPI's `mpirun` on the PATH): two
//! processes with --batch-size 8 each train a fold exactly as one process with
//! --batch-size 16 does. Each rank takes half of every batch, its loss weighted by its
//! share of the batch's class weights (`--class-weight 1:1.3`, so the share is not simply
//! a half), the gradients are summed, and the validation pairs are scored in halves and
//! gathered. Only the order of floating-point summation differs, so after two epochs
//! (26 steps) the logged losses, the validation scores and the best checkpoint must
//! agree within 1e-5 relative (each tensor within 1e-4). Dropout is off: a half-batch
//! draws other dropout masks than a whole one. A fold killed mid-way (SIGKILL of rank 1)
//! and resumed by two processes ends bit for bit where the uninterrupted one does.
#![cfg(feature = "mpi")]

mod common;

use std::path::Path;

use common::{arg, dapt_ok, finetune_tiny_args, fresh_dir, lcqmc_sample, mpirun};

/// `dapt finetune` flags (without the leading `finetune`) for fold 0 of 2 into `out`.
fn flags(train: &Path, vocab: &Path, config: &Path, out: &Path, batch: &str) -> Vec<String> {
    let mut args = finetune_tiny_args(
        train,
        vocab,
        "2",
        out,
        &[
            "--fold",
            "0",
            "--class-weight",
            "1:1.3",
            "--seed",
            "3",
            "--eval-every",
            "5",
        ],
    );
    for (flag, value) in [
        ("--batch-size", batch),
        ("--model-config", arg(config)),
        ("--epochs", "2"),
    ] {
        let at = args.iter().position(|a| a == flag).unwrap();
        args[at + 1] = value.into();
    }
    args
}

/// The logged `(step, loss)` of fold 0, and its evaluations' AUC.
fn curves(dir: &Path) -> (Vec<(u64, f64)>, Vec<f64>) {
    let (mut losses, mut aucs) = (vec![], vec![]);
    for l in common::lines(&dir.join("metrics.jsonl")) {
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        if let Some(loss) = v.get("loss").and_then(|x| x.as_f64()) {
            losses.push((v["step"].as_u64().unwrap(), loss));
        }
        if let Some(auc) = v.pointer("/metrics/auc").and_then(|x| x.as_f64()) {
            aucs.push(auc);
        }
    }
    (losses, aucs)
}

fn result(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("fold-0/result.json")).unwrap()).unwrap()
}

/// Largest difference of two weight files: per tensor relative to its largest value,
/// and over the whole model relative to its largest value.
fn worst_weight(a: &Path, b: &Path) -> (f32, f32) {
    let load = |p: &Path| {
        candle_core::safetensors::load(p.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap()
    };
    let (a, b) = (load(a), load(b));
    assert_eq!(a.len(), b.len());
    let (mut worst, mut global_diff, mut global_scale) = (0.0f32, 0.0f32, 0.0f32);
    for (name, x) in &a {
        let x: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let y: Vec<f32> = b[name].flatten_all().unwrap().to_vec1().unwrap();
        let scale = x.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        let diff = x
            .iter()
            .zip(&y)
            .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        (global_diff, global_scale) = (global_diff.max(diff), global_scale.max(scale));
        // Attention key biases do not change the softmax: their gradient is rounding
        // noise (see tests/dist_pretrain.rs).
        if !name.contains("attention.self.key.bias") {
            worst = worst.max(diff / scale);
        }
    }
    (worst, global_diff / global_scale)
}

#[test]
fn two_processes_of_batch_8_fine_tune_what_one_process_of_batch_16_does() {
    let dir = fresh_dir("dist_finetune");
    let (train, vocab) = lcqmc_sample(&dir, 400);
    let config = common::tiny_no_dropout(&dir);
    let one = dir.join("one");
    let args = flags(&train, &vocab, &config, &one, "16");
    let mut plain: Vec<&str> = args.iter().map(String::as_str).collect();
    plain.extend(["--dist", "none"]);
    dapt_ok(&plain);
    let two = dir.join("two");
    let mut args = flags(&train, &vocab, &config, &two, "8");
    args.extend(["--dist".into(), "mpi".into()]);
    common::mpirun_two_ok(args);
    let ((la, aa), (lb, ab)) = (curves(&one), curves(&two));
    // 200 training pairs in batches of 16: 13 steps per epoch, logged every 10 steps
    // and at each epoch's end; evaluated every 5 steps and at each epoch's end. Rank 0
    // alone writes the log: each line once.
    assert_eq!(la.len(), 4, "{la:?}");
    assert_eq!(aa.len(), 7, "{aa:?}");
    assert_eq!(la.iter().map(|x| x.0).collect::<Vec<_>>(), [10, 13, 23, 26]);
    assert_eq!(lb.iter().map(|x| x.0).collect::<Vec<_>>(), [10, 13, 23, 26]);
    let worst_loss = la
        .iter()
        .zip(&lb)
        .map(|((_, x), (_, y))| (x - y).abs() / x.abs())
        .fold(0.0, f64::max);
    let worst_auc = aa
        .iter()
        .zip(&ab)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let (ra, rb) = (result(&one), result(&two));
    assert_eq!(ra["best_step"], rb["best_step"]);
    let oof = |r: &serde_json::Value| -> Vec<f64> {
        r["oof"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row[1].as_array().unwrap().clone())
            .map(|p| p.as_f64().unwrap())
            .collect()
    };
    let (pa, pb) = (oof(&ra), oof(&rb));
    assert_eq!(pa.len(), 2 * 200);
    let worst_prob = pa
        .iter()
        .zip(&pb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let (worst_w, global_w) = worst_weight(&one.join("fold-0/best"), &two.join("fold-0/best"));
    eprintln!(
        "1 x batch 16 vs 2 x batch 8 over 26 steps: loss {worst_loss:.1e}, AUC {worst_auc:.1e}, validation probabilities {worst_prob:.1e}, best weights {global_w:.1e} (worst tensor {worst_w:.1e})"
    );
    assert!(worst_loss < 1e-5, "losses differ by {worst_loss}");
    assert!(worst_auc < 1e-6, "AUC differs by {worst_auc}");
    assert!(
        worst_prob < 1e-5,
        "validation probabilities differ by {worst_prob}"
    );
    assert!(global_w < 1e-5, "best weights differ by {global_w}");
    // AdamW divides each weight's step by its gradient's running scale, so a rare token's
    // embedding row, whose gradients are few and small, turns rounding noise into
    // relatively larger weight differences (1.8e-5 of the word embeddings at most).
    assert!(worst_w < 1e-4, "a tensor differs by {worst_w}");
}

#[test]
fn options_without_data_parallel_semantics_are_refused_in_a_group() {
    let dir = fresh_dir("dist_finetune_refused");
    let (train, vocab) = lcqmc_sample(&dir, 100);
    let out = mpirun()
        .args(["-np", "2", env!("CARGO_BIN_EXE_dapt")])
        .args(finetune_tiny_args(
            &train,
            &vocab,
            "2",
            &dir.join("run"),
            &["--adversarial", "fgm", "--dist", "mpi"],
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--adversarial is not supported with 2 processes"),
        "{err}"
    );
    assert!(
        !dir.join("run").exists(),
        "nothing written before the refusal"
    );
}

#[test]
fn two_processes_resume_a_killed_fold_exactly() {
    let dir = fresh_dir("dist_finetune_resume");
    let (train, vocab) = lcqmc_sample(&dir, 400);
    let config = common::tiny_no_dropout(&dir);
    // Fold 0 of 2 for 8 epochs (104 steps), a checkpoint every 4 steps.
    let job = |out: &Path, resume: bool| {
        let mut args = flags(&train, &vocab, &config, out, "8");
        let at = args.iter().position(|a| a == "--epochs").unwrap();
        args[at + 1] = "8".into();
        let mut cmd = mpirun();
        cmd.args(["-np", "2", env!("CARGO_BIN_EXE_dapt")])
            .args(args)
            .args(["--dist", "mpi", "--save-every", "4"]);
        if resume {
            cmd.args(["--resume", "auto"]);
        }
        cmd
    };
    let straight = dir.join("straight");
    let o = job(&straight, false).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cut = dir.join("cut");
    let mut running = job(&cut, false)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !cut.join("fold-0/latest").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint in 2 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let victim = common::mpi_rank_pid(&cut, 1);
    std::process::Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    assert!(!running.wait().unwrap().success());
    assert!(
        !cut.join("fold-0/result.json").exists(),
        "the fold finished before the kill"
    );
    let o = job(&cut, true).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("resum"), "{err}");
    // Same ranks, same slices, same reduction order: bit for bit.
    assert_eq!(
        common::tensor_bytes(&straight.join("fold-0/best/model.safetensors")),
        common::tensor_bytes(&cut.join("fold-0/best/model.safetensors"))
    );
    let oof = |d: &Path| result(d)["oof"].clone();
    assert_eq!(oof(&straight), oof(&cut));
}
