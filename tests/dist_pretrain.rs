//! Data-parallel pretraining (`--features mpi`, Open MPI's `mpirun` on the PATH): two
//! processes with --batch-size 4 each train exactly what one process with --batch-size 8
//! trains. Their batches are the two halves of the single process's, masked alike
//! (`Collator::collate_rows`); each rank's loss is weighted by its share of the masked
//! tokens and the gradients are summed. The only difference left is the order of
//! floating-point summation, so after 20 steps the logged losses and the weights must
//! agree within 1e-5 relative. Dropout is off: its masks are drawn per batch tensor, so a
//! half-batch draws other masks.
#![cfg(feature = "mpi")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{arg, dapt_ok, fresh_dir, lcqmc_sample, pretrain_tiny_args};

fn losses(dir: &Path) -> Vec<(u64, f64)> {
    common::lines(&dir.join("metrics.jsonl"))
        .iter()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Some((v.get("step")?.as_u64()?, v.get("loss")?.as_f64()?))
        })
        .collect()
}

fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let ckpt = dir.join(std::fs::read_to_string(dir.join("latest")).unwrap().trim());
    let tensors =
        candle_core::safetensors::load(ckpt.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let mut out: Vec<(String, Vec<f32>)> = tensors
        .into_iter()
        .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn two_processes_of_batch_4_train_what_one_process_of_batch_8_trains() {
    let dir = fresh_dir("dist_pretrain");
    let (train, vocab) = lcqmc_sample(&dir, 400);
    let mut config = dapt::model::BertConfig::preset("tiny", 10).unwrap();
    config.hidden_dropout_prob = 0.0;
    config.attention_probs_dropout_prob = 0.0;
    let config_path = dir.join("tiny_no_dropout.json");
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    let shard = dir.join("train.shard");
    common::encode(&vocab, &train, &shard);
    let run = |out: &Path, batch: &str, dist: &str| -> Vec<String> {
        let mut args: Vec<String> = pretrain_tiny_args(&[arg(&shard)], &vocab, out, &[])
            .into_iter()
            .map(String::from)
            .collect();
        let at = args.iter().position(|a| a == "--batch-size").unwrap();
        args[at + 1] = batch.into();
        let at = args.iter().position(|a| a == "--model-config").unwrap();
        args[at + 1] = arg(&config_path).into();
        for a in [
            "--max-steps",
            "20",
            "--log-every",
            "1",
            "--eval-every",
            "0",
            "--lr",
            "1e-3",
            "--seed",
            "3",
            "--dist",
            dist,
        ] {
            args.push(a.into());
        }
        args
    };
    let one = dir.join("one");
    dapt_ok(
        &run(&one, "8", "none")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let two = dir.join("two");
    let out = Command::new("mpirun")
        .args([
            "-np",
            "2",
            "--oversubscribe",
            "--allow-run-as-root",
            "-x",
            "RAYON_NUM_THREADS=1",
        ])
        .arg(env!("CARGO_BIN_EXE_dapt"))
        .args(run(&two, "4", "mpi"))
        .output()
        .expect("mpirun on the PATH (apt-get install openmpi-bin)");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = (losses(&one), losses(&two));
    assert_eq!(a.len(), 20);
    assert_eq!(
        a.iter().map(|x| x.0).collect::<Vec<_>>(),
        b.iter().map(|x| x.0).collect::<Vec<_>>()
    );
    let worst_loss = a
        .iter()
        .zip(&b)
        .map(|((_, x), (_, y))| (x - y).abs() / x.abs())
        .fold(0.0, f64::max);
    // Per tensor, relative to its largest weight. The attention key biases are left
    // out: the softmax does not depend on them (a shift of every score of a query), so
    // their gradient is rounding noise that AdamW scales up to ~1e-7-sized weights whose
    // digits mean nothing. Over the whole model they count in the global figure.
    let (mut worst_weight, mut global_diff, mut global_scale) = (0.0f32, 0.0f32, 0.0f32);
    for ((name, x), (name_b, y)) in weights(&one).iter().zip(&weights(&two)) {
        assert_eq!(name, name_b);
        let scale = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = x
            .iter()
            .zip(y)
            .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        (global_diff, global_scale) = (global_diff.max(diff), global_scale.max(scale));
        if !name.ends_with("attention.self.key.bias") {
            worst_weight = worst_weight.max(diff / scale);
        }
    }
    let global = global_diff / global_scale;
    eprintln!(
        "1 x batch 8 vs 2 x batch 4 over 20 steps: loss {:.4} -> {:.4}; worst relative difference: loss {worst_loss:e}, weights per tensor {worst_weight:e}, whole model {global:e}",
        a[0].1, a[19].1
    );
    assert!(worst_loss <= 1e-5, "{a:?}\n{b:?}");
    assert!(worst_weight <= 1e-5);
    assert!(global <= 1e-5);
    // Only rank 0 wrote: one metrics line per step, not two.
    assert_eq!(b.len(), 20);
}
