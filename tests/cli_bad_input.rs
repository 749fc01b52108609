//! Bad input: each case exits with code 2, names the file, line and field, and leaves
//! nothing under the output name.

mod common;

use std::path::Path;

use common::{arg, dapt, stderr};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

/// Run `dapt vocab` on `content`; assert exit code 2, that stderr contains every needle,
/// and that no output (nor temporary) is left behind.
fn vocab_fails(content: &[u8], extra: &[&str], needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let input = write(tmp.path(), "bad.tsv", content);
    let out_dir = tmp.path().join("out");
    let mut args = vec!["vocab", "--input", &input, "--out", arg(&out_dir)];
    args.extend(extra);
    let out = dapt(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("bad.tsv")],
        "left behind: {left:?}"
    );
}

#[test]
fn missing_column() {
    vocab_fails(
        b"1 2\t3 4\n5 6\n",
        &[],
        &["bad.tsv:2:", "found 1", "--format lines"],
    );
}

#[test]
fn labels_mixing_ids_and_names() {
    // A name among class ids is a typo: finetune refuses it before reading anything else
    // (vocab and encode take any label column: they do not read labels).
    let tmp = tempfile::tempdir().unwrap();
    let input = write(tmp.path(), "bad.tsv", b"1 2\t3 4\t1\n1 2\t3 4\tyes\n");
    let out_dir = tmp.path().join("out");
    let args = [
        "finetune",
        "--train",
        &input,
        "--vocab",
        "no-such-vocab",
        "--out",
    ];
    let out = dapt(&[&args[..], &[arg(&out_dir)]].concat());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for n in [
        "bad.tsv:2:",
        "field 3 (label)",
        "\"yes\"",
        "mixes class ids",
    ] {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
    assert!(!out_dir.exists());
}

#[test]
fn invalid_utf8_names_line_and_byte_offset() {
    vocab_fails(
        b"1 2\t3 4\n5 \xff\t6\n",
        &[],
        &["bad.tsv:2:", "invalid UTF-8", "byte offset 10"],
    );
}

#[test]
fn empty_corpus() {
    vocab_fails(b"\n  \n", &[], &["empty corpus"]);
}

#[test]
fn unreadable_path() {
    let out = dapt(&[
        "vocab",
        "--input",
        "/nonexistent/corpus.tsv",
        "--out",
        "/tmp/never-written",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/corpus.tsv: cannot open"),
        "{}",
        stderr(&out)
    );
    assert!(!Path::new("/tmp/never-written").exists());
}

#[test]
fn vocab_dir_without_vocab_txt() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write(tmp.path(), "ok.tsv", b"1 2\t3 4\n");
    let shard = tmp.path().join("s.shard");
    let out = dapt(&[
        "encode",
        "--vocab",
        arg(tmp.path()),
        "--input",
        &input,
        "--out",
        arg(&shard),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("vocab.txt"), "{}", stderr(&out));
    assert!(!shard.exists());
}

#[test]
fn skip_bad_lines_reports_how_many() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write(
        tmp.path(),
        "mixed.tsv",
        b"1 2\t3 4\n5 6\n7\t8\t1\tx\n9\t10\n",
    );
    let out_dir = tmp.path().join("v");
    let out = dapt(&[
        "vocab",
        "--input",
        &input,
        "--skip-bad-lines",
        "--out",
        arg(&out_dir),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("4 lines (2 skipped)"),
        "{}",
        stderr(&out)
    );
    // Only the two good lines were counted: 1 2 3 4 9 10.
    assert_eq!(
        std::fs::read_to_string(out_dir.join("counts.tsv"))
            .unwrap()
            .lines()
            .count(),
        6
    );
}

#[test]
fn failed_encode_leaves_no_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let good = write(tmp.path(), "good.tsv", b"1 2\t3 4\n");
    let bad = write(tmp.path(), "bad.tsv", b"1 2\t3 4\n5\n");
    let vocab = tmp.path().join("v");
    assert!(dapt(&["vocab", "--input", &good, "--out", arg(&vocab)])
        .status
        .success());
    let shard = tmp.path().join("s.shard");
    let out = dapt(&[
        "encode",
        "--vocab",
        arg(&vocab),
        "--input",
        &good,
        &bad,
        "--out",
        arg(&shard),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.tsv:2:"), "{}", stderr(&out));
    let mut left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["bad.tsv", "good.tsv", "v"].map(std::ffi::OsString::from)
    );
}
