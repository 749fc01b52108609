//! The NCCL backend (cargo feature `nccl`, with `cuda`): one process per GPU, launched as
//! torchrun users launch DDP (`torchrun --nproc-per-node 8 --no-python dapt ...`), or by
//! `mpirun`/`srun`. Rank 0 makes the communicator's unique id and hands it to the other
//! ranks over TCP ([`super::launch::share`]); each rank drives the GPU of its local rank.
//!
//! The [`Collective`] interface reduces host buffers, so each call copies its buffer to
//! the GPU and back: simple, and a cost the scaling model in the README counts.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use cudarc::driver::{CudaContext, CudaStream};
use cudarc::nccl::safe::{Comm, Id, ReduceOp};

use super::launch::{rendezvous_address, share, Launch};
use super::watchdog::Watchdog;
use super::Collective;

/// Bytes of NCCL's unique id.
const ID_LEN: usize = 128;

/// This process's NCCL communicator over all ranks of the launch.
pub struct Nccl {
    comm: Comm,
    stream: Arc<CudaStream>,
    watchdog: Watchdog,
}

impl Nccl {
    /// Join the launch's communicator on the GPU of this process's local rank; a
    /// collective call that takes longer than `timeout` ends the process.
    pub fn init(timeout: Duration) -> Result<Self> {
        let Some(launch) = Launch::from_env()? else {
            crate::bad_input!(
                "--dist nccl: not started by a launcher (no RANK and WORLD_SIZE, as torchrun sets, nor mpirun's or srun's variables): launch with `torchrun --nproc-per-node N --no-python dapt ...`"
            );
        };
        let context = CudaContext::new(launch.local_rank).with_context(|| {
            format!(
                "rank {}: opening GPU {} (its local rank)",
                launch.rank, launch.local_rank
            )
        })?;
        let stream = context.default_stream();
        let id = match launch.rank {
            0 => Some(Id::new().map_err(|e| anyhow!("NCCL: making the unique id: {e:?}"))?),
            _ => None,
        };
        let mine: Option<Vec<u8>> = id
            .as_ref()
            .map(|id| id.internal().iter().map(|&c| c as u8).collect());
        let bytes = share(
            &launch,
            &rendezvous_address()?,
            mine.as_deref(),
            ID_LEN,
            timeout,
        )?;
        let mut internal = [0 as std::ffi::c_char; ID_LEN];
        for (c, b) in internal.iter_mut().zip(bytes) {
            *c = b as std::ffi::c_char;
        }
        let watchdog = Watchdog::start("NCCL", launch.rank, timeout);
        let comm = watchdog
            .watch("init", || {
                Comm::from_rank(
                    stream.clone(),
                    launch.rank,
                    launch.world_size,
                    Id::uninit(internal),
                )
            })
            .map_err(|e| {
                anyhow!(
                    "NCCL: joining the communicator as rank {}: {e:?}",
                    launch.rank
                )
            })?;
        Ok(Self {
            comm,
            stream,
            watchdog,
        })
    }
}

impl Collective for Nccl {
    fn rank(&self) -> usize {
        self.comm.rank()
    }

    fn world_size(&self) -> usize {
        self.comm.world_size()
    }

    fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<()> {
        self.watchdog.watch("all-reduce", || -> Result<()> {
            let mut d = self.stream.clone_htod(&*buf)?;
            self.comm
                .all_reduce_in_place(&mut d, &ReduceOp::Sum)
                .map_err(|e| anyhow!("NCCL all-reduce: {e:?}"))?;
            self.stream.memcpy_dtoh(&d, buf)?;
            Ok(self.stream.synchronize()?)
        })
    }

    fn broadcast(&self, buf: &mut [u8], root: usize) -> Result<()> {
        anyhow::ensure!(
            root < self.world_size(),
            "broadcast from rank {root} in a group of {}",
            self.world_size()
        );
        self.watchdog.watch("broadcast", || -> Result<()> {
            let mut d = self.stream.clone_htod(&*buf)?;
            self.comm
                .broadcast_in_place(&mut d, root as i32)
                .map_err(|e| anyhow!("NCCL broadcast: {e:?}"))?;
            self.stream.memcpy_dtoh(&d, buf)?;
            Ok(self.stream.synchronize()?)
        })
    }

    fn barrier(&self) -> Result<()> {
        // NCCL has no barrier: an all-reduce of one value waits for every rank as well.
        self.all_reduce_sum(&mut [0.0])
    }

    fn abort(&self, code: i32) -> ! {
        // The launcher ends the other ranks when one exits with an error.
        // SAFETY: `_exit` ends the process at once and touches no Rust state.
        unsafe { libc::_exit(code) }
    }
}
