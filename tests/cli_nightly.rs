//! The nightly path on the OPPO sample split into two "days": `--corpus` globs and
//! dirs, text corpora cached away from a read-only input, `dapt encode --append`, and
//! `dapt pretrain --continue-from` (same and grown vocabulary), with the bad inputs each
//! refuses before writing anything.

mod common;

use std::path::{Path, PathBuf};

use candle_core::Device;
use common::{arg, dapt, dapt_ok, encode, pretrain_tiny_args as pretrain, root, stderr};

/// The OPPO sample's first and second halves as `day1.tsv` and `day2.tsv` in `dir`.
fn days(dir: &Path) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(root().join("corpora/oppo_sample.tsv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (a, b) = lines.split_at(lines.len() / 2);
    let (d1, d2) = (dir.join("day1.tsv"), dir.join("day2.tsv"));
    std::fs::write(&d1, a.join("\n") + "\n").unwrap();
    std::fs::write(&d2, b.join("\n") + "\n").unwrap();
    (d1, d2)
}

fn vocab(input: &Path, min_count: &str, out: &Path) -> PathBuf {
    dapt_ok(&[
        "vocab",
        "--input",
        arg(input),
        "--min-count",
        min_count,
        "--out",
        arg(out),
    ]);
    out.to_path_buf()
}

/// "N training / M held-out documents" as logged by pretrain.
fn doc_counts(log: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.contains("held-out documents"))
        .unwrap_or_else(|| panic!("no document counts in:\n{log}"));
    let start = line.find("pretrain: ").unwrap() + "pretrain: ".len();
    line[start..line.find(" held-out").unwrap()].to_string()
}

/// The document counts a one-step run on `corpus` into `out` logs.
fn docs_read(corpus: &[&str], vocab: &Path, out: &Path) -> String {
    let run = dapt_ok(&pretrain(corpus, vocab, out, &["--max-steps", "1"]));
    doc_counts(&stderr(&run))
}

/// A refused run: exit 2, a message containing `needle`, and `out` never created.
fn refused(args: &[&str], out: &Path, needle: &str) {
    let run = dapt(args);
    assert_eq!(run.status.code(), Some(2), "{args:?}: {}", stderr(&run));
    assert!(
        stderr(&run).contains(needle),
        "expected {needle:?} in:\n{}",
        stderr(&run)
    );
    assert!(
        !out.exists(),
        "{} was written by a refused run",
        out.display()
    );
}

#[test]
fn corpus_globs_dirs_and_files_read_the_same_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let (d1, d2) = days(tmp.path());
    let v = vocab(&d1, "2", &tmp.path().join("vocab"));
    let shards = tmp.path().join("shards");
    std::fs::create_dir(&shards).unwrap();
    encode(&v, &d1, &shards.join("day1.shard"));
    encode(&v, &d2, &shards.join("day2.shard"));
    std::fs::write(shards.join("notes.txt"), "not a shard\n").unwrap();

    let one = |corpus: &[&str], name: &str| docs_read(corpus, &v, &tmp.path().join(name));
    let files = one(
        &[
            arg(&shards.join("day1.shard")),
            arg(&shards.join("day2.shard")),
        ],
        "files",
    );
    let glob = format!("{}/day*.shard", shards.display());
    assert_eq!(one(&[&glob], "glob"), files);
    assert_eq!(one(&[arg(&shards)], "dir"), files);
    let only_day1 = one(&[arg(&shards.join("day1.shard"))], "day1");
    assert_ne!(only_day1, files, "the second shard was not read");

    // A glob matching nothing, a missing file, and a shard of another vocabulary among
    // good ones: exit 2 before anything is written.
    let out = tmp.path().join("refused");
    let nothing = format!("{}/day9*.shard", shards.display());
    refused(
        &pretrain(&[&nothing], &v, &out, &[]),
        &out,
        "matches no file",
    );
    let missing = shards.join("day3.shard");
    refused(
        &pretrain(&[arg(&missing)], &v, &out, &[]),
        &out,
        "no such file",
    );
    let other = vocab(&d2, "1", &tmp.path().join("vocab-other"));
    let stranger = tmp.path().join("stranger");
    std::fs::create_dir(&stranger).unwrap();
    encode(&other, &d2, &stranger.join("day2.shard"));
    refused(
        &pretrain(&[arg(&shards), arg(&stranger)], &v, &out, &[]),
        &out,
        "day2.shard",
    );
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn text_corpora_are_cached_in_the_cache_dir_never_beside_a_read_only_input() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    std::fs::create_dir(&input).unwrap();
    let (d1, _) = days(&input);
    std::fs::remove_file(input.join("day2.tsv")).unwrap();
    let v = vocab(&d1, "2", &tmp.path().join("vocab"));
    std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o555)).unwrap();
    let cache = tmp.path().join("cache");
    let run = |name: &str| {
        let out = tmp.path().join(name);
        let extra = ["--max-steps", "1", "--cache-dir", arg(&cache)];
        stderr(&dapt_ok(&pretrain(&[arg(&d1)], &v, &out, &extra)))
    };
    let first = run("first");
    assert!(first.contains("encoding"), "{first}");
    // (root ignores the mode bits, so the listing is what shows nothing was written.)
    assert_eq!(listing(&input), ["day1.tsv"]);
    let cached = listing(&cache);
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].starts_with("day1.tsv.") && cached[0].ends_with(".shard"));
    let second = run("second");
    assert!(
        !second.contains("encoding"),
        "the cache was not reused:\n{second}"
    );
    assert_eq!(doc_counts(&first), doc_counts(&second));
    std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn encode_append_encodes_only_new_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (d1, d2) = days(tmp.path());
    let v = vocab(&d1, "2", &tmp.path().join("vocab"));
    let dir = tmp.path().join("shards");
    let append = |inputs: &[&Path]| {
        let mut args = vec![
            "encode",
            "--append",
            "--vocab",
            arg(&v),
            "--out",
            arg(&dir),
            "--input",
        ];
        args.extend(inputs.iter().map(|p| arg(p)));
        dapt(&args)
    };
    assert!(append(&[&d1]).status.success());
    assert_eq!(
        listing(&dir),
        [".dapt.lock", "encoded.json", "part-00000.shard"]
    );
    let night2 = append(&[&d1, &d2]);
    assert!(
        stderr(&night2).contains("1 of 2 inputs are new"),
        "{}",
        stderr(&night2)
    );
    let night3 = append(&[&d1, &d2]);
    assert!(
        stderr(&night3).contains("nothing to add"),
        "{}",
        stderr(&night3)
    );
    assert_eq!(
        listing(&dir),
        [
            ".dapt.lock",
            "encoded.json",
            "part-00000.shard",
            "part-00001.shard"
        ]
    );

    // The two parts hold what encoding both days at once holds.
    let both = tmp.path().join("both.shard");
    dapt_ok(&[
        "encode",
        "--vocab",
        arg(&v),
        "--input",
        arg(&d1),
        arg(&d2),
        "--out",
        arg(&both),
    ]);
    let parts = docs_read(&[arg(&dir)], &v, &tmp.path().join("run-parts"));
    let whole = docs_read(&[arg(&both)], &v, &tmp.path().join("run-whole"));
    assert_eq!(parts, whole);

    // A stamped input whose bytes changed is refused: its old text is in a shard already.
    std::fs::write(&d1, "1 2 3\t4 5\n").unwrap();
    let changed = append(&[&d1, &d2]);
    assert_eq!(changed.status.code(), Some(2), "{}", stderr(&changed));
    assert!(stderr(&changed).contains("changed since it was encoded"));
    assert_eq!(listing(&dir).len(), 4);
}

/// The value of scalar-per-parameter tensor `name` in an optimizer state file.
fn state_tensor(ckpt: &Path, name: &str) -> candle_core::Tensor {
    let mut t =
        candle_core::safetensors::load(ckpt.join("optimizer.safetensors"), &Device::Cpu).unwrap();
    t.remove(name)
        .unwrap_or_else(|| panic!("no {name} in {}", ckpt.display()))
}

const EMB: &str = "bert.embeddings.word_embeddings.weight";

#[test]
fn continue_from_keeps_the_step_counter_and_aligns_a_grown_vocabulary() {
    let tmp = tempfile::tempdir().unwrap();
    let (d1, d2) = days(tmp.path());
    let v1 = vocab(&d1, "2", &tmp.path().join("vocab1"));
    let night1 = tmp.path().join("night1");
    let look = [
        "--optimizer",
        "lookahead",
        "--lookahead-k",
        "2",
        "--schedule",
        "cosine",
    ];
    let mut extra = vec!["--max-steps", "4", "--save-every", "2"];
    extra.extend_from_slice(&look);
    dapt_ok(&pretrain(&[arg(&d1)], &v1, &night1, &extra));

    // Same vocabulary: the counter goes on from 4 to 4 + 3, AdamW's bias correction
    // with it (its per-parameter step is 7, not 3).
    let night2 = tmp.path().join("night2");
    let mut extra = vec!["--max-steps", "3", "--continue-from", arg(&night1)];
    extra.extend_from_slice(&look);
    let log = stderr(&dapt_ok(&pretrain(
        &[arg(&d1), arg(&d2)],
        &v1,
        &night2,
        &extra,
    )));
    assert!(log.contains("from step 4"), "{log}");
    assert_eq!(common::latest_step(&night2), 7);
    let ckpt = night2.join("step-00000007");
    let step = state_tensor(&ckpt, &format!("adamw.step.{EMB}"));
    assert_eq!(
        step.to_dtype(candle_core::DType::F64)
            .unwrap()
            .to_vec0::<f64>()
            .unwrap(),
        7.0
    );

    // A grown vocabulary (both days' words): aligned rows, optimizer rows resized.
    let v2 = tmp.path().join("vocab2");
    dapt_ok(&[
        "vocab",
        "--input",
        arg(&d1),
        arg(&d2),
        "--min-count",
        "1",
        "--out",
        arg(&v2),
    ]);
    let night3 = tmp.path().join("night3");
    let log = stderr(&dapt_ok(&pretrain(&[arg(&d2)], &v2, &night3, &extra)));
    assert!(log.contains("the vocabulary grew"), "{log}");
    // Day 1's words keep their rows: every one copied by identity, not by frequency rank.
    let old_size = common::lines(&v1.join("vocab.txt")).len();
    let copied = format!(
        "--align-embeddings shared): embedding rows special 5, shared {}",
        old_size - 5
    );
    assert!(log.contains(&copied), "{log}");
    let size = common::lines(&v2.join("vocab.txt")).len();
    let ckpt = night3.join("step-00000007");
    for key in [
        format!("adamw.exp_avg.{EMB}"),
        format!("lookahead.slow.{EMB}"),
    ] {
        assert_eq!(state_tensor(&ckpt, &key).dims()[0], size, "{key}");
    }

    // Incompatible with night 1: another optimizer, another objective, another
    // architecture (an input embedding night 1 lacks), no checkpoint.
    let out = tmp.path().join("refused");
    let cont = ["--max-steps", "3", "--continue-from", arg(&night1)];
    refused(&pretrain(&[arg(&d1)], &v1, &out, &cont), &out, "lookahead");
    let mut rtd = cont.to_vec();
    rtd.extend_from_slice(&look);
    rtd.extend_from_slice(&["--objective", "rtd"]);
    refused(
        &pretrain(&[arg(&d1)], &v1, &out, &rtd),
        &out,
        "--objective rtd",
    );
    let mut grown = cont.to_vec();
    grown.extend_from_slice(&look);
    grown.push("--match-embedding");
    refused(
        &pretrain(&[arg(&d1)], &v1, &out, &grown),
        &out,
        "match_embeddings",
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let none = ["--continue-from", arg(&empty)];
    refused(
        &pretrain(&[arg(&d1)], &v1, &out, &none),
        &out,
        "no checkpoint there",
    );
}
