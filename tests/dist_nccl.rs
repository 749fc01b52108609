//! The NCCL backend on one GPU, world size 1 (NCCL refuses two ranks on one GPU): the
//! collectives go through NCCL and must hand back what went in. Needs a GPU and the
//! launcher's variables, so it is ignored here; `bench/gpu/check.sh` runs it on the
//! device machine with RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 DAPT_RENDEZVOUS=127.0.0.1:PORT.
#![cfg(feature = "nccl")]

use dapt::dist::{connect, gather, Backend};

#[test]
#[ignore = "needs a GPU and RANK/WORLD_SIZE: bench/gpu/check.sh runs it"]
fn nccl_collectives_on_one_gpu() {
    let c = connect(Backend::Nccl, std::time::Duration::from_secs(60)).unwrap();
    assert_eq!((c.rank(), c.world_size()), (0, 1));
    let mut buf = [1.5f32, -2.0, 3.25];
    c.all_reduce_sum(&mut buf).unwrap();
    assert_eq!(buf, [1.5, -2.0, 3.25]);
    // A bucket's worth: 25 MB of f32.
    let mut big: Vec<f32> = (0..dapt::dist::BUCKET).map(|i| i as f32 * 0.5).collect();
    c.all_reduce_sum(&mut big).unwrap();
    assert!(big.iter().enumerate().all(|(i, &v)| v == i as f32 * 0.5));
    let mut bytes = *b"nccl bytes";
    c.broadcast(&mut bytes, 0).unwrap();
    assert_eq!(&bytes, b"nccl bytes");
    assert_eq!(gather(c.as_ref(), &[0.25, 0.5], &[2]).unwrap(), [0.25, 0.5]);
    c.barrier().unwrap();
    println!("nccl on one GPU ok");
}
