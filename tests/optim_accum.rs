//! Gradient accumulation and parameter groups, checked against independent references:
//! candle's own gradient of the full-batch loss, and the Hugging Face grouping rule.

use candle_core::{DType, Device, Tensor, Var};
use dapt::optim::{decays, GradAccumulator};

#[test]
fn mean_of_micro_batches_equals_the_full_batch_gradient() {
    let dev = Device::Cpu;
    let w = Var::randn(0f32, 1.0, (3, 5), &dev).unwrap();
    let b = Var::randn(0f32, 1.0, 3, &dev).unwrap();
    let unused = Var::zeros(4, DType::F32, &dev).unwrap();
    let params = vec![
        ("classifier.weight".to_string(), w.clone()),
        ("classifier.bias".to_string(), b.clone()),
        ("unused.weight".to_string(), unused.clone()),
    ];
    let x = Tensor::randn(0f32, 1.0, (8, 5), &dev).unwrap();
    let y = Tensor::randn(0f32, 1.0, (8, 3), &dev).unwrap();
    let loss = |x: &Tensor, y: &Tensor| {
        let pred = x
            .matmul(&w.as_tensor().t().unwrap())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap();
        (pred - y).unwrap().sqr().unwrap().mean_all().unwrap()
    };
    let full = loss(&x, &y).backward().unwrap();

    let mut acc = GradAccumulator::new(&params);
    for i in 0..4 {
        let (xs, ys) = (
            x.narrow(0, 2 * i, 2).unwrap(),
            y.narrow(0, 2 * i, 2).unwrap(),
        );
        acc.add(&loss(&xs, &ys).backward().unwrap()).unwrap();
    }
    assert_eq!(acc.micro_batches(), 4);
    let mean = acc.take_mean().unwrap();
    assert_eq!(acc.micro_batches(), 0);
    for p in [&w, &b] {
        let got: Vec<f32> = mean
            .get(p.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let want: Vec<f32> = full
            .get(p.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{g} vs {w}");
        }
    }
    assert!(mean.get(unused.as_tensor()).is_none());
    // Only parameter gradients are kept: no activation gradients travel along.
    assert_eq!(mean.get_ids().count(), 2);
}

#[test]
fn hugging_face_grouping_rule() {
    for name in [
        "bert.embeddings.word_embeddings.weight",
        "bert.encoder.layer.0.attention.self.query.weight",
        "bert.encoder.layer.11.output.dense.weight",
        "cls.predictions.transform.dense.weight",
        "classifier.weight",
    ] {
        assert!(decays(name), "{name} should be decayed");
    }
    for name in [
        "bert.embeddings.LayerNorm.weight",
        "bert.embeddings.LayerNorm.bias",
        "bert.encoder.layer.0.attention.output.LayerNorm.weight",
        "bert.encoder.layer.0.attention.self.query.bias",
        "cls.predictions.bias",
        "cls.predictions.transform.LayerNorm.weight",
        "classifier.bias",
    ] {
        assert!(!decays(name), "{name} should not be decayed");
    }
}
