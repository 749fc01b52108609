//! `dapt report` and `--tensorboard` on real runs: two tiny pretraining runs (token and
//! n-gram masking) and a 2-fold fine-tuning run on the desensitized LCQMC sample.
//!
//! The report page is rendered in headless Chromium (Debian's `chromium`): its DOM must
//! hold every chart and the fold table, its screenshot the charts' colours, and its
//! console no errors. TensorBoard's own `EventAccumulator` reads the event files back
//! (`tests/fixtures/tensorboard/check_events.py`). Without Chromium or the `tensorboard`
//! Python package these checks are skipped with a note, except under CI (`CI` set),
//! whose `.ci/run` installs both.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{arg, dapt_ok, fresh_dir, pretrain_tiny_args, root};

/// The runs, made once: (pretrain token, pretrain n-gram, finetune, dir).
fn runs() -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let dir = fresh_dir("cli_report");
    let (train, vocab) = common::lcqmc_sample(&dir, 400);
    let shard = dir.join("train.shard");
    common::encode(&vocab, &train, &shard);
    let mut pre = Vec::new();
    for mask in ["token", "ngram"] {
        let out = dir.join(format!("pretrain-{mask}"));
        let tb = dir.join(format!("tb-{mask}"));
        let flags = [
            "--mask",
            mask,
            "--max-steps",
            "12",
            "--eval-every",
            "4",
            "--log-every",
            "2",
            "--lr",
            "1e-3",
            "--tensorboard",
            arg(&tb),
        ];
        dapt_ok(&pretrain_tiny_args(&[arg(&shard)], &vocab, &out, &flags));
        // --log-every 2 over 12 steps: 6 training lines, for curves rather than dots.
        let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        assert_eq!(log.lines().filter(|l| l.contains("\"loss\"")).count(), 6);
        pre.push(out);
    }
    let ft = dir.join("finetune");
    let tb = dir.join("tb-finetune");
    let init = pre[1].to_str().unwrap().to_string();
    let extra = ["--eval-every", "3", "--tensorboard", arg(&tb)];
    let mut args = common::finetune_tiny_args(&train, &vocab, "2", &ft, &extra);
    // --init replaces --vocab/--model-config: the checkpoint brings both.
    let at = args.iter().position(|a| a == "--vocab").unwrap();
    args.drain(at..at + 4);
    args.extend(["--init".into(), init]);
    dapt_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    (pre[0].clone(), pre[1].clone(), ft, dir)
}

/// Whether a check that needs `what` must run: it is there, or CI demands it.
fn available(what: &str, present: bool) -> bool {
    if !present && std::env::var_os("CI").is_some() {
        panic!("{what} is missing on CI: .ci/run installs it");
    }
    if !present {
        eprintln!("note: {what} not installed; skipping its check");
    }
    present
}

fn chromium(page: &Path, extra: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium")
}

/// Pixels of `png` within 12 of colour `rgb` in each channel.
fn pixels_near(png: &Path, rgb: [u8; 3]) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| (0..3).all(|c| p[c].abs_diff(rgb[c]) <= 12))
        .count()
}

const CHARTS: [&str; 9] = [
    "pretrain-loss",
    "pretrain-eval-loss",
    "pretrain-accuracy",
    "pretrain-lr",
    "pretrain-grad-norm",
    "pretrain-throughput",
    "finetune-curves",
    "finetune-roc",
    "finetune-calibration",
];

#[test]
fn report_renders_in_chromium_and_tensorboard_reads_the_events() {
    let (token, ngram, ft, dir) = runs();
    let page = dir.join("report.html");
    dapt_ok(&[
        "report",
        arg(&token),
        arg(&ngram),
        arg(&ft),
        "--out",
        arg(&page),
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing fetched, no scripts (the SVG namespace is a name, not a fetch).
    for needle in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(needle), "the page holds {needle}");
    }
    for id in CHARTS {
        assert!(
            html.contains(&format!("data-chart=\"{id}\"")),
            "no {id} chart"
        );
    }
    assert!(
        html.contains("Out-of-fold ROC (AUC 0."),
        "no AUC in the ROC title"
    );

    let present = Command::new("chromium").arg("--version").output().is_ok();
    if available("chromium", present) {
        let dom = chromium(&page, &["--dump-dom"]);
        let text = String::from_utf8_lossy(&dom.stdout);
        assert_eq!(
            text.matches("<svg").count(),
            CHARTS.len(),
            "charts in the rendered DOM"
        );
        // Two folds, mean, std and out-of-fold rows under the header; then the two
        // classes' rows, and the confusion matrix's header and two rows.
        let table = |class: &str| {
            let start = text.find(&format!("<table class=\"{class}\">")).unwrap();
            let end = start + text[start..].find("</table>").unwrap();
            text[start..end].matches("<tr>").count()
        };
        assert_eq!(table("folds"), 6, "rows of the fold table");
        assert_eq!(table("classes"), 3, "rows of the per-class table");
        assert_eq!(table("confusion"), 3, "rows of the confusion matrix");
        let log = String::from_utf8_lossy(&dom.stderr);
        for bad in ["CONSOLE", "Uncaught", "Refused to"] {
            assert!(!log.contains(bad), "console message {bad}: {log}");
        }
        let shot = dir.join("report.png");
        let out = chromium(
            &page,
            &[
                "--window-size=1280,2400",
                &format!("--screenshot={}", shot.display()),
            ],
        );
        assert!(
            shot.exists(),
            "no screenshot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The first two runs' colours (blue, orange) are drawn, not just the page.
        assert!(
            pixels_near(&shot, [31, 119, 180]) > 500,
            "no blue lines in the screenshot"
        );
        assert!(
            pixels_near(&shot, [255, 127, 14]) > 500,
            "no orange lines in the screenshot"
        );
    }

    let check = root().join("tests/fixtures/tensorboard/check_events.py");
    let present = Command::new("python3")
        .args(["-c", "import tensorboard"])
        .status()
        .is_ok_and(|s| s.success());
    if available("the tensorboard Python package", present) {
        for (tb, run) in [
            ("tb-token", &token),
            ("tb-ngram", &ngram),
            ("tb-finetune", &ft),
        ] {
            let out = Command::new("python3")
                .arg(&check)
                .arg(dir.join(tb))
                .arg(run.join("metrics.jsonl"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{tb}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn report_refuses_a_dir_that_is_not_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::dapt(&[
        "report",
        arg(tmp.path()),
        "--out",
        arg(&tmp.path().join("r.html")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("no metrics.jsonl"));
    assert!(!tmp.path().join("r.html").exists());
}
