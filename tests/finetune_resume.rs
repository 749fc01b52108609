//! `dapt finetune` killed with SIGKILL mid-fold, between folds and mid-fold again,
//! resumed each time with `--resume auto`, ends bit-identical to an uninterrupted run:
//! every fold's best weights, result.json, oof.tsv, cv.json, and metrics.jsonl but for
//! its timings. Lookahead (slow weights), gradient accumulation, EMA (its shadow
//! weights) and --patience counters all cross the kills; a second case does the same
//! for UDA (its unlabelled draws) with SWA, a third for `dapt distill`'s student.

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::{arg, fresh_dir, latest_step, root, tensor_bytes};
use serde_json::Value;

fn vocab() -> &'static Path {
    common::mrpc_vocab("finetune_resume_vocab")
}

/// A 3-fold run of `head` (`finetune`, or `distill` and its teacher), 2 epochs of 26
/// steps per fold, a checkpoint every 4 steps. Its stderr goes to `log`.
fn finetune(head: &[&str], out: &Path, extra: &[&str], resume: bool, log: &Path) -> Child {
    let train = root().join("corpora/mrpc_sample.tsv");
    let mut args = head.to_vec();
    args.extend([
        "--train",
        arg(&train),
        "--vocab",
        arg(vocab()),
        "--model-config",
        "tiny",
        "--folds",
        "3",
        "--max-len",
        "48",
        "--lr",
        "1e-3",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--grad-accum",
        "2",
        "--optimizer",
        "lookahead",
        "--lookahead-k",
        "3",
        "--eval-every",
        "6",
        "--patience",
        "6",
        "--class-weight",
        "1:1.3",
        "--save-every",
        "4",
        "--keep-last",
        "2",
        "--seed",
        "5",
        "--out",
        arg(out),
    ]);
    common::spawn_run(
        args,
        extra,
        resume,
        std::fs::File::create(log).unwrap().into(),
    )
}

/// Where to kill a run.
#[derive(Clone, Copy)]
enum Kill {
    /// Once fold K has a checkpoint at or after step N (then a little later, mid-step).
    After(usize, u64),
    /// As soon as fold K's result.json exists: between folds.
    Finished(usize),
}

fn wait_for(child: &mut Child, out: &Path, kill: Kill) {
    let start = Instant::now();
    let reached = || match kill {
        Kill::After(k, step) => latest_step(&out.join(format!("fold-{k}"))) >= step,
        Kill::Finished(k) => out.join(format!("fold-{k}/result.json")).exists(),
    };
    while !reached() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "run ended before the kill point"
        );
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "kill point not reached"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    if let Kill::After(..) = kill {
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// metrics.jsonl's records without their timings.
fn log_records(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("train_seconds");
            v
        })
        .collect()
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A straight run of `head` against one SIGKILLed at each of `kills` and resumed;
/// `folds` are the folds it trains.
fn check_resume(name: &str, head: &[&str], extra: &[&str], kills: &[Kill], folds: usize) {
    let tmp = fresh_dir(name);
    let finetune = |out: &Path, extra: &[&str], resume: bool, log: &Path| {
        finetune(head, out, extra, resume, log)
    };
    let straight = tmp.join("straight");
    let log = |name: &str| tmp.join(format!("{name}.log"));
    assert!(finetune(&straight, extra, false, &log("straight"))
        .wait()
        .unwrap()
        .success());

    let broken = tmp.join("broken");
    let mut child = finetune(&broken, extra, false, &log("broken-0"));
    for (i, &kill) in kills.iter().enumerate() {
        wait_for(&mut child, &broken, kill);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        child = finetune(&broken, extra, true, &log(&format!("broken-{}", i + 1)));
        // The next run continues the killed fold from its checkpoint (else it would
        // start over, which would end identical too).
        if let Kill::After(k, _) = kill {
            let start = Instant::now();
            let resumed = format!(
                "resuming from {}/step-",
                broken.join(format!("fold-{k}")).display()
            );
            while !read(log(&format!("broken-{}", i + 1))).contains(&resumed) {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "run {} did not resume fold {k} from a checkpoint",
                    i + 1
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    assert!(child.wait().unwrap().success(), "the resumed run failed");

    for k in 0..folds {
        let fold = |run: &Path| run.join(format!("fold-{k}"));
        let (a, b) = (
            tensor_bytes(&fold(&straight).join("best/model.safetensors")),
            tensor_bytes(&fold(&broken).join("best/model.safetensors")),
        );
        let differ: Vec<&str> = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| x != y)
            .map(|(x, _)| x.0.as_str())
            .collect();
        assert!(
            a.len() == b.len() && differ.is_empty(),
            "fold {k}: best weights differ: {differ:?}"
        );
        assert_eq!(
            read(fold(&straight).join("result.json")),
            read(fold(&broken).join("result.json")),
            "fold {k}: result.json"
        );
        let left: Vec<_> = std::fs::read_dir(fold(&broken))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("step-") || n == "latest")
            .collect();
        assert!(left.is_empty(), "fold {k}: checkpoints left: {left:?}");
    }
    for file in ["oof.tsv", "cv.json"].into_iter().filter(|_| folds == 3) {
        assert_eq!(read(straight.join(file)), read(broken.join(file)), "{file}");
    }
    assert_eq!(
        log_records(&straight),
        log_records(&broken),
        "metrics.jsonl"
    );
}

#[test]
fn a_killed_run_resumes_bit_identical() {
    check_resume(
        "finetune_resume_plain",
        &["finetune"],
        &["--ema", "0.9"],
        &[Kill::After(0, 8), Kill::Finished(0), Kill::After(1, 20)],
        3,
    );
}

#[test]
fn a_killed_uda_run_resumes_bit_identical() {
    // The sample's own pairs as the unlabelled ones (UDA ignores a label column).
    let unlabelled = root().join("corpora/mrpc_sample.tsv");
    check_resume(
        "finetune_resume_uda",
        &["finetune"],
        &[
            "--uda",
            arg(&unlabelled),
            "--uda-batch-size",
            "8",
            "--tsa",
            "linear",
            "--swa",
            "2",
        ],
        &[Kill::After(1, 12), Kill::After(2, 24)],
        3,
    );
}

#[test]
fn a_killed_distill_run_resumes_bit_identical() {
    // A 2-fold teacher ensemble; its student (fold 0 of 3) learns the sample's pairs
    // plus the same pairs again as unlabelled ones, from the teacher's soft labels.
    let tmp = fresh_dir("finetune_resume_distill_teacher");
    let teacher = tmp.join("teacher");
    let train = root().join("corpora/mrpc_sample.tsv");
    common::finetune_tiny(&train, vocab(), "2", &teacher, &[]);
    let head = [
        "distill",
        "--teacher",
        arg(&teacher),
        "--unlabelled",
        arg(&train),
    ];
    check_resume(
        "finetune_resume_distill",
        &head,
        &[],
        &[Kill::After(0, 8), Kill::After(0, 36)],
        1,
    );
}
