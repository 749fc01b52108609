//! Data-parallel pretraining (`--features mpi`, Open MPI's `mpirun` on the PATH): two
//! processes with --batch-size 4 each train exactly what one process with --batch-size 8
//! trains. Their batches are the two halves of the single process's, masked alike
//! (`Collator::collate_rows`); each rank's loss is weighted by its share of the masked
//! tokens and the gradients are summed. The only difference left is the order of
//! floating-point summation, so after 20 steps the logged losses and the weights must
//! agree within 1e-5 relative. Dropout is off: its masks are drawn per batch tensor, so a
//! half-batch draws other masks. A rank that dies or stalls ends the job (the launcher,
//! or the collective timeout), and the last checkpoint resumes: with one process, told
//! that the data order changes; with two, bit for bit.
#![cfg(feature = "mpi")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{arg, dapt_ok, fresh_dir, lcqmc_sample, mpirun, pretrain_tiny_args};

fn losses(dir: &Path) -> Vec<(u64, f64)> {
    common::lines(&dir.join("metrics.jsonl"))
        .iter()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Some((v.get("step")?.as_u64()?, v.get("loss")?.as_f64()?))
        })
        .collect()
}

fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let ckpt = dir.join(std::fs::read_to_string(dir.join("latest")).unwrap().trim());
    let tensors =
        candle_core::safetensors::load(ckpt.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let mut out: Vec<(String, Vec<f32>)> = tensors
        .into_iter()
        .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A tiny no-dropout model config and the LCQMC sample as a shard in `dir`:
/// `(shard, vocab, config)`.
fn setup(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (train, vocab) = lcqmc_sample(dir, 400);
    let shard = dir.join("train.shard");
    common::encode(&vocab, &train, &shard);
    (shard, vocab, common::tiny_no_dropout(dir))
}

/// `dapt pretrain` flags for a run into `out` with `--batch-size batch`, `--dist dist`,
/// then `extra`.
fn flags(
    (shard, vocab, config): &(PathBuf, PathBuf, PathBuf),
    out: &Path,
    batch: &str,
    dist: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = pretrain_tiny_args(&[arg(shard)], vocab, out, &[])
        .into_iter()
        .map(String::from)
        .collect();
    let at = args.iter().position(|a| a == "--batch-size").unwrap();
    args[at + 1] = batch.into();
    let at = args.iter().position(|a| a == "--model-config").unwrap();
    args[at + 1] = arg(config).into();
    for a in [
        "--log-every",
        "1",
        "--eval-every",
        "0",
        "--lr",
        "1e-3",
        "--dist",
        dist,
    ] {
        args.push(a.into());
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

#[test]
fn two_processes_of_batch_4_train_what_one_process_of_batch_8_trains() {
    let dir = fresh_dir("dist_pretrain");
    let data = setup(&dir);
    let one = dir.join("one");
    let steps = ["--max-steps", "20", "--seed", "3"];
    dapt_ok(
        &flags(&data, &one, "8", "none", &steps)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let two = dir.join("two");
    common::mpirun_two_ok(flags(&data, &two, "4", "mpi", &steps));
    let (a, b) = (losses(&one), losses(&two));
    assert_eq!(a.len(), 20);
    assert_eq!(
        a.iter().map(|x| x.0).collect::<Vec<_>>(),
        b.iter().map(|x| x.0).collect::<Vec<_>>()
    );
    let worst_loss = a
        .iter()
        .zip(&b)
        .map(|((_, x), (_, y))| (x - y).abs() / x.abs())
        .fold(0.0, f64::max);
    // Per tensor, relative to its largest weight. The attention key biases are left
    // out: the softmax does not depend on them (a shift of every score of a query), so
    // their gradient is rounding noise that AdamW scales up to ~1e-7-sized weights whose
    // digits mean nothing. Over the whole model they count in the global figure.
    let (mut worst_weight, mut global_diff, mut global_scale) = (0.0f32, 0.0f32, 0.0f32);
    for ((name, x), (name_b, y)) in weights(&one).iter().zip(&weights(&two)) {
        assert_eq!(name, name_b);
        let scale = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = x
            .iter()
            .zip(y)
            .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        (global_diff, global_scale) = (global_diff.max(diff), global_scale.max(scale));
        if !name.ends_with("attention.self.key.bias") {
            worst_weight = worst_weight.max(diff / scale);
        }
    }
    let global = global_diff / global_scale;
    eprintln!(
        "1 x batch 8 vs 2 x batch 4 over 20 steps: loss {:.4} -> {:.4}; worst relative difference: loss {worst_loss:e}, weights per tensor {worst_weight:e}, whole model {global:e}",
        a[0].1, a[19].1
    );
    assert!(worst_loss <= 1e-5, "{a:?}\n{b:?}");
    assert!(worst_weight <= 1e-5);
    assert!(global <= 1e-5);
    // Only rank 0 wrote: one metrics line per step, not two.
    assert_eq!(b.len(), 20);
}

#[test]
fn ranks_given_different_flags_stop_with_exit_2_naming_the_mismatch() {
    let dir = fresh_dir("dist_pretrain_mismatch");
    let data = setup(&dir);
    let out = dir.join("run");
    let dapt = env!("CARGO_BIN_EXE_dapt");
    let started = Instant::now();
    let o = mpirun()
        .args(["-np", "1", dapt])
        .args(flags(
            &data,
            &out,
            "4",
            "mpi",
            &["--max-steps", "5", "--seed", "3"],
        ))
        .args([":", "-np", "1", dapt])
        .args(flags(
            &data,
            &out,
            "4",
            "mpi",
            &["--max-steps", "5", "--seed", "4"],
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("rank 1 of 2: its flags differ from rank 0's"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(!out.join("metrics.jsonl").exists(), "nothing written");
}

/// A 2-process job of `steps` steps into `out`, saving every 10, with a 10 s collective
/// timeout, once its first checkpoint is there: the job, the receiver of its stderr
/// (sent when every rank has exited: each holds the pipe) and rank 1's pid.
fn job_at_first_checkpoint(
    data: &(PathBuf, PathBuf, PathBuf),
    out: &Path,
    steps: &str,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>, u32) {
    let mut job = mpirun()
        .args(["-np", "2", env!("CARGO_BIN_EXE_dapt")])
        .args(flags(
            data,
            out,
            "4",
            "mpi",
            &[
                "--max-steps",
                steps,
                "--save-every",
                "10",
                "--dist-timeout",
                "10",
            ],
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = job.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
        let _ = tx.send(text);
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while !out.join("latest").exists() {
        assert!(Instant::now() < deadline, "no checkpoint within 2 minutes");
        std::thread::sleep(Duration::from_millis(50));
    }
    (job, rx, common::mpi_rank_pid(out, 1))
}

/// Wait for `job` to end after `signal` was sent at `since` (a minute at most), then for
/// every rank's end (its stderr closed; another minute): the exit status, seconds to
/// each, and the stderr text.
fn ended(
    mut job: std::process::Child,
    stderr: std::sync::mpsc::Receiver<String>,
    since: Instant,
) -> (std::process::ExitStatus, f64, f64, String) {
    let status = loop {
        if let Some(s) = job.try_wait().unwrap() {
            break s;
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "the job hangs a minute after a rank died or stalled"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let job_s = since.elapsed().as_secs_f64();
    let text = stderr
        .recv_timeout(Duration::from_secs(60))
        .expect("a rank still runs a minute after the job ended (--dist-timeout 10)");
    (status, job_s, since.elapsed().as_secs_f64(), text)
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn a_killed_rank_ends_the_job_and_the_last_checkpoint_resumes() {
    let dir = fresh_dir("dist_pretrain_kill");
    let data = setup(&dir);
    let out = dir.join("run");
    let (job, stderr, rank_1) = job_at_first_checkpoint(&data, &out, "400");
    // Kill rank 1 (not the writer) the hard way.
    let at = Instant::now();
    signal(rank_1, "-KILL");
    let (status, job_s, all_s, text) = ended(job, stderr, at);
    eprintln!(
        "killed rank: job ended {job_s:.1} s after the kill ({status}), every rank by {all_s:.1} s"
    );
    assert!(!status.success());
    assert!(
        text.contains("signal 9") || text.contains("Killed"),
        "{text}"
    );
    // The last checkpoint is whole: one process resumes it to the end (the checkpoint's
    // 400-step schedule), told that the data order changes with the world size.
    let step = common::latest_step(&out);
    assert!(step < 400, "the job finished before the kill");
    let resume = flags(
        &data,
        &out,
        "8",
        "none",
        &["--max-steps", "400", "--resume", "auto"],
    );
    let o = dapt_ok(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    let err = common::stderr(&o);
    assert!(err.contains("resuming from"), "{err}");
    assert!(
        err.contains("trained by 2 process(es) and this one has 1"),
        "{err}"
    );
    assert_eq!(common::latest_step(&out), 400);
}

#[test]
fn a_stalled_rank_is_ended_by_the_collective_timeout() {
    let dir = fresh_dir("dist_pretrain_stall");
    let data = setup(&dir);
    let out = dir.join("run");
    let (job, stderr, rank_1) = job_at_first_checkpoint(&data, &out, "100000");
    // Rank 1 stops answering but does not die: only the timeout can tell.
    let at = Instant::now();
    signal(rank_1, "-STOP");
    let (status, job_s, all_s, text) = ended(job, stderr, at);
    eprintln!("stalled rank: job ended {job_s:.1} s after the stop ({status}), every rank by {all_s:.1} s");
    assert!(!status.success());
    assert!(
        text.contains("error (rank 0): MPI all-reduce did not complete in 10 s"),
        "{text}"
    );
    assert!(job_s >= 10.0, "ended before the timeout: {job_s}");
}

#[test]
fn two_processes_resume_exactly_with_the_same_world_size() {
    let dir = fresh_dir("dist_pretrain_resume");
    let data = setup(&dir);
    let run = |out: &Path, extra: &[&str]| {
        let mut more = vec!["--max-steps", "300", "--save-every", "10"];
        more.extend_from_slice(extra);
        let o = mpirun()
            .args(["-np", "2", env!("CARGO_BIN_EXE_dapt")])
            .args(flags(&data, out, "4", "mpi", &more))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{err}");
        err
    };
    let straight = dir.join("straight");
    run(&straight, &[]);
    let cut = dir.join("cut");
    let (job, stderr, rank_1) = job_at_first_checkpoint(&data, &cut, "300");
    signal(rank_1, "-KILL");
    ended(job, stderr, Instant::now());
    let step = common::latest_step(&cut);
    assert!(step < 300, "the job finished before the kill");
    let err = run(&cut, &["--resume", "auto"]);
    assert!(err.contains("resuming from"), "{err}");
    assert!(!err.contains("process(es)"), "no world-size warning: {err}");
    // Same ranks, same slices, same reduction order: bit for bit.
    assert!(
        weights(&straight) == weights(&cut),
        "resumed at step {step}: the weights differ"
    );
}
