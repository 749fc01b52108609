//! Weighted, label-smoothed cross-entropy against PyTorch's CrossEntropyLoss
//! (fixture made by tests/fixtures/loss/make_fixtures.py): loss and logits gradient.

use candle_core::{Device, Tensor, Var};
use dapt::train::loss::cross_entropy;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    logits: Vec<Vec<f64>>,
    labels: Vec<u32>,
    weight: Option<Vec<f64>>,
    label_smoothing: f64,
    loss: f64,
    grad: Vec<Vec<f64>>,
}

#[test]
fn matches_torch_cross_entropy_loss() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/loss/cross_entropy.json"
    );
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(cases.len(), 6);
    for (i, c) in cases.iter().enumerate() {
        let logits =
            Var::from_tensor(&Tensor::new(c.logits.clone(), &Device::Cpu).unwrap()).unwrap();
        let labels = Tensor::new(c.labels.as_slice(), &Device::Cpu).unwrap();
        let loss = cross_entropy(
            logits.as_tensor(),
            &labels,
            c.weight.as_deref(),
            c.label_smoothing,
        )
        .unwrap();
        let value = loss.to_scalar::<f64>().unwrap();
        assert!(
            (value - c.loss).abs() <= 1e-10 * c.loss.abs().max(1.0),
            "case {i}: {value} vs {}",
            c.loss
        );
        let grads = loss.backward().unwrap();
        let g: Vec<Vec<f64>> = grads.get(logits.as_tensor()).unwrap().to_vec2().unwrap();
        for (row, (gr, er)) in g.iter().zip(&c.grad).enumerate() {
            for (x, e) in gr.iter().zip(er) {
                assert!((x - e).abs() <= 1e-10, "case {i} row {row}: {x} vs {e}");
            }
        }
    }
}
