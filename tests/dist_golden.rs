//! Golden data-parallel runs (`--features mpi`, Open MPI's `mpirun` on the PATH): a
//! pretraining run and a fine-tuning fold on two MPI processes must reproduce, byte for
//! byte, the weights, optimizer state, logged losses and out-of-fold results recorded
//! before the trainer refactor of issue #33 (see `tests/golden/README.md`).
#![cfg(feature = "mpi")]

mod common;

use common::golden::{check, outputs};
use common::{arg, finetune_tiny_args, fresh_dir, lcqmc_sample};

/// Run `dapt args --dist mpi` on two processes; fail the test unless it succeeds.
fn two_ranks(args: &[String]) {
    common::mpirun_two_ok(args.iter().map(String::as_str).chain(["--dist", "mpi"]));
}

#[test]
fn pretrain_two_ranks() {
    let dir = fresh_dir("dist_golden_pretrain");
    let (vocab, shard) = common::oppo_vocab_and_shard(&dir);
    let out = dir.join("run");
    let flags = [
        "--mask",
        "wwm",
        "--optimizer",
        "lookahead",
        "--max-steps",
        "12",
        "--save-every",
        "6",
        "--eval-every",
        "6",
        "--eval-fraction",
        "0.01",
        "--log-every",
        "3",
        "--seed",
        "11",
    ];
    let args = common::pretrain_tiny_args(&[arg(&shard)], &vocab, &out, &flags);
    two_ranks(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    check("dist_pretrain_two_ranks", &out, &outputs(&out));
}

#[test]
fn finetune_two_ranks() {
    let dir = fresh_dir("dist_golden_finetune");
    let (train, vocab) = lcqmc_sample(&dir, 300);
    let out = dir.join("run");
    let flags = [
        "--class-weight",
        "1:1.3",
        "--ema",
        "0.9",
        "--seed",
        "3",
        "--eval-every",
        "4",
    ];
    two_ranks(&finetune_tiny_args(&train, &vocab, "2", &out, &flags));
    check("dist_finetune_two_ranks", &out, &outputs(&out));
}
