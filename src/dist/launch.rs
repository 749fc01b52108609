//! Where this process stands in a launch, from the environment launchers set (torchrun,
//! Open MPI's `mpirun`, Slurm's `srun`), and the exchange of a few bytes from rank 0 to
//! every rank over TCP: how NCCL's ranks agree on their communicator's unique id, which
//! NCCL cannot send itself.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Rank, world size and local rank (the GPU index on its machine) of this process.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// Rank in `0..world_size`.
    pub rank: usize,
    /// Number of processes.
    pub world_size: usize,
    /// Rank among the processes of this machine.
    pub local_rank: usize,
}

/// `(rank, world size, local rank)` variables, per launcher.
const LAUNCHERS: [[&str; 3]; 3] = [
    ["RANK", "WORLD_SIZE", "LOCAL_RANK"],
    [
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_LOCAL_RANK",
    ],
    ["SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"],
];

impl Launch {
    /// This process's place, from the first launcher whose variables are set; `None`
    /// when none is (a process started by hand).
    pub fn from_env() -> Result<Option<Self>> {
        let get =
            |name: &str| -> Result<Option<usize>> {
                match std::env::var(name) {
                    Ok(v) => v.trim().parse().map(Some).with_context(|| {
                        format!("environment variable {name}={v:?} is not a number")
                    }),
                    Err(_) => Ok(None),
                }
            };
        for [rank, size, local] in LAUNCHERS {
            if let (Some(rank), Some(world_size)) = (get(rank)?, get(size)?) {
                anyhow::ensure!(
                    rank < world_size,
                    "rank {rank} is not below the world size {world_size} of the launcher's environment"
                );
                let local_rank = get(local)?.unwrap_or(0);
                return Ok(Some(Self {
                    rank,
                    world_size,
                    local_rank,
                }));
            }
        }
        Ok(None)
    }
}

/// The GPU index of this process for `--device cuda`: its local rank under a launcher,
/// else 0.
pub fn local_rank() -> usize {
    Launch::from_env()
        .ok()
        .flatten()
        .map_or(0, |l| l.local_rank)
}

/// Where rank 0 serves the rendezvous: `DAPT_RENDEZVOUS` (host:port), else torchrun's
/// `MASTER_ADDR` and the port after `MASTER_PORT` (torchrun's own store holds that one).
pub fn rendezvous_address() -> Result<String> {
    if let Ok(addr) = std::env::var("DAPT_RENDEZVOUS") {
        return Ok(addr);
    }
    match (std::env::var("MASTER_ADDR"), std::env::var("MASTER_PORT")) {
        (Ok(host), Ok(port)) => {
            let port: u16 = port
                .trim()
                .parse()
                .with_context(|| format!("MASTER_PORT={port:?} is not a port"))?;
            Ok(format!("{host}:{}", port.wrapping_add(1)))
        }
        _ => crate::bad_input!(
            "--dist nccl: no rendezvous address: set DAPT_RENDEZVOUS=host:port (a free port on rank 0's machine), or launch with torchrun, which sets MASTER_ADDR and MASTER_PORT"
        ),
    }
}

/// Rank 0's `payload`, on every rank of `launch`: rank 0 listens on `address` and sends
/// it to each of the other ranks, which connect (retrying until `timeout`) and read
/// `len` bytes.
pub fn share(
    launch: &Launch,
    address: &str,
    payload: Option<&[u8]>,
    len: usize,
    timeout: Duration,
) -> Result<Vec<u8>> {
    if launch.rank == 0 {
        let payload = payload.context("rank 0 shares a payload")?;
        anyhow::ensure!(
            payload.len() == len,
            "payload of {} bytes, not {len}",
            payload.len()
        );
        let port = address.rsplit(':').next().unwrap_or_default();
        let listener = TcpListener::bind(format!("0.0.0.0:{port}")).with_context(|| {
            format!("rank 0: listening on port {port} for the rendezvous ({address})")
        })?;
        for _ in 1..launch.world_size {
            let (mut peer, _) = listener.accept().context("rank 0: accepting a rank")?;
            peer.write_all(payload)
                .context("rank 0: sending the rendezvous payload")?;
        }
        return Ok(payload.to_vec());
    }
    let start = Instant::now();
    let mut stream = loop {
        match TcpStream::connect(address) {
            Ok(s) => break s,
            // Rank 0 may not listen yet.
            Err(_) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "rank {}: no rendezvous with rank 0 at {address} within {:.0} s",
                        launch.rank,
                        timeout.as_secs_f64()
                    )
                })
            }
        }
    };
    stream.set_read_timeout(Some(timeout))?;
    let mut got = vec![0u8; len];
    stream.read_exact(&mut got).with_context(|| {
        format!(
            "rank {}: reading the rendezvous payload from {address}",
            launch.rank
        )
    })?;
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::{share, Launch};
    use std::time::Duration;

    #[test]
    fn rank_0_payload_reaches_every_rank() {
        let address = {
            // A port free a moment ago.
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("127.0.0.1:{}", l.local_addr().unwrap().port())
        };
        let payload: Vec<u8> = (0..128u8).map(|b| b.wrapping_mul(7)).collect();
        let ranks: Vec<_> = (0..3)
            .map(|rank| {
                let (address, payload) = (address.clone(), payload.clone());
                std::thread::spawn(move || {
                    let launch = Launch {
                        rank,
                        world_size: 3,
                        local_rank: rank,
                    };
                    let mine = (rank == 0).then_some(&payload[..]);
                    share(&launch, &address, mine, 128, Duration::from_secs(20)).unwrap()
                })
            })
            .collect();
        for r in ranks {
            assert_eq!(r.join().unwrap(), payload);
        }
    }

    #[test]
    fn a_missing_rank_0_is_a_clear_error_after_the_timeout() {
        let launch = Launch {
            rank: 1,
            world_size: 2,
            local_rank: 1,
        };
        let address = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("127.0.0.1:{}", l.local_addr().unwrap().port())
        };
        let e = share(&launch, &address, None, 128, Duration::from_millis(500)).unwrap_err();
        assert!(
            format!("{e:#}").contains("no rendezvous with rank 0"),
            "{e:#}"
        );
    }
}
