//! Progress and log output: the only place below `commands/` that writes to the terminal.
//!
//! On a terminal, an indicatif bar; otherwise (cron, CI, `| tee`), a plain line every
//! few seconds, so logs stay readable.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain log line is written when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Whether this process prints nothing (see [`set_quiet`]).
static QUIET: AtomicBool = AtomicBool::new(false);

/// Silence this process's progress and info lines: the ranks of a data-parallel run
/// other than rank 0, which would print the same lines again.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A progress reporter over a known total (bytes, steps, ...).
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    bytes: bool,
    plain: Mutex<(Instant, u64)>,
    message: Mutex<String>,
    start: Instant,
}

impl Progress {
    /// Progress over `total` bytes of input.
    pub fn bytes(label: &str, total: u64) -> Progress {
        Self::new(label, total, true)
    }

    /// Progress over `total` items (steps, documents).
    pub fn items(label: &str, total: u64) -> Progress {
        Self::new(label, total, false)
    }

    fn new(label: &str, total: u64, bytes: bool) -> Progress {
        let bar = (std::io::stderr().is_terminal() && !quiet()).then(|| {
            let template = if bytes {
                "{msg} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
            } else {
                "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta}"
            };
            let bar = ProgressBar::new(total);
            bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
            bar.set_message(label.to_string());
            bar
        });
        Progress {
            bar,
            label: label.to_string(),
            total,
            bytes,
            plain: Mutex::new((Instant::now(), 0)),
            message: Mutex::new(String::new()),
            start: Instant::now(),
        }
    }

    /// Advance by `n`.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
            return;
        }
        let mut state = self.plain.lock().expect("progress lock");
        state.1 += n;
        if state.0.elapsed() >= LOG_EVERY && !quiet() {
            state.0 = Instant::now();
            let pct = 100.0 * state.1 as f64 / self.total.max(1) as f64;
            let unit = if self.bytes { " bytes" } else { "" };
            let msg = self.message.lock().expect("progress lock");
            eprintln!(
                "{}: {}/{}{unit} ({pct:.1}%) {msg}",
                self.label, state.1, self.total
            );
        }
    }

    /// Show `msg` (e.g. `loss 2.31 lr 1e-4 1520 tok/s`) next to the bar, or in the next
    /// plain log line.
    pub fn set_message(&self, msg: String) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{} {msg}", self.label)),
            None => *self.message.lock().expect("progress lock") = msg,
        }
    }

    /// Start counting from `pos` (a resumed run).
    pub fn set_position(&self, pos: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(pos),
            None => self.plain.lock().expect("progress lock").1 = pos,
        }
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Remove the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Print an informational line (summary, warnings) to stderr.
pub fn info(msg: impl std::fmt::Display) {
    if !quiet() {
        eprintln!("{msg}");
    }
}
