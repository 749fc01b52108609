//! Collective operations for data-parallel training across processes (issue #22): what
//! data parallelism needs from an engine (rank, world size, all-reduce of a flat buffer,
//! broadcast, barrier) behind one trait, [`Collective`], with one backend per engine:
//!
//! - [`Single`]: one process, world size 1, every operation the identity (the default
//!   build, and any run not started by a launcher);
//! - `Mpi` (cargo feature `mpi`): Open MPI or MPICH under `mpirun`/`srun`, over the
//!   system's MPI library through the `mpi` crate;
//! - `Nccl` (cargo feature `nccl`, with `cuda`): one process per GPU under torchrun,
//!   `mpirun` or `srun`, through cudarc's NCCL bindings.
//!
//! [`broadcast_params`] and [`all_reduce_grads`] are what a training loop calls on it,
//! [`gather`] collects what the ranks computed on their slices (validation scores).
//! [`check_same`] makes sure every rank was given the same flags.
//! [`DistArgs`] are the `--dist` flags of `pretrain` and `finetune`; [`DistArgs::run`]
//! connects the process group and runs a command's work in it.

mod gather;
mod grads;
pub mod launch;
#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "nccl")]
mod nccl;
mod single;
#[cfg(any(feature = "mpi", feature = "nccl"))]
mod watchdog;

use std::time::Duration;

use anyhow::Result;
use clap::Args;

#[cfg(feature = "mpi")]
pub use self::mpi::Mpi;
#[cfg(feature = "nccl")]
pub use self::nccl::Nccl;
pub use gather::{gather, slice_of};
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
    /// MPI when this dapt was built with it and started by an MPI launcher (`mpirun`,
    /// `srun`), else NCCL when built with it and started by torchrun, else one process.
    #[default]
    Auto,
    /// One process.
    None,
    /// MPI (build with `--features mpi`).
    Mpi,
    /// NCCL, one process per GPU (build with `--features nccl`).
    Nccl,
}

/// The data-parallel flags of `dapt pretrain` and `dapt finetune`.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct DistArgs {
    /// Data-parallel training: auto (MPI when this dapt was built with --features mpi and
    /// started by mpirun or srun; NCCL when built with --features nccl and started by
    /// torchrun; else one process), none, mpi or nccl. Over N processes every optimizer step trains on N x --batch-size examples, --batch-size per
    /// process, with the loss curve and weights of one process at N x --batch-size;
    /// rank 0 writes the checkpoints and logs
    #[arg(long, value_enum, default_value = "auto")]
    pub dist: Backend,
    /// Seconds a data-parallel process waits in one collective call (gradient all-reduce,
    /// broadcast) before it concludes another rank died and exits: the job ends instead
    /// of hanging. Cover the longest step, evaluation or checkpoint save
    #[arg(long, default_value_t = 600.0, value_name = "SECS")]
    pub dist_timeout: f64,
}

impl DistArgs {
    /// Connect to the process group and run `work` as one of its ranks: ranks other than
    /// 0 print nothing, and a rank whose work fails ends every rank (exit code as for
    /// one process) rather than leave them waiting for it in a collective.
    pub fn run<T>(&self, work: impl FnOnce(&dyn Collective) -> Result<T>) -> Result<T> {
        if !(self.dist_timeout > 0.0 && self.dist_timeout.is_finite()) {
            crate::bad_input!(
                "--dist-timeout {} must be a positive number of seconds",
                self.dist_timeout
            );
        }
        let group = connect(self.dist, Duration::from_secs_f64(self.dist_timeout))?;
        crate::progress::set_quiet(!group.is_root());
        match work(group.as_ref()) {
            Err(err) if group.world_size() > 1 => {
                eprintln!(
                    "error (rank {} of {}): {err:#}",
                    group.rank(),
                    group.world_size()
                );
                group.abort(crate::error::exit_code(&err))
            }
            result => result,
        }
    }
}

/// Refuse `flag` in a group of more than one process: its semantics under data
/// parallelism are not defined yet.
pub fn refuse_in_group(group: &dyn Collective, flag: &str, why: &str) -> Result<()> {
    if group.world_size() > 1 {
        crate::bad_input!(
            "{flag} is not supported with {} processes yet ({why}); run it in one process (--dist none)",
            group.world_size()
        );
    }
    Ok(())
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
    let torchrun = std::env::var_os("TORCHELASTIC_RUN_ID").is_some();
    match backend {
        Backend::None => Ok(Box::new(Single)),
        Backend::Auto if cfg!(feature = "mpi") && under_launcher() => mpi_backend(timeout),
        Backend::Auto if cfg!(feature = "nccl") && torchrun => nccl_backend(timeout),
        Backend::Auto => Ok(Box::new(Single)),
        Backend::Mpi => mpi_backend(timeout),
        Backend::Nccl => nccl_backend(timeout),
    }
}

#[cfg(feature = "nccl")]
fn nccl_backend(timeout: Duration) -> Result<Box<dyn Collective>> {
    Ok(Box::new(Nccl::init(timeout)?))
}

#[cfg(not(feature = "nccl"))]
fn nccl_backend(_timeout: Duration) -> Result<Box<dyn Collective>> {
    crate::bad_input!(
        "--dist nccl: this dapt was built without NCCL; rebuild with `cargo build --release --features nccl` (CUDA; NCCL's libnccl.so.2 is loaded at run time)"
    )
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
