//! The exact-match feature (`--match-embedding`) in the model: with its rows at zero (as
//! they start) the model computes bit for bit what the plain model does, whatever the
//! flags; the rows receive gradient and, once non-zero, change the output.

use candle_core::{DType, Device, Tensor};
use dapt::model::build::Init;
use dapt::model::classifier::SequenceClassifier;
use dapt::model::dropout::Mode;
use dapt::model::BertConfig;
use dapt::train::loss::cross_entropy;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MATCH: &str = "bert.embeddings.match_embeddings.weight";

fn model(matching: bool) -> SequenceClassifier {
    let mut c = BertConfig::preset("tiny", 60).unwrap();
    c.dapt_match_embedding = matching;
    SequenceClassifier::new(&c, 2, &Device::Cpu, Init::Fresh(11))
        .unwrap()
        .0
}

/// Ids, token types, mask and random flags of 3 padded pairs.
fn inputs() -> [Tensor; 4] {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (b, s) = (3, 12);
    let lens = [12, 9, 6];
    let mut v = [
        vec![0u32; b * s],
        vec![0u32; b * s],
        vec![0u32; b * s],
        vec![0u32; b * s],
    ];
    for (r, &len) in lens.iter().enumerate() {
        for j in 0..len {
            v[0][r * s + j] = rng.random_range(5..60);
            v[1][r * s + j] = u32::from(j >= len / 2);
            v[2][r * s + j] = 1;
            v[3][r * s + j] = rng.random_range(0..2);
        }
    }
    v.map(|x| Tensor::from_vec(x, (b, s), &Device::Cpu).unwrap())
}

fn logits(m: &SequenceClassifier, flags: Option<&Tensor>) -> Vec<Vec<f32>> {
    let [ids, types, mask, _] = inputs();
    m.forward(&ids, &types, flags, &mask, &mut Mode::eval())
        .unwrap()
        .to_vec2()
        .unwrap()
}

fn var(m: &SequenceClassifier, name: &str) -> candle_core::Var {
    m.vars.data().lock().unwrap()[name].clone()
}

#[test]
fn zero_rows_equal_the_plain_model_bit_for_bit() {
    let (plain, matching) = (model(false), model(true));
    let flags = inputs()[3].clone();
    assert_eq!(
        var(&matching, MATCH)
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
        vec![0.0; 2 * 128],
        "the rows start at zero"
    );
    assert_eq!(logits(&plain, None), logits(&matching, Some(&flags)));
    // Every flag set or none: still the plain model.
    let ones = flags.ones_like().unwrap();
    assert_eq!(logits(&plain, None), logits(&matching, Some(&ones)));
}

#[test]
fn rows_learn_and_then_change_the_output() {
    let m = model(true);
    let [ids, types, mask, flags] = inputs();
    let ys = Tensor::new(&[0u32, 1, 1], &Device::Cpu).unwrap();
    let out = m
        .forward(&ids, &types, Some(&flags), &mask, &mut Mode::eval())
        .unwrap();
    let grads = cross_entropy(&out, &ys, None, 0.0)
        .unwrap()
        .backward()
        .unwrap();
    let g: Vec<Vec<f32>> = grads.get(&var(&m, MATCH)).unwrap().to_vec2().unwrap();
    for (row, values) in g.iter().enumerate() {
        assert!(values.iter().any(|&x| x != 0.0), "row {row} gets gradient");
    }
    let rows = var(&m, MATCH);
    rows.set(
        &Tensor::randn(0f32, 0.02, (2, 128), &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap(),
    )
    .unwrap();
    assert_ne!(logits(&model(false), None), logits(&m, Some(&flags)));
    // Without flags a model that has the rows refuses to run rather than guess.
    assert!(m
        .forward(&ids, &types, None, &mask, &mut Mode::eval())
        .is_err());
}
