//! Seeded dropout: same seed gives the same mask, the rate and the scaling are right.

use candle_core::{Device, Tensor};
use dapt::model::dropout::dropout;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn same_seed_same_mask_and_expected_rate() {
    let x = Tensor::ones((64, 128), candle_core::DType::F32, &Device::Cpu).unwrap();
    let a = dropout(&x, 0.25, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    let b = dropout(&x, 0.25, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    let c = dropout(&x, 0.25, &mut ChaCha8Rng::seed_from_u64(8)).unwrap();
    let (a, b, c): (Vec<f32>, Vec<f32>, Vec<f32>) = (
        a.flatten_all().unwrap().to_vec1().unwrap(),
        b.flatten_all().unwrap().to_vec1().unwrap(),
        c.flatten_all().unwrap().to_vec1().unwrap(),
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    let zeros = a.iter().filter(|&&v| v == 0.0).count() as f64 / a.len() as f64;
    assert!((zeros - 0.25).abs() < 0.02, "drop rate {zeros}");
    assert!(a.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
}
