//! Helpers shared by the integration tests: run the `dapt` binary, read outputs.
#![allow(dead_code)] // each test file uses a different subset

pub mod golden;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The device the model parity tests (`model_mlm`, `model_pair`, `model_parity`,
/// `model_precision`) run on: `DAPT_TEST_DEVICE` (`cpu`, or `cuda:N` in a `--features
/// cuda` build; bench/gpu/check.sh sets it), the CPU by default.
pub fn test_device() -> candle_core::Device {
    let name = std::env::var("DAPT_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
    dapt::train::options::parse_device(&name).expect("DAPT_TEST_DEVICE")
}

/// The repository root (where `corpora/` and `tests/fixtures/` live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `dapt` binary, run in the repository root with text corpora's shard cache in
/// cargo's test scratch dir (not the user's ~/.cache).
pub fn dapt_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dapt"));
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("xdg-cache");
    cmd.current_dir(root()).env("XDG_CACHE_HOME", cache);
    cmd
}

/// Run `dapt` with `args`, returning its output whatever the exit code.
pub fn dapt(args: &[&str]) -> Output {
    dapt_command().args(args).output().expect("running dapt")
}

/// Run `dapt` and fail the test (with its stderr) unless it succeeds.
pub fn dapt_ok(args: &[&str]) -> Output {
    let out = dapt(args);
    assert!(
        out.status.success(),
        "dapt {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Stderr of a run as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A path inside a temporary dir, as a string argument.
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Lines of a text file.
pub fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .expect("reading file")
        .lines()
        .map(String::from)
        .collect()
}

/// Largest absolute value of a tensor (for parity checks).
pub fn max_abs(t: &candle_core::Tensor) -> f32 {
    t.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// An empty dir `name` under cargo's per-target test scratch dir (emptied first), for
/// outputs several tests of one file share; kept after the run for inspection.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a test dir");
    dir
}

/// Vocabulary (`--min-count 2`) and shard of the OPPO sample, built in `dir`.
pub fn oppo_vocab_and_shard(dir: &Path) -> (PathBuf, PathBuf) {
    let (vocab, shard) = (dir.join("vocab"), dir.join("oppo.shard"));
    let sample = root().join("corpora/oppo_sample.tsv");
    dapt_ok(&[
        "vocab",
        "--input",
        arg(&sample),
        "--min-count",
        "2",
        "--out",
        arg(&vocab),
    ]);
    encode(&vocab, &sample, &shard);
    (vocab, shard)
}

/// `dapt encode` of `input` over `vocab` into shard `out`; fails the test on error.
pub fn encode(vocab: &Path, input: &Path, out: &Path) {
    dapt_ok(&[
        "encode",
        "--vocab",
        arg(vocab),
        "--input",
        arg(input),
        "--out",
        arg(out),
    ]);
}

/// The rows of `t (batch*seq, ...)` at real positions of `mask (batch, seq)` (1 real, 0
/// padding): what the encoder computes. Its outputs at padding positions are zeros while
/// transformers computes values there that nothing reads.
pub fn real_rows(t: &candle_core::Tensor, mask: &candle_core::Tensor) -> candle_core::Tensor {
    let mask: Vec<f32> = mask
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let rows: Vec<u32> = (0..mask.len() as u32)
        .filter(|&i| mask[i as usize] != 0.0)
        .collect();
    let rows = candle_core::Tensor::new(rows, t.device()).unwrap();
    t.index_select(&rows, 0).unwrap()
}

/// A lowercased WordPiece vocabulary of at most `max_size` tokens of the shipped MRPC
/// sample, written to `out`.
pub fn mrpc_wordpiece(max_size: &str, out: &Path) {
    dapt_ok(&[
        "vocab",
        "--input",
        "corpora/mrpc_sample.tsv",
        "--tokenizer",
        "wordpiece",
        "--lowercase",
        "--max-size",
        max_size,
        "--out",
        arg(out),
    ]);
}

/// A WordPiece vocabulary (lowercased, 3,000 tokens) of the shipped MRPC sample, built
/// once per test binary in `dir_name`.
pub fn mrpc_vocab(dir_name: &str) -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let out = fresh_dir(dir_name);
        mrpc_wordpiece("3000", &out);
        out
    })
    .as_path()
}

/// The arguments of `dapt finetune` of a fresh tiny model on `train` read with `vocab`,
/// `folds` stratified folds (unless `extra` says otherwise), one epoch of batches of 32
/// at lr 1e-3, max-len 48, into `out`, with `extra` flags.
pub fn finetune_tiny_args(
    train: &Path,
    vocab: &Path,
    folds: &str,
    out: &Path,
    extra: &[&str],
) -> Vec<String> {
    let mut args = vec![
        "finetune",
        "--train",
        arg(train),
        "--vocab",
        arg(vocab),
        "--model-config",
        "tiny",
        "--folds",
        folds,
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--max-len",
        "48",
        "--lr",
        "1e-3",
        "--out",
        arg(out),
    ];
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

/// Run [`finetune_tiny_args`]; fail the test unless it succeeds.
pub fn finetune_tiny(train: &Path, vocab: &Path, folds: &str, out: &Path, extra: &[&str]) {
    let args = finetune_tiny_args(train, vocab, folds, out, extra);
    dapt_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// The MLM batch of a reference fixture's `input_ids`, `token_type_ids`,
/// `attention_mask` and `labels` (-100 where not predicted), as tensors on the device
/// the fixture was loaded to.
pub fn reference_batch(
    r: &std::collections::HashMap<String, candle_core::Tensor>,
) -> dapt::data::collate::BatchTensors {
    reference_batch_cpu(r)
        .to_tensors(r["input_ids"].device())
        .unwrap()
}

/// [`reference_batch`] as the collator's host-side [`dapt::data::collate::Batch`].
pub fn reference_batch_cpu(
    r: &std::collections::HashMap<String, candle_core::Tensor>,
) -> dapt::data::collate::Batch {
    let flat_u32 = |name: &str| -> Vec<u32> {
        let t = r[name].flatten_all().unwrap();
        t.to_dtype(candle_core::DType::U32)
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let labels: Vec<i64> = r["labels"].flatten_all().unwrap().to_vec1().unwrap();
    let (masked_positions, masked_labels) = dapt::model::mlm_head::masked_positions(&labels);
    let (batch_size, seq_len) = r["input_ids"].dims2().unwrap();
    dapt::data::collate::Batch {
        batch_size,
        seq_len,
        input_ids: flat_u32("input_ids"),
        token_type_ids: flat_u32("token_type_ids"),
        attention_mask: flat_u32("attention_mask"),
        labels,
        masked_positions,
        masked_labels,
        match_flags: None,
    }
}

/// Every tensor of a safetensors file as raw bytes, sorted by name (header key order may
/// differ between processes; the values may not).
pub fn tensor_bytes(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    out.sort();
    out
}

/// The step of the checkpoint `DIR/latest` points at (0: none yet).
pub fn latest_step(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("latest"))
        .ok()
        .and_then(|s| s.trim().strip_prefix("step-")?.parse().ok())
        .unwrap_or(0)
}

/// Start `dapt` with `args`, then `extra`, then (with `resume`) `--resume auto`, in the
/// repository root, its stderr to `stderr`.
pub fn spawn_run<'a>(
    mut args: Vec<&'a str>,
    extra: &[&'a str],
    resume: bool,
    stderr: std::process::Stdio,
) -> std::process::Child {
    args.extend_from_slice(extra);
    if resume {
        args.extend(["--resume", "auto"]);
    }
    dapt_command()
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawning dapt")
}

/// Arguments of a tiny pretraining run (`--max-len 32`, batch 8) on `corpus` into `out`,
/// then `extra`.
pub fn pretrain_tiny_args<'a>(
    corpus: &[&'a str],
    vocab: &'a Path,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["pretrain", "--corpus"];
    args.extend_from_slice(corpus);
    args.extend_from_slice(&[
        "--vocab",
        arg(vocab),
        "--model-config",
        "tiny",
        "--max-len",
        "32",
        "--batch-size",
        "8",
        "--out",
        arg(out),
    ]);
    args.extend_from_slice(extra);
    args
}

/// The first `n` pairs of the desensitized LCQMC sample as `dir/train.tsv` and a
/// vocabulary of them (`--min-count 2`) in `dir/vocab`: `(train, vocab)`.
pub fn lcqmc_sample(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let train = dir.join("train.tsv");
    let text = std::fs::read_to_string(root().join("corpora/lcqmc_desens_train.tsv")).unwrap();
    let lines: Vec<&str> = text.lines().take(n).collect();
    std::fs::write(&train, lines.join("\n") + "\n").unwrap();
    let vocab = dir.join("vocab");
    dapt_ok(&[
        "vocab",
        "--input",
        arg(&train),
        "--min-count",
        "2",
        "--out",
        arg(&vocab),
    ]);
    (train, vocab)
}

/// The `tiny` preset with dropout off, as `dir/tiny_no_dropout.json`: data-parallel
/// parity tests need it, as a half-batch draws other dropout masks than a whole one.
pub fn tiny_no_dropout(dir: &Path) -> PathBuf {
    let mut config = dapt::model::BertConfig::preset("tiny", 10).unwrap();
    config.hidden_dropout_prob = 0.0;
    config.attention_probs_dropout_prob = 0.0;
    let path = dir.join("tiny_no_dropout.json");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

/// `mpirun` for tests: oversubscribed (more ranks than cores), root allowed, one
/// thread per rank.
pub fn mpirun() -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args([
        "--oversubscribe",
        "--allow-run-as-root",
        "-x",
        "RAYON_NUM_THREADS=1",
    ]);
    cmd
}

/// The pid of rank `rank` of a running `mpirun` job of dapt whose command line names
/// `out`, found through /proc (Open MPI puts the rank in each process's environment).
pub fn mpi_rank_pid(out: &Path, rank: u32) -> u32 {
    let rank_of = |pid: u32| -> Option<u32> {
        let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        env.split(|&b| b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok())
            .find_map(|kv| kv.strip_prefix("OMPI_COMM_WORLD_RANK="))
            .and_then(|r| r.parse().ok())
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmd).contains(arg(out)) && rank_of(pid) == Some(rank)
        })
        .unwrap_or_else(|| panic!("rank {rank}'s process"))
}

/// Run the `dapt` binary with `args` on two MPI processes; fail the test, with both
/// outputs, unless it succeeds.
pub fn mpirun_two_ok<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) {
    let out = mpirun()
        .args(["-np", "2", env!("CARGO_BIN_EXE_dapt")])
        .args(args)
        .output()
        .expect("mpirun on the PATH (apt-get install openmpi-bin)");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shipped MRPC sample split in `dir`: its first 300 pairs (`labelled.tsv`), its last
/// 100 (`unlabelled.tsv`, labels kept), and both with the last 100 stripped of their
/// labels (`mixed.tsv`).
pub struct MrpcSplit {
    pub labelled: PathBuf,
    pub unlabelled: PathBuf,
    pub mixed: PathBuf,
}

/// Write [`MrpcSplit`]'s files into `dir`.
pub fn mrpc_split(dir: &Path) -> MrpcSplit {
    let all = lines(&root().join("corpora/mrpc_sample.tsv"));
    assert_eq!(all.len(), 400);
    let write = |name: &str, rows: &[String]| {
        let path = dir.join(name);
        std::fs::write(&path, rows.join("\n") + "\n").unwrap();
        path
    };
    let stripped = all[300..]
        .iter()
        .map(|l| l.splitn(3, '\t').take(2).collect::<Vec<_>>().join("\t"));
    let mixed: Vec<String> = all[..300].iter().cloned().chain(stripped).collect();
    MrpcSplit {
        labelled: write("labelled.tsv", &all[..300]),
        unlabelled: write("unlabelled.tsv", &all[300..]),
        mixed: write("mixed.tsv", &mixed),
    }
}
