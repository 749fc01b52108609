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

/// A tiny MLM batch: two sequences of 6 tokens, masked rows 2 and 9.
fn tiny_batch(dev: &Device) -> dapt::data::collate::BatchTensors {
    let batch = dapt::data::collate::Batch {
        batch_size: 2,
        seq_len: 6,
        input_ids: vec![2, 7, 4, 9, 3, 0, 2, 11, 12, 4, 3, 0],
        token_type_ids: vec![0; 12],
        attention_mask: vec![1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0],
        labels: vec![-100; 12],
        masked_positions: vec![2, 9],
        masked_labels: vec![8, 13],
        match_flags: None,
    };
    batch.to_tensors(dev).unwrap()
}

#[test]
fn train_mode_is_seeded_and_eval_mode_is_deterministic() {
    use dapt::model::bert::BertForMaskedLM;
    use dapt::model::build::Init;
    use dapt::model::dropout::Mode;
    let dev = Device::Cpu;
    let mut config = dapt::model::BertConfig::preset("tiny", 32).unwrap();
    let (model, _) = BertForMaskedLM::new(&config, &dev, Init::Fresh(1)).unwrap();
    let b = tiny_batch(&dev);
    let run = |mode: &mut Mode| -> Vec<f32> {
        model
            .forward(&b, mode)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let eval = run(&mut Mode::eval());
    assert_eq!(eval, run(&mut Mode::eval()));
    let train = |seed| run(&mut Mode::train(ChaCha8Rng::seed_from_u64(seed)));
    assert_eq!(train(3), train(3));
    assert_ne!(train(3), train(4));
    assert_ne!(train(3), eval);

    // Without dropout probabilities, training mode computes the eval function exactly.
    config.hidden_dropout_prob = 0.0;
    config.attention_probs_dropout_prob = 0.0;
    let (model, _) = BertForMaskedLM::new(&config, &dev, Init::Fresh(1)).unwrap();
    let a: Vec<f32> = model
        .forward(&b, &mut Mode::eval())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let t: Vec<f32> = model
        .forward(&b, &mut Mode::train(ChaCha8Rng::seed_from_u64(3)))
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(a, t);
}

#[test]
fn fresh_weights_follow_the_transformers_init() {
    use dapt::model::bert::BertForMaskedLM;
    use dapt::model::build::Init;
    let dev = Device::Cpu;
    let config = dapt::model::BertConfig::preset("tiny", 500).unwrap();
    let (model, _) = BertForMaskedLM::new(&config, &dev, Init::Fresh(9)).unwrap();
    let vars = model.vars.data().lock().unwrap();
    let get = |n: &str| -> Vec<f32> {
        vars[n]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let w = get("bert.embeddings.word_embeddings.weight");
    let h = config.hidden_size;
    assert!(w[..h].iter().all(|&v| v == 0.0), "[PAD] row is zero");
    let rest = &w[h..];
    let mean = rest.iter().map(|&v| v as f64).sum::<f64>() / rest.len() as f64;
    let std =
        (rest.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / rest.len() as f64).sqrt();
    assert!(
        (std - 0.02).abs() < 0.001 && mean.abs() < 0.001,
        "std {std} mean {mean}"
    );
    assert!(get("bert.encoder.layer.0.output.LayerNorm.weight")
        .iter()
        .all(|&v| v == 1.0));
    assert!(get("bert.encoder.layer.0.output.dense.bias")
        .iter()
        .all(|&v| v == 0.0));
    assert!(get("cls.predictions.bias").iter().all(|&v| v == 0.0));
    let (again, _) = BertForMaskedLM::new(&config, &dev, Init::Fresh(9)).unwrap();
    let w2: Vec<f32> = again.vars.data().lock().unwrap()["bert.embeddings.word_embeddings.weight"]
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(w, w2, "same seed, same weights");
}
