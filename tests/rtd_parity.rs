//! Replaced-token detection against transformers (fixture from
//! tests/fixtures/rtd/make_fixture.py): a generator and a discriminator sharing their
//! embeddings, one batch with fixed replacements; the generator's MLM loss, the
//! discriminator's BCE over real tokens, the total `gen + 50 * disc` within 1e-4 and the
//! gradient of every parameter within 1e-3 of the reference's largest entry. Also the
//! sampler's frequencies against the softmax, and the BCE against hand-computed values.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use common::max_abs;
use dapt::data::collate::Collator;
use dapt::data::mask::{MaskConfig, Masker};
use dapt::data::special::SpecialTokens;
use dapt::model::dropout::Mode;
use dapt::model::rtd::{bce_with_logits, sample_tokens, Rtd};
use dapt::model::BertConfig;

fn scalar(t: &Tensor) -> f32 {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0]
}

#[test]
fn losses_and_gradients_match_transformers() {
    let dir = common::root().join("tests/fixtures/rtd");
    let r: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir.join("reference.safetensors"), &Device::Cpu).unwrap();
    let ckpt = dir.join("ckpt");
    let disc = BertConfig::read(&ckpt.join("config.json")).unwrap();
    let gen = BertConfig::read(&ckpt.join("generator/config.json")).unwrap();
    let rtd = Rtd::new(&disc, &gen, &Device::Cpu, 0, 50.0).unwrap();
    rtd.load(&ckpt).unwrap();

    let batch = common::reference_batch_cpu(&r);
    let masker = Masker::new(MaskConfig::default(), SpecialTokens::new(128, 0).unwrap()).unwrap();
    let collator = Collator::new(12, 0.0, masker).unwrap();
    let samples: Vec<u32> = r["samples"]
        .to_dtype(DType::U32)
        .unwrap()
        .to_vec1()
        .unwrap();
    let t = batch.to_tensors(&Device::Cpu).unwrap();
    let out = rtd
        .loss(
            &batch,
            &t,
            &collator,
            |_| Ok(samples.clone()),
            &mut Mode::eval(),
        )
        .unwrap();

    for (name, got) in [
        ("gen_loss", &out.gen_loss),
        ("disc_loss", &out.disc_loss),
        ("loss", &out.loss),
    ] {
        let (got, want) = (scalar(got), scalar(&r[name]));
        eprintln!("{name}: {got} vs {want}");
        assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "{name}");
    }
    let want_logits = common::real_rows(
        &r["disc_logits"].flatten_all().unwrap(),
        &r["attention_mask"],
    );
    let d = max_abs(&(&out.disc_logits - &want_logits).unwrap());
    assert!(d <= 1e-4, "discriminator logits differ by {d}");
    // Two of the five sampled tokens equal the original: three replaced.
    assert_eq!(out.replaced.iter().filter(|&&x| x).count(), 3);

    let grads = out.loss.backward().unwrap();
    let refs: Vec<(&String, &Tensor)> = r.iter().filter(|(k, _)| k.starts_with("grad.")).collect();
    let floor = refs.iter().map(|(_, t)| max_abs(t)).fold(0.0, f32::max) * 0.01;
    let params: HashMap<String, candle_core::Var> = rtd.params().into_iter().collect();
    assert_eq!(
        params.len(),
        refs.len(),
        "one parameter per reference gradient"
    );
    for (key, want) in refs {
        let name = &key["grad.".len()..];
        let var = params
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        let got = grads
            .get(var)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let rel = max_abs(&(got - want).unwrap()) / max_abs(want).max(floor);
        assert!(rel <= 1e-3, "{name}: relative gradient diff {rel}");
    }
}

#[test]
fn samples_follow_the_generator_distribution() {
    // Three rows: peaked, flat, and one with a zero-probability token (-inf logit).
    let logits = Tensor::new(
        &[
            [2.0f32, 0.0, -1.0, 0.5],
            [0.0, 0.0, 0.0, 0.0],
            [1.0, f32::NEG_INFINITY, 0.0, -0.5],
        ],
        &Device::Cpu,
    )
    .unwrap();
    let probs: Vec<Vec<f64>> = candle_nn::ops::softmax_last_dim(&logits)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec2()
        .unwrap();
    let draws = 20_000u64;
    let mut counts = [[0u64; 4]; 3];
    for counter in 0..draws {
        let s = sample_tokens(&logits, 5, counter).unwrap();
        for (row, &id) in s.iter().enumerate() {
            counts[row][id as usize] += 1;
        }
    }
    for (row, p) in probs.iter().enumerate() {
        for (id, &p) in p.iter().enumerate() {
            let freq = counts[row][id] as f64 / draws as f64;
            // 4 standard errors of a binomial proportion (p = 0: never drawn).
            let tol = 4.0 * (p * (1.0 - p) / draws as f64).sqrt();
            assert!(
                (freq - p).abs() <= tol,
                "row {row} token {id}: {freq} vs {p}"
            );
        }
    }
    // Keyed: the same (seed, counter) draws the same tokens, another seed others.
    assert_eq!(
        sample_tokens(&logits, 5, 3).unwrap(),
        sample_tokens(&logits, 5, 3).unwrap()
    );
    let differ = (0..50)
        .any(|c| sample_tokens(&logits, 5, c).unwrap() != sample_tokens(&logits, 6, c).unwrap());
    assert!(differ);
}

#[test]
fn bce_matches_hand_computed_values() {
    // Per element log(1 + e^-x) for y = 1, log(1 + e^x) for y = 0:
    // x = 2, y = 1: 0.126928; x = -1, y = 0: 0.313262; x = 0, y = 1: 0.693147;
    // x = 30, y = 0: 30 (the stable form must not overflow).
    let x = Tensor::new(&[2.0f32, -1.0, 0.0, 30.0], &Device::Cpu).unwrap();
    let y = Tensor::new(&[1.0f32, 0.0, 1.0, 0.0], &Device::Cpu).unwrap();
    let got = scalar(&bce_with_logits(&x, &y).unwrap());
    let want = (0.126_928 + 0.313_262 + std::f32::consts::LN_2 + 30.0) / 4.0;
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
}
