//! Saving and restoring optimizer state: N steps, save, restore in a fresh process, N more
//! steps must give parameters bit-identical to 2N steps straight (CPU). The fresh process is
//! this test binary again, running the ignored `resume_helper` test with environment
//! variables saying which half to run.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use candle_core::{Device, Tensor, Var};
use dapt::optim::{
    clip_grad_norm, load_state, save_state, AdamW, AdamWConfig, GradAccumulator, Lookahead,
    LookaheadConfig, Optimizer, Restarts, Schedule,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Steps per half; not a multiple of lookahead_k, so the save falls mid-cycle.
const N: u64 = 7;
const SHAPES: [(&str, &[usize]); 4] = [
    ("bert.encoder.layer.0.attention.self.query.weight", &[16, 8]),
    ("bert.encoder.layer.0.attention.self.query.bias", &[16]),
    ("bert.encoder.layer.0.output.LayerNorm.weight", &[16]),
    ("classifier.weight", &[2, 16]),
];

fn randn(rng: &mut ChaCha8Rng, shape: &[usize], scale: f32) -> Tensor {
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| (rng.random::<f32>() - 0.5) * scale)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn init_params() -> Vec<(String, Var)> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    SHAPES
        .iter()
        .map(|(n, s)| {
            (
                n.to_string(),
                Var::from_tensor(&randn(&mut rng, s, 1.0)).unwrap(),
            )
        })
        .collect()
}

fn optimizer(params: &[(String, Var)]) -> Lookahead<AdamW> {
    let adamw = AdamW::new(params.to_vec(), AdamWConfig::default()).unwrap();
    Lookahead::new(adamw, LookaheadConfig::default()).unwrap()
}

fn schedule() -> Schedule {
    let r = Restarts {
        first_cycle_ratio: 0.3,
        cycle_mult: 2,
        gamma: 0.8,
        min_lr: 1e-4,
    };
    Schedule::cosine_restarts(1e-2, 3, 2 * N, r).unwrap()
}

/// The training loop of a later issue in miniature: 2 micro-batches of a real loss (so the
/// gradients depend on the parameters), accumulate, clip, schedule, step.
fn train(params: &[(String, Var)], opt: &mut impl Optimizer, sched: &Schedule, from: u64, to: u64) {
    let p = |i: usize| params[i].1.as_tensor();
    for step in from..to {
        let mut acc = GradAccumulator::new(params);
        for micro in 0..2 {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 * step + micro);
            let x = randn(&mut rng, &[4, 8], 2.0);
            let y = randn(&mut rng, &[4, 2], 2.0);
            let h = x
                .matmul(&p(0).t().unwrap())
                .unwrap()
                .broadcast_add(p(1))
                .unwrap();
            let h = h.tanh().unwrap().broadcast_mul(p(2)).unwrap();
            let out = h.matmul(&p(3).t().unwrap()).unwrap();
            let loss = (out - y).unwrap().sqr().unwrap().mean_all().unwrap();
            acc.add(&loss.backward().unwrap()).unwrap();
        }
        let mut grads = acc.take_mean().unwrap();
        clip_grad_norm(&mut grads, params, 0.5).unwrap();
        opt.step(&grads, sched.lr(step)).unwrap();
    }
}

fn bits(params: &[(String, Var)]) -> Vec<Vec<u32>> {
    params
        .iter()
        .map(|(_, v)| {
            let x: Vec<f32> = v.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            x.iter().map(|f| f.to_bits()).collect()
        })
        .collect()
}

fn save_params(params: &[(String, Var)], path: &Path) {
    let map: HashMap<String, Tensor> = params
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&map, path).unwrap();
}

fn load_params(params: &[(String, Var)], path: &Path) {
    let map = candle_core::safetensors::load(path, &Device::Cpu).unwrap();
    for (n, v) in params {
        v.set(&map[n]).unwrap();
    }
}

fn run_half(phase: &str, dir: &Path) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "resume_helper", "--nocapture"])
        .env("DAPT_RESUME_PHASE", phase)
        .env("DAPT_RESUME_DIR", dir)
        .status()
        .unwrap();
    assert!(status.success(), "{phase} half failed");
}

/// One half of the resumed run, in its own process (driven by `resume_is_bit_identical`).
#[test]
#[ignore = "helper run by resume_is_bit_identical_in_a_fresh_process"]
fn resume_helper() {
    // Run by hand (`cargo test -- --ignored`) it has nothing to do.
    let Ok(dir) = std::env::var("DAPT_RESUME_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let params = init_params();
    match std::env::var("DAPT_RESUME_PHASE").unwrap().as_str() {
        "first" => {
            let mut opt = optimizer(&params);
            let sched = schedule();
            train(&params, &mut opt, &sched, 0, N);
            save_params(&params, &dir.join("model.safetensors"));
            save_state(&dir.join(dapt::optim::STATE_FILE), &opt, &sched, N).unwrap();
        }
        "second" => {
            load_params(&params, &dir.join("model.safetensors"));
            let mut opt = optimizer(&params);
            let resume = load_state(&dir.join(dapt::optim::STATE_FILE), &mut opt).unwrap();
            assert_eq!(resume.step, N);
            assert_eq!(resume.schedule, schedule());
            train(&params, &mut opt, &resume.schedule, resume.step, 2 * N);
            save_params(&params, &dir.join("final.safetensors"));
        }
        other => panic!("unknown phase {other}"),
    }
}

#[test]
fn resume_is_bit_identical_in_a_fresh_process() {
    let straight = init_params();
    let mut opt = optimizer(&straight);
    train(&straight, &mut opt, &schedule(), 0, 2 * N);

    let dir = tempfile::tempdir().unwrap();
    run_half("first", dir.path());
    run_half("second", dir.path());
    let resumed = init_params();
    load_params(&resumed, &dir.path().join("final.safetensors"));
    assert_eq!(
        bits(&resumed),
        bits(&straight),
        "resumed run differs from the straight run"
    );
}

#[test]
fn without_the_state_the_resumed_run_differs() {
    // The control for the test above: restarting the optimizer fresh at step N must change
    // the result, or bit-identity would prove nothing.
    let straight = init_params();
    let mut opt = optimizer(&straight);
    train(&straight, &mut opt, &schedule(), 0, 2 * N);

    let params = init_params();
    let mut opt = optimizer(&params);
    train(&params, &mut opt, &schedule(), 0, N);
    let mut fresh = optimizer(&params);
    train(&params, &mut fresh, &schedule(), N, 2 * N);
    assert_ne!(bits(&params), bits(&straight));
}

#[test]
fn state_holds_moments_steps_and_slow_weights_by_name() {
    let params = init_params();
    let mut opt = optimizer(&params);
    train(&params, &mut opt, &schedule(), 0, 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(dapt::optim::STATE_FILE);
    save_state(&path, &opt, &schedule(), 3).unwrap();
    let saved = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    for (n, _) in SHAPES {
        for key in [
            "adamw.exp_avg",
            "adamw.exp_avg_sq",
            "adamw.step",
            "lookahead.slow",
        ] {
            assert!(saved.contains_key(&format!("{key}.{n}")), "no {key}.{n}");
        }
        let step = saved[&format!("adamw.step.{n}")]
            .to_scalar::<i64>()
            .unwrap();
        assert_eq!(step, 3);
    }
    assert_eq!(saved["lookahead.steps"].to_scalar::<i64>().unwrap(), 3);
    assert_eq!(saved.len(), 4 * SHAPES.len() + 1);
}

#[test]
fn mismatched_state_is_refused_as_bad_input() {
    let params = init_params();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(dapt::optim::STATE_FILE);
    let mut la = optimizer(&params);
    train(&params, &mut la, &schedule(), 0, 2);
    save_state(&path, &la, &schedule(), 2).unwrap();

    // Written by Lookahead(AdamW), read by plain AdamW.
    let mut plain = AdamW::new(params.clone(), AdamWConfig::default()).unwrap();
    let e = load_state(&path, &mut plain).unwrap_err();
    assert_eq!(dapt::error::exit_code(&e), 2, "{e:#}");

    // A model without one of the saved parameters.
    let fewer = params[..3].to_vec();
    let mut other = Lookahead::new(
        AdamW::new(fewer, AdamWConfig::default()).unwrap(),
        LookaheadConfig::default(),
    )
    .unwrap();
    let e = load_state(&path, &mut other).unwrap_err();
    assert_eq!(dapt::error::exit_code(&e), 2, "{e:#}");
    assert!(format!("{e:#}").contains("classifier.weight"), "{e:#}");

    // A truncated file.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_state(&path, &mut la).unwrap_err();
    assert_eq!(dapt::error::exit_code(&e), 2, "{e:#}");
}
