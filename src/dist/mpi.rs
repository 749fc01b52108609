//! The MPI backend (cargo feature `mpi`): the world communicator of the system's MPI
//! library (Open MPI or MPICH) through the `mpi` crate. Started without a launcher, MPI
//! initialises as a singleton: world size 1.
//!
//! MPI collectives have no timeout: a rank waiting for one that died waits forever (and
//! a launcher's SIGTERM only asks dapt to stop, which it does through one more
//! collective). A watchdog thread therefore ends the process when a collective call
//! has not returned within the timeout, naming the call.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};

use super::Collective;

/// The collective in progress and when it started, watched by the watchdog.
type InFlight = Arc<Mutex<Option<(&'static str, Instant)>>>;

/// This process's place in `MPI_COMM_WORLD`. MPI is finalised when it is dropped.
pub struct Mpi {
    in_flight: InFlight,
    world: SimpleCommunicator,
    // Declared after `world`: the universe (MPI_Finalize on drop) goes last.
    _universe: Universe,
}

impl Mpi {
    /// Initialise MPI (once per process); a collective call that takes longer than
    /// `timeout` ends the process with exit code 1.
    pub fn init(timeout: Duration) -> Result<Self> {
        let universe = mpi::initialize()
            .context("MPI was already initialised in this process (dapt connects once per run)")?;
        let world = universe.world();
        let in_flight: InFlight = Arc::default();
        let watched = in_flight.clone();
        let rank = world.rank();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500).min(timeout));
            if let Some((what, since)) = *watched.lock().expect("watchdog lock") {
                if since.elapsed() > timeout {
                    eprintln!(
                        "error (rank {rank}): MPI {what} did not complete in {:.0} s: another rank died or hangs; stopping this one (raise --dist-timeout if a step or a checkpoint can take that long)",
                        timeout.as_secs_f64()
                    );
                    // Not `exit`: its atexit handlers include MPI's, which wait for the
                    // very peers that are gone.
                    // SAFETY: `_exit` ends the process at once and touches no Rust state.
                    unsafe { libc::_exit(1) };
                }
            }
        });
        Ok(Self {
            in_flight,
            world,
            _universe: universe,
        })
    }

    /// Run collective `what` under the watchdog.
    fn watched<T>(&self, what: &'static str, call: impl FnOnce() -> T) -> T {
        *self.in_flight.lock().expect("watchdog lock") = Some((what, Instant::now()));
        let out = call();
        *self.in_flight.lock().expect("watchdog lock") = None;
        out
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn world_size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<()> {
        // MPI_IN_PLACE is not exposed by the crate: reduce from a copy.
        let send = buf.to_vec();
        self.watched("all-reduce", || {
            self.world
                .all_reduce_into(&send[..], buf, SystemOperation::sum())
        });
        Ok(())
    }

    fn broadcast(&self, buf: &mut [u8], root: usize) -> Result<()> {
        anyhow::ensure!(
            root < self.world_size(),
            "broadcast from rank {root} in a group of {}",
            self.world_size()
        );
        self.watched("broadcast", || {
            self.world.process_at_rank(root as i32).broadcast_into(buf)
        });
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        self.watched("barrier", || self.world.barrier());
        Ok(())
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
