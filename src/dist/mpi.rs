//! The MPI backend (cargo feature `mpi`): the world communicator of the system's MPI
//! library (Open MPI or MPICH) through the `mpi` crate. Started without a launcher, MPI
//! initialises as a singleton: world size 1.

use anyhow::{Context, Result};
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};

use super::Collective;

/// This process's place in `MPI_COMM_WORLD`. MPI is finalised when it is dropped.
pub struct Mpi {
    world: SimpleCommunicator,
    // Declared after `world`: the universe (MPI_Finalize on drop) goes last.
    _universe: Universe,
}

impl Mpi {
    /// Initialise MPI (once per process).
    pub fn init() -> Result<Self> {
        let universe = mpi::initialize()
            .context("MPI was already initialised in this process (dapt connects once per run)")?;
        Ok(Self {
            world: universe.world(),
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
        self.world
            .all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }

    fn broadcast(&self, buf: &mut [u8], root: usize) -> Result<()> {
        anyhow::ensure!(
            root < self.world_size(),
            "broadcast from rank {root} in a group of {}",
            self.world_size()
        );
        self.world.process_at_rank(root as i32).broadcast_into(buf);
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        self.world.barrier();
        Ok(())
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
