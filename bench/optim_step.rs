//! Time one optimizer step on BERT-base shapes (~110M f32 parameters) with random gradients.
//! Run via bench/optim_compare.sh, which puts it side by side with bench/optim_step.py.
//!
//! Usage: optim_step [STEPS] — prints one `RESULT name ms_per_step` line per variant.

use std::time::Instant;

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use dapt::optim::{AdamW, AdamWConfig, Lookahead, LookaheadConfig, Optimizer};

/// BERT-base parameter shapes with Hugging Face names (BertModel with pooler + MLM head).
fn bert_base_shapes() -> Vec<(String, Vec<usize>)> {
    let (v, h, f) = (30522, 768, 3072);
    let mut s: Vec<(String, Vec<usize>)> = vec![
        ("bert.embeddings.word_embeddings.weight".into(), vec![v, h]),
        (
            "bert.embeddings.position_embeddings.weight".into(),
            vec![512, h],
        ),
        (
            "bert.embeddings.token_type_embeddings.weight".into(),
            vec![2, h],
        ),
        ("bert.embeddings.LayerNorm.weight".into(), vec![h]),
        ("bert.embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for l in 0..12 {
        let p = format!("bert.encoder.layer.{l}");
        for m in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ] {
            s.push((format!("{p}.{m}.weight"), vec![h, h]));
            s.push((format!("{p}.{m}.bias"), vec![h]));
        }
        s.push((format!("{p}.intermediate.dense.weight"), vec![f, h]));
        s.push((format!("{p}.intermediate.dense.bias"), vec![f]));
        s.push((format!("{p}.output.dense.weight"), vec![h, f]));
        s.push((format!("{p}.output.dense.bias"), vec![h]));
        for ln in ["attention.output.LayerNorm", "output.LayerNorm"] {
            s.push((format!("{p}.{ln}.weight"), vec![h]));
            s.push((format!("{p}.{ln}.bias"), vec![h]));
        }
    }
    s.push(("bert.pooler.dense.weight".into(), vec![h, h]));
    s.push(("bert.pooler.dense.bias".into(), vec![h]));
    s.push(("cls.predictions.bias".into(), vec![v]));
    s.push(("cls.predictions.transform.dense.weight".into(), vec![h, h]));
    s.push(("cls.predictions.transform.dense.bias".into(), vec![h]));
    s.push(("cls.predictions.transform.LayerNorm.weight".into(), vec![h]));
    s.push(("cls.predictions.transform.LayerNorm.bias".into(), vec![h]));
    s
}

fn time_steps(name: &str, opt: &mut dyn Optimizer, grads: &GradStore, steps: usize) -> Result<()> {
    for _ in 0..2 {
        opt.step(grads, 1e-4)?; // warm-up: allocates the moments
    }
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t = Instant::now();
        opt.step(grads, 1e-4)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mean = times.iter().sum::<f64>() / steps as f64;
    let min = times.iter().cloned().fold(f64::INFINITY, f64::min);
    println!("RESULT {name} {mean:.2}  (min {min:.2} ms over {steps} steps)");
    Ok(())
}

fn main() -> Result<()> {
    let steps: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10);
    let dev = Device::Cpu;
    let mut params = Vec::new();
    let mut grads = GradStore::default();
    for (name, shape) in bert_base_shapes() {
        let var = Var::from_tensor(&(Tensor::randn(0f32, 0.02, shape.as_slice(), &dev)?))?;
        grads.insert(
            var.as_tensor(),
            Tensor::randn(0f32, 1e-3, shape.as_slice(), &dev)?,
        );
        params.push((name, var));
    }
    let n: usize = params.iter().map(|(_, v)| v.elem_count()).sum();
    assert!(params.iter().all(|(_, v)| v.dtype() == DType::F32));
    println!(
        "dapt: {} tensors, {n} parameters, rayon threads {}",
        params.len(),
        rayon::current_num_threads()
    );
    let config = AdamWConfig::default();
    let mut adamw = AdamW::new(params.clone(), config.clone())?;
    time_steps("dapt_adamw", &mut adamw, &grads, steps)?;
    drop(adamw);
    let inner = AdamW::new(params.clone(), config.clone())?;
    let mut la = Lookahead::new(
        inner,
        LookaheadConfig {
            lookahead_k: 1,
            lookahead_alpha: 0.5,
        },
    )?;
    time_steps("dapt_lookahead_k1_adamw", &mut la, &grads, steps)?;
    drop(la);
    let mut plain = AdamW::new(params, config)?.with_cpu_kernel(false);
    time_steps("dapt_adamw_tensor_ops", &mut plain, &grads, steps.min(3))?;
    Ok(())
}
