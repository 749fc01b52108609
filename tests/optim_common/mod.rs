//! Helpers shared by the optimizer tests: the PyTorch fixtures and error measures.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};

/// A fixture file from tests/fixtures/optim: its tensors and its metadata.
pub struct Fixture {
    pub tensors: HashMap<String, Tensor>,
    pub meta: HashMap<String, String>,
}

impl Fixture {
    pub fn load(name: &str) -> Fixture {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/optim")
            .join(name);
        let bytes =
            std::fs::read(&path).expect("fixture (run tests/fixtures/optim/gen_fixtures.py)");
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().clone().unwrap_or_default();
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
        Fixture { tensors, meta }
    }

    pub fn get(&self, key: &str) -> &Tensor {
        self.tensors
            .get(key)
            .unwrap_or_else(|| panic!("fixture has no {key}"))
    }

    pub fn json(&self, key: &str) -> serde_json::Value {
        serde_json::from_str(&self.meta[key]).unwrap()
    }
}

/// The AdamW fixture's parameter names, in order.
pub fn param_names(f: &Fixture) -> Vec<String> {
    serde_json::from_value(f.json("params")).unwrap()
}

/// Fresh parameters holding the fixture's initial values.
pub fn init_params(f: &Fixture) -> Vec<(String, Var)> {
    param_names(f)
        .into_iter()
        .map(|n| {
            let v = Var::from_tensor(&f.get(&format!("init.{n}")).copy().unwrap()).unwrap();
            (n, v)
        })
        .collect()
}

/// The fixture's gradients of step `s` (0-based) as a GradStore for `params`.
pub fn grads_at(f: &Fixture, params: &[(String, Var)], s: usize) -> GradStore {
    let mut g = GradStore::default();
    for (n, v) in params {
        if let Some(t) = f.tensors.get(&format!("grad.{s}.{n}")) {
            g.insert(v.as_tensor(), t.to_dtype(v.dtype()).unwrap());
        }
    }
    g
}

/// Largest |a - b| over all elements, relative to the largest |b| (per-tensor relative
/// error), and the largest elementwise |a - b| / |b| over elements with |b| > 1e-3.
pub fn rel_errors(a: &Tensor, b: &Tensor) -> (f64, f64) {
    let a: Vec<f64> = a
        .to_dtype(candle_core::DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let b: Vec<f64> = b
        .to_dtype(candle_core::DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(a.len(), b.len());
    let scale = b
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()))
        .max(f64::MIN_POSITIVE);
    let max_abs = a
        .iter()
        .zip(&b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    let elem = a
        .iter()
        .zip(&b)
        .filter(|(_, y)| y.abs() > 1e-3)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs() / y.abs()));
    (max_abs / scale, elem)
}
