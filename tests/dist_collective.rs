//! The collective backends. Without the `mpi` (`nccl`) feature: `--dist mpi` (`nccl`) is
//! refused with how to rebuild, and `auto` is one process. With it (`cargo test --features mpi`,
//! Open MPI's `mpirun` on the PATH): the test binary re-runs itself as two ranks under
//! `mpirun -np 2`, and each rank checks all-reduce, broadcast, gather and barrier against
//! hand-computed values; started without a launcher, MPI is one process.

use dapt::dist::{connect, Backend};

/// Collectives that hang longer end the process (the MPI watchdog).
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

#[test]
fn auto_without_a_launcher_is_one_process() {
    if dapt::dist::under_launcher() {
        return;
    }
    let c = connect(Backend::Auto, TIMEOUT).unwrap();
    assert_eq!((c.rank(), c.world_size()), (0, 1));
    let mut buf = [1.5f32, -2.0];
    c.all_reduce_sum(&mut buf).unwrap();
    assert_eq!(buf, [1.5, -2.0]);
}

#[cfg(not(feature = "mpi"))]
#[test]
fn mpi_is_refused_with_how_to_rebuild_when_not_compiled_in() {
    let e = connect(Backend::Mpi, TIMEOUT)
        .err()
        .expect("no MPI in this build");
    let msg = format!("{e:#}");
    assert!(msg.contains("--features mpi"), "{msg}");
    assert!(
        e.downcast_ref::<dapt::error::InputError>().is_some(),
        "exit code 2: {msg}"
    );
}

#[cfg(not(feature = "nccl"))]
#[test]
fn nccl_is_refused_with_how_to_rebuild_when_not_compiled_in() {
    let e = connect(Backend::Nccl, TIMEOUT)
        .err()
        .expect("no NCCL in this build");
    let msg = format!("{e:#}");
    assert!(msg.contains("--features nccl"), "{msg}");
    assert!(
        e.downcast_ref::<dapt::error::InputError>().is_some(),
        "exit code 2: {msg}"
    );
}

#[cfg(feature = "mpi")]
mod mpi {
    use std::process::Command;

    use dapt::dist::{connect, Backend};

    use super::TIMEOUT;

    /// Run test `name` of this binary (an ignored one) under `launcher`, or alone.
    fn run_self(launcher: &[&str], name: &str) -> std::process::Output {
        let exe = std::env::current_exe().unwrap();
        let (program, args) = match launcher.split_first() {
            Some((p, rest)) => (p.to_string(), rest.to_vec()),
            None => (exe.display().to_string(), vec![]),
        };
        let mut cmd = Command::new(program);
        cmd.args(args);
        if !launcher.is_empty() {
            cmd.arg(&exe);
        }
        cmd.args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .output()
        .expect("mpirun on the PATH (apt-get install openmpi-bin)")
    }

    #[test]
    fn two_ranks_all_reduce_broadcast_and_barrier() {
        let out = run_self(
            &[
                "mpirun",
                "-np",
                "2",
                "--oversubscribe",
                "--allow-run-as-root",
            ],
            "mpi::rank_body",
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("rank 0 of 2 ok") && stdout.contains("rank 1 of 2 ok"),
            "{stdout}"
        );
    }

    #[test]
    #[ignore = "one rank of two_ranks_all_reduce_broadcast_and_barrier, under mpirun"]
    fn rank_body() {
        let c = connect(Backend::Mpi, TIMEOUT).unwrap();
        assert_eq!(c.world_size(), 2);
        let r = c.rank() as f32;
        // Rank 0 holds [1, 10, 0, 0.25], rank 1 [2, 20, -1, 0.5].
        let mut buf = [r + 1.0, 10.0 * (r + 1.0), -r, 0.25 * (r + 1.0)];
        c.all_reduce_sum(&mut buf).unwrap();
        assert_eq!(buf, [3.0, 30.0, -1.0, 0.75]);
        let mut bytes = if c.rank() == 1 {
            *b"from one"
        } else {
            [0u8; 8]
        };
        c.broadcast(&mut bytes, 1).unwrap();
        assert_eq!(&bytes, b"from one");
        // Rank 0 holds 2 values, rank 1 holds 3: both end with all 5, in rank order.
        let mine: Vec<f64> = match c.rank() {
            0 => vec![0.1, 0.2],
            _ => vec![1.1, 1.2, 1.3],
        };
        let all = dapt::dist::gather(c.as_ref(), &mine, &[2, 3]).unwrap();
        assert_eq!(all, [0.1, 0.2, 1.1, 1.2, 1.3]);
        c.barrier().unwrap();
        println!("rank {} of {} ok", c.rank(), c.world_size());
    }

    #[test]
    fn two_ranks_reduce_gradients_in_buckets_and_broadcast_parameters() {
        let out = run_self(
            &[
                "mpirun",
                "-np",
                "2",
                "--oversubscribe",
                "--allow-run-as-root",
            ],
            "mpi::grads_body",
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("grads rank 0 ok") && stdout.contains("grads rank 1 ok"),
            "{stdout}"
        );
    }

    #[test]
    #[ignore = "one rank of two_ranks_reduce_gradients_in_buckets_and_broadcast_parameters"]
    fn grads_body() {
        use candle_core::{Device, Tensor, Var};
        use dapt::dist::{all_reduce_grads, broadcast_params};
        let c = connect(Backend::Mpi, TIMEOUT).unwrap();
        let r = c.rank() as f32;
        let dev = Device::Cpu;
        let w = Var::new(&[r + 1.0; 3], &dev).unwrap();
        let b = Var::new(&[10.0 * (r + 1.0); 2], &dev).unwrap();
        let params = vec![("w".to_string(), w.clone()), ("b".to_string(), b.clone())];
        // Rank 0: loss 2 sum(w), no gradient for b; rank 1: 3 sum(w) + sum(b^2), whose
        // gradient for b is 2 b = 40.
        let loss = if c.rank() == 0 {
            (w.as_tensor() * 2.0).unwrap().sum_all().unwrap()
        } else {
            let wl = (w.as_tensor() * 3.0).unwrap().sum_all().unwrap();
            (wl + b.as_tensor().sqr().unwrap().sum_all().unwrap()).unwrap()
        };
        let mut grads = loss.backward().unwrap();
        let mut extra = [r + 1.0, 7.0];
        // Buckets of 3 elements: w alone, then b with the extras.
        all_reduce_grads(c.as_ref(), &params, &mut grads, &mut extra, 3).unwrap();
        let got = |t: &Tensor| grads.get(t).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(got(w.as_tensor()), [5.0; 3]);
        assert_eq!(got(b.as_tensor()), [40.0; 2]);
        assert_eq!(extra, [3.0, 14.0]);
        broadcast_params(c.as_ref(), &params).unwrap();
        assert_eq!(w.as_tensor().to_vec1::<f32>().unwrap(), [1.0; 3]);
        assert_eq!(b.as_tensor().to_vec1::<f32>().unwrap(), [10.0; 2]);
        println!("grads rank {} ok", c.rank());
    }

    #[test]
    fn without_a_launcher_mpi_is_one_process() {
        let out = run_self(&[], "mpi::singleton_body");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.contains("rank 0 of 1 ok"), "{stdout}");
    }

    #[test]
    #[ignore = "run alone by without_a_launcher_mpi_is_one_process"]
    fn singleton_body() {
        let c = connect(Backend::Mpi, TIMEOUT).unwrap();
        let mut buf = [4.0f32];
        c.all_reduce_sum(&mut buf).unwrap();
        assert_eq!(buf, [4.0]);
        println!("rank {} of {} ok", c.rank(), c.world_size());
    }
}
