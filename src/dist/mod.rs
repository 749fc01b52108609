//! Collective operations for data-parallel training across processes (issue #22): what
//! data parallelism needs from an engine (rank, world size, all-reduce of a flat buffer,
//! broadcast, barrier) behind one trait, [`Collective`], with one backend per engine:
//!
//! - [`Single`]: one process, world size 1, every operation the identity (the default
//!   build, and any run not started by a launcher);
//! - `Mpi` (cargo feature `mpi`): Open MPI or MPICH under `mpirun`/`srun`, over the
//!   system's MPI library through the `mpi` crate.
//!
//! [`broadcast_params`] and [`all_reduce_grads`] are what a training loop calls on it.
//! [`check_same`] makes sure every rank was given the same flags.
//! [`connect`] picks the backend for `--dist` and says clearly when the one asked for is
//! not compiled in.

mod grads;
#[cfg(feature = "mpi")]
mod mpi;
mod single;

use std::time::Duration;

use anyhow::Result;

#[cfg(feature = "mpi")]
pub use self::mpi::Mpi;
pub use grads::{all_reduce_grads, broadcast_params, BUCKET};
pub use single::Single;

/// The collective operations of one process in a group of `world_size()` processes.
/// Every rank must call the same operations in the same order with buffers of the same
/// length (the MPI contract); a rank that does not come blocks the others.
pub trait Collective {
    /// This process's rank, `0..world_size()`; rank 0 writes checkpoints and logs.
    fn rank(&self) -> usize;

    /// Number of processes.
    fn world_size(&self) -> usize;

    /// Replace `buf` on every rank by its element-wise sum over all ranks.
    fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<()>;

    /// Replace `buf` on every rank by rank `root`'s `buf`.
    fn broadcast(&self, buf: &mut [u8], root: usize) -> Result<()>;

    /// Return on every rank once all ranks have called it.
    fn barrier(&self) -> Result<()>;

    /// End every process of the group with exit code `code`: how a rank that failed
    /// stops the others instead of leaving them waiting in a collective.
    fn abort(&self, code: i32) -> !;

    /// Whether this is rank 0.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }
}

/// Which engine connects the processes (`--dist`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// MPI when this dapt was built with it and started by a launcher (`mpirun`, `srun`),
    /// else one process.
    #[default]
    Auto,
    /// One process.
    None,
    /// MPI (build with `--features mpi`).
    Mpi,
}

/// Environment variables MPI launchers set in every process they start (Open MPI,
/// MPICH/Hydra and Slurm's PMI): their presence means "started by a launcher".
const LAUNCHER_VARS: [&str; 4] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "PMIX_RANK",
    "SLURM_NTASKS",
];

/// Whether a launcher started this process.
pub fn under_launcher() -> bool {
    LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some())
}

/// Connect to the process group `backend` names; a collective call that has not
/// returned after `timeout` (a rank died or hangs) ends the process.
pub fn connect(backend: Backend, timeout: Duration) -> Result<Box<dyn Collective>> {
    match backend {
        Backend::None => Ok(Box::new(Single)),
        Backend::Auto if !cfg!(feature = "mpi") || !under_launcher() => Ok(Box::new(Single)),
        Backend::Auto | Backend::Mpi => mpi_backend(timeout),
    }
}

#[cfg(feature = "mpi")]
fn mpi_backend(timeout: Duration) -> Result<Box<dyn Collective>> {
    Ok(Box::new(Mpi::init(timeout)?))
}

#[cfg(not(feature = "mpi"))]
fn mpi_backend(_timeout: Duration) -> Result<Box<dyn Collective>> {
    crate::bad_input!(
        "--dist mpi: this dapt was built without MPI; rebuild with `cargo build --release --features mpi` (needs Open MPI or MPICH and libclang: apt-get install libopenmpi-dev openmpi-bin libclang-dev)"
    )
}

/// Refuse to go on unless every rank holds the same `what` (e.g. its flags): rank 0's
/// sha256 of it is broadcast and compared. Ranks launched with different command lines
/// or configs would otherwise train on different data or models, or wait forever in a
/// collective the others never call.
pub fn check_same(group: &dyn Collective, what: &str, name: &str) -> Result<()> {
    if group.world_size() == 1 {
        return Ok(());
    }
    let mine = crate::text::vocab::sha256_hex(what.as_bytes());
    let mut root = mine.clone().into_bytes();
    group.broadcast(&mut root, 0)?;
    if root != mine.as_bytes() {
        crate::bad_input!(
            "rank {} of {}: its {name} differ from rank 0's (sha256 {mine} vs {}): every process must get the same command line and config files",
            group.rank(),
            group.world_size(),
            String::from_utf8_lossy(&root)
        );
    }
    Ok(())
}
