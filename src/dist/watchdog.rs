//! Collectives have no timeout of their own: a rank waiting for one that died or stalls
//! waits forever (MPI), or until a library default far longer than a step (NCCL). A
//! watchdog thread ends the process when a collective call has not returned within the
//! timeout, naming the call; the launcher then ends the other ranks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The collective in progress and when it started, shared with the watchdog thread.
#[derive(Clone)]
pub struct Watchdog {
    in_flight: Arc<Mutex<Option<(&'static str, Instant)>>>,
}

impl Watchdog {
    /// Start watching the collectives of rank `rank` of `engine` (MPI, NCCL): one that
    /// takes longer than `timeout` ends the process with exit code 1.
    pub fn start(engine: &'static str, rank: usize, timeout: Duration) -> Self {
        let dog = Self {
            in_flight: Arc::default(),
        };
        let watched = dog.in_flight.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500).min(timeout));
            if let Some((what, since)) = *watched.lock().expect("watchdog lock") {
                if since.elapsed() > timeout {
                    eprintln!(
                        "error (rank {rank}): {engine} {what} did not complete in {:.0} s: another rank died or hangs; stopping this one (raise --dist-timeout if a step or a checkpoint can take that long)",
                        timeout.as_secs_f64()
                    );
                    // Not `exit`: its atexit handlers include the library's, which may
                    // wait for the very peers that are gone.
                    // SAFETY: `_exit` ends the process at once and touches no Rust state.
                    unsafe { libc::_exit(1) };
                }
            }
        });
        dog
    }

    /// Run collective `what` under the watchdog.
    pub fn watch<T>(&self, what: &'static str, call: impl FnOnce() -> T) -> T {
        *self.in_flight.lock().expect("watchdog lock") = Some((what, Instant::now()));
        let out = call();
        *self.in_flight.lock().expect("watchdog lock") = None;
        out
    }
}
