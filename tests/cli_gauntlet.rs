//! Every subcommand against a table of hostile inputs: for each, exit code 2, a message
//! naming the file, no output left behind, and a quick answer. CRLF line ends and a
//! UTF-8 byte-order mark are accepted and read as the clean file is.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{arg, dapt, dapt_ok, fresh_dir, root, stderr};

/// An answer slower than this is a hang, not an error message.
const QUICK: Duration = Duration::from_secs(10);

/// A hostile text input: its file name and bytes (None: a directory or a symlink loop).
fn text_inputs(dir: &Path) -> Vec<PathBuf> {
    let clean = std::fs::read(root().join("corpora/lcqmc_desens_train.tsv")).unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("empty.tsv", Vec::new()),
        (
            "garbage.tsv",
            (0..4000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
        // UTF-16 with its BOM, as Windows Notepad saves "Unicode".
        ("utf16.tsv", {
            let mut b = vec![0xff, 0xfe];
            b.extend("1 2\t3 4\t1\n".encode_utf16().flat_map(|u| u.to_le_bytes()));
            b
        }),
        ("one-column.tsv", b"1 2 3\n4 5 6\n".to_vec()),
        ("five-columns.tsv", b"1 2\t3 4\t1\t7\t8\n".to_vec()),
        ("nul.tsv", b"1 2\t3\x004\t1\n".to_vec()),
        ("huge-line.tsv", {
            let mut b = b"1 ".repeat(700_000);
            b.extend_from_slice(b"\t2 3\t1\n");
            b
        }),
        // The sample cut in the middle of a 3-byte character.
        ("truncated-utf8.tsv", {
            let mut b = clean[..2000].to_vec();
            b.extend_from_slice(&"中".as_bytes()[..2]);
            b
        }),
    ];
    let mut out = Vec::new();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
        out.push(dir.join(name));
    }
    std::fs::create_dir(dir.join("a-directory.tsv")).unwrap();
    out.push(dir.join("a-directory.tsv"));
    std::os::unix::fs::symlink(dir.join("loop-b.tsv"), dir.join("loop-a.tsv")).unwrap();
    std::os::unix::fs::symlink(dir.join("loop-a.tsv"), dir.join("loop-b.tsv")).unwrap();
    out.push(dir.join("loop-a.tsv"));
    out.push(dir.join("missing.tsv"));
    out
}

/// Run `args`, expect a refusal naming `bad`, and `out` not written.
fn refused(args: &[&str], bad: &Path, out: &Path) {
    let start = Instant::now();
    let run = dapt(args);
    let took = start.elapsed();
    let err = stderr(&run);
    let name = bad.file_name().unwrap().to_string_lossy();
    assert_eq!(run.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(&*name),
        "{args:?}: the message does not name {name}: {err}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(!out.exists(), "{args:?} left {} behind", out.display());
    assert!(took < QUICK, "{args:?} took {took:?}");
}

#[test]
fn every_subcommand_refuses_hostile_inputs() {
    let dir = fresh_dir("cli_gauntlet");
    let (train, vocab) = common::lcqmc_sample(&dir, 300);
    let ft = dir.join("ft");
    common::finetune_tiny(&train, &vocab, "2", &ft, &[]);
    let out = dir.join("out");
    let cache = dir.join("cache");
    let bad_dir = dir.join("bad");
    std::fs::create_dir(&bad_dir).unwrap();
    for bad in text_inputs(&bad_dir) {
        let b = arg(&bad);
        let o = arg(&out);
        let (v, m, t, c) = (arg(&vocab), arg(&ft), arg(&train), arg(&cache));
        let tiny = ["--model-config", "tiny", "--max-steps", "1"];
        let runs: Vec<Vec<&str>> = vec![
            vec!["vocab", "--input", b, "--out", o],
            vec!["encode", "--vocab", v, "--input", b, "--out", o],
            [
                &[
                    "pretrain",
                    "--corpus",
                    b,
                    "--vocab",
                    v,
                    "--cache-dir",
                    c,
                    "--out",
                    o,
                ][..],
                &tiny,
            ]
            .concat(),
            vec![
                "finetune",
                "--train",
                b,
                "--vocab",
                v,
                "--model-config",
                "tiny",
                "--out",
                o,
            ],
            vec![
                "finetune",
                "--train",
                t,
                "--vocab",
                v,
                "--soft-labels",
                b,
                "--out",
                o,
            ],
            vec![
                "distill",
                "--teacher",
                m,
                "--train",
                b,
                "--vocab",
                v,
                "--out",
                o,
            ],
            vec!["predict", "--model", m, "--input", b, "--out", o],
            vec!["eval", "--model", m, "--input", b],
            vec!["pipeline", "--config", b],
            vec!["vocab", "--config", b, "--input", t, "--out", o],
            vec!["inspect", b],
            vec!["report", b, "--out", o],
        ];
        for args in runs {
            // An empty file is a valid TOML config without keys: the flags given rule.
            if args[1] == "--config" && args[0] != "pipeline" && b.ends_with("empty.tsv") {
                continue;
            }
            refused(&args, &bad, &out);
        }
    }
}

#[test]
fn hostile_vocabularies_shards_and_checkpoints_are_refused() {
    let dir = fresh_dir("cli_gauntlet_files");
    let (train, vocab) = common::lcqmc_sample(&dir, 300);
    let shard = dir.join("train.shard");
    common::encode(&vocab, &train, &shard);
    let ft = dir.join("ft");
    common::finetune_tiny(&train, &vocab, "2", &ft, &[]);
    let out = dir.join("out");
    let copy = |from: &Path, name: &str| {
        let to = dir.join(name);
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(from)
            .arg(&to)
            .status();
        assert!(status.unwrap().success());
        to
    };

    // Vocabularies: garbage, empty and NUL-holding vocab.txt.
    for (name, bytes) in [
        (
            "vocab-garbage",
            (0..3000u32)
                .map(|i| (i * 7919 % 251) as u8)
                .collect::<Vec<u8>>(),
        ),
        ("vocab-empty", Vec::new()),
        ("vocab-nul", b"[PAD]\n[UNK]\x00\n".to_vec()),
    ] {
        let bad = copy(&vocab, name);
        std::fs::write(bad.join("vocab.txt"), bytes).unwrap();
        let args = [
            "encode",
            "--vocab",
            arg(&bad),
            "--input",
            arg(&train),
            "--out",
            arg(&out),
        ];
        refused(&args, &bad, &out);
    }

    // Shards: truncated, and a text file renamed .shard.
    let bytes = std::fs::read(&shard).unwrap();
    let truncated = dir.join("truncated.shard");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let renamed = dir.join("text.shard");
    std::fs::copy(&train, &renamed).unwrap();
    for bad in [&truncated, &renamed] {
        let args = pretrain_args(bad, &vocab, &out);
        refused(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            bad,
            &out,
        );
        refused(&["inspect", arg(bad)], bad, &out);
    }
    // One flipped bit in a token id: the shard opens (its bounds are intact), but
    // `inspect --verify` and training name the shard and the block that fails its
    // checksum. (Training stops at its first batch, its --out already made.)
    let mut flipped = bytes.clone();
    flipped[128] ^= 0x01;
    let bitflip = dir.join("bitflip.shard");
    std::fs::write(&bitflip, &flipped).unwrap();
    refused(&["inspect", "--verify", arg(&bitflip)], &bitflip, &out);
    let run = dapt(
        &pretrain_args(&bitflip, &vocab, &dir.join("bitflip-run"))
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("bitflip.shard: block 0 (documents 0.."),
        "{}",
        stderr(&run)
    );
    let ok = dapt_ok(&["inspect", "--verify", arg(&shard)]);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("blocks match their checksums"));

    // Checkpoints: a truncated model.safetensors, a garbage config.json.
    let best = ft.join("fold-0/best");
    let cut = copy(&best, "ckpt-truncated");
    let weights = std::fs::read(cut.join("model.safetensors")).unwrap();
    std::fs::write(cut.join("model.safetensors"), &weights[..weights.len() / 3]).unwrap();
    let garbled = copy(&best, "ckpt-config");
    std::fs::write(garbled.join("config.json"), "{\"hidden_size\": \"wide\"").unwrap();
    for bad in [&cut, &garbled] {
        let args = [
            "predict",
            "--model",
            arg(bad),
            "--input",
            arg(&train),
            "--out",
            arg(&out),
        ];
        refused(&args, bad, &out);
        let args = [
            "finetune",
            "--train",
            arg(&train),
            "--init",
            arg(bad),
            "--out",
            arg(&out),
        ];
        refused(&args, bad, &out);
    }
}

fn pretrain_args(corpus: &Path, vocab: &Path, out: &Path) -> Vec<String> {
    common::pretrain_tiny_args(&[arg(corpus)], vocab, out, &["--max-steps", "1"])
        .into_iter()
        .map(String::from)
        .collect()
}

#[test]
fn crlf_and_a_byte_order_mark_read_as_the_clean_file() {
    let dir = fresh_dir("cli_gauntlet_crlf");
    let text = std::fs::read_to_string(root().join("corpora/lcqmc_desens_train.tsv")).unwrap();
    let clean: String = text.lines().take(300).map(|l| format!("{l}\n")).collect();
    let variants = [
        ("clean.tsv", clean.clone()),
        ("crlf.tsv", clean.replace('\n', "\r\n")),
        ("bom.tsv", format!("\u{feff}{clean}")),
    ];
    let mut vocabs = Vec::new();
    let mut evals = Vec::new();
    for (name, body) in variants {
        let file = dir.join(name);
        std::fs::write(&file, body).unwrap();
        let v = dir.join(format!("vocab-{name}"));
        dapt_ok(&[
            "vocab",
            "--input",
            arg(&file),
            "--min-count",
            "2",
            "--out",
            arg(&v),
        ]);
        vocabs.push(std::fs::read(v.join("vocab.txt")).unwrap());
        evals.push(file);
    }
    assert_eq!(vocabs[0], vocabs[1], "CRLF changed the vocabulary");
    assert_eq!(vocabs[0], vocabs[2], "a BOM changed the vocabulary");
    // Pair readers (finetune, predict, eval) see the same pairs and labels.
    let ft = dir.join("ft");
    common::finetune_tiny(&evals[0], &dir.join("vocab-clean.tsv"), "2", &ft, &[]);
    let scores: Vec<String> = evals
        .iter()
        .map(|f| {
            String::from_utf8(dapt_ok(&["eval", "--model", arg(&ft), "--input", arg(f)]).stdout)
                .unwrap()
        })
        .collect();
    assert_eq!(scores[0], scores[1]);
    assert_eq!(scores[0], scores[2]);
}
