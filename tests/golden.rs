//! Golden runs: fixed pretraining and fine-tuning runs whose weights, optimizer state,
//! logged losses and out-of-fold results must stay byte for byte what the binary
//! produced when they were recorded (before the trainer refactor of issue #33; see
//! `tests/golden/README.md`). Each covers one path through the training loops: MLM
//! with token / whole-word / n-gram masking under Lookahead, replaced-token detection, a
//! pretraining run killed and resumed, fine-tuning plain and with every technique,
//! soft labels, pseudo-label rounds, the match embedding with mean pooling, distillation
//! and prediction with swap TTA.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::golden::{check, check_files_of, outputs};
use common::{arg, dapt_ok, finetune_tiny, fresh_dir, latest_step, mrpc_split, root, MrpcSplit};

/// Pretraining flags shared by the golden pretraining runs: Lookahead over AdamW,
/// gradient accumulation, a cosine schedule, two kept checkpoints, held-out evals, and
/// the loss logged by step (by default it is logged every 2 s: the records would depend
/// on the machine's speed).
const PRETRAIN_FLAGS: [&str; 24] = [
    "--grad-accum",
    "2",
    "--optimizer",
    "lookahead",
    "--lookahead-k",
    "3",
    "--lr",
    "1e-3",
    "--schedule",
    "cosine",
    "--max-steps",
    "24",
    "--save-every",
    "8",
    "--eval-every",
    "8",
    "--eval-fraction",
    "0.01",
    "--keep-last",
    "2",
    "--log-every",
    "4",
    "--seed",
    "7",
];

/// The OPPO sample's vocabulary and shard, built once.
fn oppo() -> &'static (PathBuf, PathBuf) {
    static S: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    S.get_or_init(|| common::oppo_vocab_and_shard(&fresh_dir("golden_oppo")))
}

/// The arguments of golden pretraining run into `out` with `extra` flags.
fn pretrain_args<'a>(out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let (vocab, shard) = oppo();
    let mut flags = PRETRAIN_FLAGS.to_vec();
    flags.extend_from_slice(extra);
    common::pretrain_tiny_args(&[arg(shard)], vocab, out, &flags)
}

/// A golden pretraining run with `extra` flags, compared as `name`.
fn pretrain(name: &str, extra: &[&str]) {
    let out = fresh_dir(&format!("golden_{name}")).join("run");
    dapt_ok(&pretrain_args(&out, extra));
    check(name, &out, &outputs(&out));
}

#[test]
fn pretrain_mlm_token_lookahead() {
    pretrain("pretrain_mlm_token", &["--mask", "token"]);
}

#[test]
fn pretrain_mlm_wwm_lookahead() {
    pretrain("pretrain_mlm_wwm", &["--mask", "wwm"]);
}

#[test]
fn pretrain_mlm_ngram_lookahead() {
    pretrain(
        "pretrain_mlm_ngram",
        &["--mask", "ngram", "--ngram-max", "3"],
    );
}

#[test]
fn pretrain_rtd() {
    pretrain("pretrain_rtd", &["--objective", "rtd", "--mask", "token"]);
}

/// The n-gram run SIGKILLed after its step-8 checkpoint and resumed with `--resume
/// auto` ends with the uninterrupted run's golden weights and optimizer state.
#[test]
fn pretrain_killed_and_resumed() {
    let out = fresh_dir("golden_pretrain_resumed").join("run");
    let flags = ["--mask", "ngram", "--ngram-max", "3"];
    let mut child = common::spawn_run(pretrain_args(&out, &flags), &[], false, Stdio::null());
    let start = Instant::now();
    while latest_step(&out) < 8 {
        assert!(child.try_wait().unwrap().is_none(), "ended before step 8");
        assert!(start.elapsed() < Duration::from_secs(300), "no step 8");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let resumed = common::spawn_run(pretrain_args(&out, &flags), &[], true, Stdio::null());
    assert!(resumed.wait_with_output().unwrap().status.success());
    // The log and trainer state record the interruption; the tensors must not.
    let tensors: Vec<String> = outputs(&out)
        .into_iter()
        .filter(|f| f.ends_with(".safetensors"))
        .collect();
    check_files_of("pretrain_mlm_ngram", &out, &tensors);
}

/// The shipped MRPC sample split as the unlabelled-pairs tests do ([`mrpc_split`]).
fn pairs() -> &'static MrpcSplit {
    static S: OnceLock<MrpcSplit> = OnceLock::new();
    S.get_or_init(|| mrpc_split(&fresh_dir("golden_pairs")))
}

/// The committed WordPiece vocabulary of the MRPC sample (`dapt vocab --tokenizer
/// wordpiece` breaks ties between equally frequent merges differently from run to run).
fn vocab() -> PathBuf {
    root().join("tests/fixtures/vocab/mrpc_dapt")
}

/// A 2-fold, 1-epoch tiny fine-tuning run of `train`, evaluated every 3 steps, with
/// `flags`; its output dir.
fn finetune(name: &str, train: &Path, flags: &[&str]) -> PathBuf {
    let out = fresh_dir(&format!("golden_{name}")).join("run");
    let mut all = vec!["--eval-every", "3", "--seed", "5"];
    all.extend_from_slice(flags);
    finetune_tiny(train, &vocab(), "2", &out, &all);
    out
}

/// The plain run on the labelled pairs: the teacher of the soft-label, pseudo-label and
/// distillation runs.
fn teacher() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| finetune("finetune_plain", &pairs().labelled, &[]))
}

#[test]
fn finetune_plain_and_predict_with_swap_tta() {
    check("finetune_plain", teacher(), &outputs(teacher()));
    let out = fresh_dir("golden_predict").join("predictions.tsv");
    dapt_ok(&[
        "predict",
        "--model",
        arg(teacher()),
        "--input",
        arg(&pairs().mixed),
        "--tta",
        "swap",
        "--with-ids",
        "--out",
        arg(&out),
    ]);
    check(
        "predict_swap_tta",
        out.parent().unwrap(),
        &["predictions.tsv".into()],
    );
}

#[test]
fn finetune_fgm_ema_rdrop_msd() {
    let flags = [
        "--adversarial",
        "fgm",
        "--ema",
        "0.9",
        "--rdrop",
        "1.0",
        "--multi-sample-dropout",
        "3",
        "--pooling",
        "mean",
        "--classifier-dropout",
        "0.2",
        "--layer-lr-decay",
        "0.8",
        "--class-weight",
        "1:1.3",
    ];
    let out = finetune("finetune_fgm_ema_rdrop_msd", &pairs().labelled, &flags);
    check("finetune_fgm_ema_rdrop_msd", &out, &outputs(&out));
}

#[test]
fn finetune_pgd_swa() {
    let flags = [
        "--adversarial",
        "pgd",
        "--adv-steps",
        "2",
        "--swa",
        "2",
        "--pooling",
        "cls-mean",
        "--grad-accum",
        "2",
        "--label-smoothing",
        "0.1",
    ];
    let out = finetune("finetune_pgd_swa", &pairs().labelled, &flags);
    check("finetune_pgd_swa", &out, &outputs(&out));
}

#[test]
fn finetune_uda_tsa() {
    let flags = [
        "--uda",
        arg(&pairs().unlabelled),
        "--tsa",
        "linear",
        "--uda-augment",
        "tfidf,delete,span-swap,pair-swap",
        "--uda-batch-size",
        "16",
    ];
    let out = finetune("finetune_uda_tsa", &pairs().labelled, &flags);
    check("finetune_uda_tsa", &out, &outputs(&out));
}

#[test]
fn finetune_soft_labels() {
    let soft = fresh_dir("golden_soft").join("soft.tsv");
    dapt_ok(&[
        "predict",
        "--model",
        arg(teacher()),
        "--input",
        arg(&pairs().mixed),
        "--with-ids",
        "--out",
        arg(&soft),
    ]);
    let flags = ["--soft-labels", arg(&soft), "--temperature", "2"];
    let out = finetune("finetune_soft_labels", &pairs().mixed, &flags);
    check("finetune_soft_labels", &out, &outputs(&out));
}

#[test]
fn finetune_pseudo_rounds() {
    let flags = [
        "--pseudo",
        arg(&pairs().unlabelled),
        "--pseudo-teacher",
        arg(teacher()),
        "--pseudo-threshold",
        "0.6",
        "--pseudo-rounds",
        "2",
    ];
    let out = finetune("finetune_pseudo_rounds", &pairs().labelled, &flags);
    check("finetune_pseudo_rounds", &out, &outputs(&out));
}

#[test]
fn finetune_match_embedding_mean_pooling() {
    let flags = ["--match-embedding", "--pooling", "mean"];
    let out = finetune("finetune_match_mean", &pairs().labelled, &flags);
    check("finetune_match_mean", &out, &outputs(&out));
}

#[test]
fn distill_student() {
    let out = fresh_dir("golden_distill").join("run");
    dapt_ok(&[
        "distill",
        "--teacher",
        arg(teacher()),
        "--train",
        arg(&pairs().labelled),
        "--unlabelled",
        arg(&pairs().unlabelled),
        "--vocab",
        arg(&vocab()),
        "--model-config",
        "tiny",
        "--epochs",
        "1",
        "--max-len",
        "48",
        "--lr",
        "1e-3",
        "--seed",
        "5",
        "--out",
        arg(&out),
    ]);
    check("distill", &out, &outputs(&out));
}
