//! dapt's AdamW, Lookahead and clipping against PyTorch, from the committed fixtures made by
//! tests/fixtures/optim/gen_fixtures.py (torch.optim.AdamW; an explicit no-bias-correction
//! AdamW; a Lookahead wrapper; torch.nn.utils.clip_grad_norm_).

mod optim_common;

use candle_core::DType;
use dapt::optim::{clip_grad_norm, AdamW, AdamWConfig, Lookahead, LookaheadConfig, Optimizer};
use optim_common::{grads_at, init_params, rel_errors, Fixture};
use serde_json::Value;

/// The bar: 1e-6 relative (per tensor: max abs difference / max abs reference).
const TOL: f64 = 1e-6;

fn adamw_config(c: &Value) -> AdamWConfig {
    AdamWConfig {
        betas: (
            c["betas"][0].as_f64().unwrap(),
            c["betas"][1].as_f64().unwrap(),
        ),
        eps: c["eps"].as_f64().unwrap(),
        weight_decay: c["weight_decay"].as_f64().unwrap(),
        correct_bias: c["correct_bias"].as_bool().unwrap(),
    }
}

/// Run one fixture configuration for 50 steps and return the worst per-tensor relative error
/// over the checkpoints.
fn run_config(f: &Fixture, c: &Value, cpu_kernel: bool) -> f64 {
    let id = c["id"].as_str().unwrap();
    let params = init_params(f);
    let adamw = AdamW::new(params.clone(), adamw_config(c))
        .unwrap()
        .with_cpu_kernel(cpu_kernel);
    let mut opt: Box<dyn Optimizer> = match c.get("lookahead_k") {
        Some(k) => {
            let la = LookaheadConfig {
                lookahead_k: k.as_u64().unwrap(),
                lookahead_alpha: c["lookahead_alpha"].as_f64().unwrap(),
            };
            Box::new(
                Lookahead::new(adamw, la)
                    .unwrap()
                    .with_cpu_kernel(cpu_kernel)
                    .unwrap(),
            )
        }
        None => Box::new(adamw),
    };
    let lrs: Vec<f64> = f.get("lrs").to_vec1().unwrap();
    let checkpoints: Vec<usize> = serde_json::from_value(f.json("checkpoints")).unwrap();
    let mut worst = (0.0f64, 0.0f64);
    for (s, &lr) in lrs.iter().enumerate() {
        opt.step(&grads_at(f, &params, s), lr).unwrap();
        if checkpoints.contains(&(s + 1)) {
            for (n, v) in &params {
                let want = f.get(&format!("{id}.step{}.{n}", s + 1));
                let (rel, elem) = rel_errors(v.as_tensor(), want);
                assert!(
                    rel <= TOL,
                    "{id} (cpu_kernel {cpu_kernel}) step {}: {n} differs from torch by {rel:e}",
                    s + 1
                );
                worst = (worst.0.max(rel), worst.1.max(elem));
            }
        }
    }
    println!(
        "{id:>14} cpu_kernel={cpu_kernel:<5}  per-tensor rel {:.2e}  elementwise rel {:.2e}",
        worst.0, worst.1
    );
    worst.0
}

fn configs(f: &Fixture) -> Vec<Value> {
    f.json("configs").as_array().unwrap().clone()
}

#[test]
fn adamw_matches_torch_for_both_bias_corrections_with_and_without_decay() {
    let f = Fixture::load("adamw.safetensors");
    let cs: Vec<Value> = configs(&f)
        .into_iter()
        .filter(|c| c.get("lookahead_k").is_none())
        .collect();
    assert_eq!(cs.len(), 4);
    for c in &cs {
        run_config(&f, c, true);
        run_config(&f, c, false);
    }
}

#[test]
fn lookahead_matches_the_reference() {
    let f = Fixture::load("adamw.safetensors");
    let cs: Vec<Value> = configs(&f)
        .into_iter()
        .filter(|c| c.get("lookahead_k").is_some())
        .collect();
    assert_eq!(cs.len(), 2);
    for c in &cs {
        run_config(&f, c, true);
        run_config(&f, c, false);
    }
}

/// The fixtures must tell the configurations apart, or matching them proves little.
#[test]
fn fixture_configurations_differ_measurably() {
    let f = Fixture::load("adamw.safetensors");
    let w = "bert.encoder.layer.0.attention.self.query.weight";
    let at = |id: &str| f.get(&format!("{id}.step50.{w}")).clone();
    for (a, b) in [
        ("bias_nowd", "nobias_nowd"),
        ("bias_nowd", "lookahead_k5"),
        ("nobias_wd", "nobias_nowd"),
    ] {
        let (rel, _) = rel_errors(&at(a), &at(b));
        assert!(
            rel > 1e-3,
            "{a} and {b} are too close ({rel:e}) to test anything"
        );
    }
}

#[test]
fn weight_decay_skips_biases_and_layernorm() {
    // One step with zero gradients everywhere: Adam's update is 0, so only decay moves a
    // parameter, and only the decayed group may move.
    let f = Fixture::load("adamw.safetensors");
    let params = init_params(&f);
    let mut opt = AdamW::new(
        params.clone(),
        AdamWConfig {
            weight_decay: 0.5,
            ..Default::default()
        },
    )
    .unwrap();
    let mut grads = candle_core::backprop::GradStore::default();
    for (_, v) in &params {
        grads.insert(v.as_tensor(), v.as_tensor().zeros_like().unwrap());
    }
    let before: Vec<Vec<f32>> = params
        .iter()
        .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect();
    opt.step(&grads, 0.1).unwrap();
    for ((n, v), b) in params.iter().zip(before) {
        let after: Vec<f32> = v.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let decayed = n.ends_with("bias") || n.contains("LayerNorm");
        for (x, y) in after.iter().zip(&b) {
            if decayed {
                assert_eq!(x, y, "{n} must not be decayed");
            } else {
                assert!(
                    (x - y * 0.95).abs() <= 1e-6 * y.abs(),
                    "{n}: {x} != 0.95 * {y}"
                );
            }
        }
    }
}

#[test]
fn clipping_matches_torch() {
    let f = Fixture::load("adamw.safetensors");
    let clips = f.json("clips");
    for c in clips.as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let params = init_params(&f);
        let mut grads = grads_at(&f, &params, c["step"].as_u64().unwrap() as usize);
        let norm = clip_grad_norm(&mut grads, &params, c["max_norm"].as_f64().unwrap()).unwrap();
        let want: f64 = f.get(&format!("{id}.total_norm")).to_vec1::<f64>().unwrap()[0];
        assert!(
            (norm - want).abs() <= TOL * want,
            "{id}: norm {norm} vs torch {want}"
        );
        let mut worst = 0.0f64;
        for (n, v) in &params {
            let key = format!("{id}.grad.{n}");
            match (grads.get(v.as_tensor()), f.tensors.get(&key)) {
                (Some(g), Some(w)) => {
                    let (rel, _) = rel_errors(g, w);
                    assert!(rel <= TOL, "{id}: clipped {n} differs by {rel:e}");
                    worst = worst.max(rel);
                }
                (None, None) => {}
                _ => panic!("{id}: {n} has a gradient on one side only"),
            }
        }
        println!("{id}: norm {norm} (torch {want}), clipped grads rel {worst:.2e}");
    }
}

#[test]
fn tensor_path_handles_f64_parameters() {
    // Other dtypes take the tensor-op path; in f64 it must land within f32 rounding of the
    // float32 torch reference.
    let f = Fixture::load("adamw.safetensors");
    let c = &configs(&f)[1];
    let params: Vec<_> = init_params(&f)
        .into_iter()
        .map(|(n, v)| {
            (
                n,
                candle_core::Var::from_tensor(&v.as_tensor().to_dtype(DType::F64).unwrap())
                    .unwrap(),
            )
        })
        .collect();
    let mut opt = AdamW::new(params.clone(), adamw_config(c)).unwrap();
    let lrs: Vec<f64> = f.get("lrs").to_vec1().unwrap();
    for (s, &lr) in lrs.iter().enumerate() {
        opt.step(&grads_at(&f, &params, s), lr).unwrap();
    }
    for (n, v) in &params {
        let (rel, _) = rel_errors(v.as_tensor(), f.get(&format!("bias_wd.step50.{n}")));
        assert!(
            rel <= 1e-5,
            "{n}: f64 run differs from torch f32 by {rel:e}"
        );
    }
}

#[test]
fn a_gradient_of_the_wrong_shape_fails_before_any_update() {
    let f = Fixture::load("adamw.safetensors");
    let params = init_params(&f);
    let mut opt = AdamW::new(params.clone(), AdamWConfig::default()).unwrap();
    let mut grads = grads_at(&f, &params, 0);
    let last = &params[params.len() - 1].1;
    grads.insert(
        last.as_tensor(),
        candle_core::Tensor::zeros(3, DType::F32, &candle_core::Device::Cpu).unwrap(),
    );
    let before: Vec<Vec<f32>> = params
        .iter()
        .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect();
    assert!(opt.step(&grads, 1e-2).is_err());
    let after: Vec<Vec<f32>> = params
        .iter()
        .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect();
    assert_eq!(before, after);
}
