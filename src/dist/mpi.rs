//! The MPI backend (cargo feature `mpi`): the world communicator of the system's MPI
//! library (Open MPI or MPICH) through the `mpi` crate. Started without a launcher, MPI
//! initialises as a singleton: world size 1.
//!
//! Collectives run under a [`Watchdog`]: MPI's have no timeout, and a launcher's SIGTERM
//! only asks dapt to stop, which it does through one more collective.

use std::time::Duration;

use anyhow::{Context, Result};
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};

use super::watchdog::Watchdog;
use super::Collective;

/// This process's place in `MPI_COMM_WORLD`. MPI is finalised when it is dropped.
pub struct Mpi {
    watchdog: Watchdog,
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
        let watchdog = Watchdog::start("MPI", world.rank() as usize, timeout);
        Ok(Self {
            watchdog,
            world,
            _universe: universe,
        })
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
        self.watchdog.watch("all-reduce", || {
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
        self.watchdog.watch("broadcast", || {
            self.world.process_at_rank(root as i32).broadcast_into(buf)
        });
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        self.watchdog.watch("barrier", || self.world.barrier());
        Ok(())
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
