//! Fine-tuning techniques against PyTorch (tests/fixtures/finetune/make_fixtures.py) and
//! hand-computed values: FGM/PGD training steps, R-Drop's loss and gradients, pooling
//! heads, EMA and SWA averages, and the weights after an attack.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use common::max_abs;
use dapt::data::labels::Labels;
use dapt::data::pair_batch::PairTensors;
use dapt::model::build::Init;
use dapt::model::classifier::SequenceClassifier;
use dapt::model::dropout::Mode;
use dapt::model::params::named_vars;
use dapt::model::pooling::Pooling;
use dapt::model::BertConfig;
use dapt::optim::{clip_grad_norm, AdamW, AdamWConfig, NamedParam, Optimizer};
use dapt::train::finetune::step::{micro_batch_grads, Objective};
use dapt::train::loss::cross_entropy;
use dapt::train::tasks::pair::{MicroBatch, PairClassification, PairLoss, Target, Targets};
use dapt::train::techniques::{rdrop_loss, Adversarial, AdversarialKind, Ema, Swa, Technique};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const MODEL: &str = "tests/fixtures/model/cls";

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(
        "tests/fixtures/finetune/reference.safetensors",
        &Device::Cpu,
    )
    .unwrap()
}

fn inputs() -> PairTensors {
    let r =
        candle_core::safetensors::load("tests/fixtures/model/reference.safetensors", &Device::Cpu)
            .unwrap();
    PairTensors {
        ids: r["input_ids"].to_dtype(DType::U32).unwrap(),
        types: r["token_type_ids"].to_dtype(DType::U32).unwrap(),
        mask: r["attention_mask"].clone(),
        matches: None,
    }
}

fn model(config: &BertConfig) -> SequenceClassifier {
    let (m, report) =
        SequenceClassifier::new(config, 2, &Device::Cpu, Init::Checkpoint(MODEL.as_ref(), 0))
            .unwrap();
    assert!(report.newly_initialized.is_empty(), "{report:?}");
    m
}

fn config() -> BertConfig {
    BertConfig::read(format!("{MODEL}/config.json").as_ref()).unwrap()
}

/// Three steps as the fixture trains: weighted CE 1:1.3, clip 1.0, AdamW lr 1e-3.
fn train3(attack: Option<Adversarial>) -> Vec<NamedParam> {
    let mut c = config();
    c.hidden_dropout_prob = 0.0;
    c.attention_probs_dropout_prob = 0.0;
    let model = model(&c);
    let params = named_vars(&model.vars);
    let mut opt = AdamW::new(params.clone(), AdamWConfig::default()).unwrap();
    let micro = micro_batch(&[1, 0, 1]);
    let task = PairClassification {
        classes: 2,
        labels: Labels::Ids(None),
        loss: PairLoss {
            class_weight: Some(vec![1.0, 1.3]),
            label_smoothing: 0.0,
        },
    };
    let techniques: Vec<Box<dyn Technique>> =
        attack.into_iter().map(|a| Box::new(a) as _).collect();
    let objective = Objective {
        task: &task,
        techniques: &techniques,
    };
    for _ in 0..3 {
        let mut mode = Mode::train(ChaCha8Rng::seed_from_u64(0));
        let (_, mut grads) =
            micro_batch_grads(&model, &micro, &objective, &params, &mut mode, 1.0).unwrap();
        clip_grad_norm(&mut grads, &params, 1.0).unwrap();
        opt.step(&grads, 1e-3).unwrap();
    }
    params
}

/// Largest relative difference (max |a - b| / max |b| per tensor) over every parameter.
fn worst(params: &[NamedParam], prefix: &str, r: &HashMap<String, Tensor>) -> f64 {
    params
        .iter()
        // A key bias adds the same amount to every score of a query, so its true gradient
        // is 0: both sides see float noise there, which Adam scales up to ±lr steps.
        .filter(|(name, _)| !name.ends_with("attention.self.key.bias"))
        .map(|(name, v)| {
            let want = &r[&format!("{prefix}.{name}")];
            (max_abs(&(v.as_tensor() - want).unwrap()) / max_abs(want)) as f64
        })
        .fold(0.0, f64::max)
}

#[test]
fn fgm_and_pgd_steps_match_pytorch() {
    let r = reference();
    let plain = train3(None);
    let fgm = train3(Some(Adversarial {
        kind: AdversarialKind::Fgm,
        epsilon: 1.0,
        steps: 1,
        alpha: 0.0,
    }));
    let pgd = train3(Some(Adversarial {
        kind: AdversarialKind::Pgd,
        epsilon: 1.0,
        steps: 3,
        alpha: 0.4,
    }));
    for (name, params) in [("plain", &plain), ("fgm", &fgm), ("pgd", &pgd)] {
        let rel = worst(params, name, &r);
        eprintln!("{name}: parameters after 3 steps, max relative error {rel:.2e}");
        // Float noise amplified by Adam's normalisation: 7.2e-6 (FGM) with AVX2 GEMM
        // kernels, 1.2e-5 with AVX-512 ones (another summation order), 6 orders below
        // the effect of the attacks checked next.
        assert!(rel <= 2e-5, "{name}: {rel}");
    }
    // The attacks change the result by far more than the tolerance, so the test can fail.
    let fgm_vs_plain = worst(&fgm, "plain", &r);
    let pgd_vs_fgm = worst(&pgd, "fgm", &r);
    eprintln!("fgm vs plain {fgm_vs_plain:.2e}, pgd vs fgm {pgd_vs_fgm:.2e}");
    assert!(fgm_vs_plain > 1e-3 && pgd_vs_fgm > 1e-3);
}

#[test]
fn attack_restores_the_embeddings_exactly() {
    let model = model(&config());
    let params = named_vars(&model.vars);
    let emb = model.word_embeddings().unwrap();
    let before: Vec<f32> = emb.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
    let micro = micro_batch(&[1, 0, 1]);
    let task = PairClassification {
        classes: 2,
        labels: Labels::Ids(None),
        loss: PairLoss::default(),
    };
    let pgd = Adversarial {
        kind: AdversarialKind::Pgd,
        epsilon: 0.5,
        steps: 2,
        alpha: 0.3,
    };
    let techniques: Vec<Box<dyn Technique>> = vec![Box::new(pgd.clone())];
    let objective = Objective {
        task: &task,
        techniques: &techniques,
    };
    let mut mode = Mode::train(ChaCha8Rng::seed_from_u64(3));
    micro_batch_grads(&model, &micro, &objective, &params, &mut mode, 1.0).unwrap();
    let after: Vec<f32> = emb.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
    assert!(before == after, "the perturbation leaked into the weights");
    // A failing loss leaves them restored too.
    let plain = Objective {
        task: &task,
        techniques: &[],
    };
    let mut grads = plain
        .loss(&model, &micro, &mut Mode::eval())
        .unwrap()
        .backward()
        .unwrap();
    let mut calls = 0;
    let err = pgd.apply(&emb, &params, &mut grads, || {
        calls += 1;
        anyhow::bail!("injected failure")
    });
    assert!(err.is_err() && calls == 1);
    let again: Vec<f32> = emb.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
    assert!(before == again);
}

#[test]
fn rdrop_loss_and_gradients_match_pytorch() {
    let r = reference();
    let l1 = Var::from_tensor(&r["rdrop.logits1"]).unwrap();
    let l2 = Var::from_tensor(&r["rdrop.logits2"]).unwrap();
    let ys = r["rdrop.labels"].to_dtype(DType::U32).unwrap();
    let weights = [1.0, 1.3];
    let ce = |l: &Tensor| cross_entropy(l, &ys, Some(&weights), 0.1);
    let loss = rdrop_loss(l1.as_tensor(), l2.as_tensor(), 2.0, ce).unwrap();
    let d = max_abs(&(loss.reshape(1).unwrap() - &r["rdrop.loss"]).unwrap());
    eprintln!("rdrop loss diff {d:.2e}");
    assert!(d <= 1e-6);
    let grads = loss.backward().unwrap();
    for (v, key) in [(&l1, "rdrop.grad1"), (&l2, "rdrop.grad2")] {
        let g = grads.get(v.as_tensor()).unwrap();
        let rel = max_abs(&(g - &r[key]).unwrap()) / max_abs(&r[key]);
        eprintln!("{key}: relative error {rel:.2e}");
        assert!(rel <= 1e-5);
    }
    // Without the KL term the loss is the mean of the two cross-entropies, less than above.
    let plain = rdrop_loss(l1.as_tensor(), l2.as_tensor(), 0.0, ce).unwrap();
    let plain = plain.to_scalar::<f32>().unwrap();
    let want = (ce(l1.as_tensor()).unwrap().to_scalar::<f32>().unwrap()
        + ce(l2.as_tensor()).unwrap().to_scalar::<f32>().unwrap())
        / 2.0;
    assert!((plain - want).abs() < 1e-6 && plain < loss.to_scalar::<f32>().unwrap());
}

#[test]
fn pooling_heads_match_pytorch() {
    let r = reference();
    let batch = inputs();
    for pooling in [Pooling::Mean, Pooling::Max, Pooling::ClsMean] {
        let mut c = config();
        c.dapt_pooling = Some(pooling);
        let (model, _) =
            SequenceClassifier::new(&c, 2, &Device::Cpu, Init::Checkpoint(MODEL.as_ref(), 0))
                .unwrap_or_else(|_| {
                    // cls-mean's classifier is twice as wide as the checkpoint's: fresh
                    // weights, then every other tensor from the checkpoint.
                    let (m, _) =
                        SequenceClassifier::new(&c, 2, &Device::Cpu, Init::Fresh(0)).unwrap();
                    let w = candle_core::safetensors::load(
                        format!("{MODEL}/model.safetensors"),
                        &Device::Cpu,
                    )
                    .unwrap();
                    for (name, var) in named_vars(&m.vars) {
                        let t = match name.as_str() {
                            "classifier.weight" | "classifier.bias" => {
                                r[&format!("pool.cls-mean.{name}")].clone()
                            }
                            _ => w[&name].clone(),
                        };
                        var.set(&t).unwrap();
                    }
                    (m, Default::default())
                });
        let logits = model
            .forward(
                &batch.ids,
                &batch.types,
                None,
                &batch.mask,
                &mut Mode::eval(),
            )
            .unwrap();
        let key = format!("pool.{}", pooling.name());
        let d = max_abs(&(&logits - &r[&format!("{key}.logits")]).unwrap());
        let objective = (logits * &r["pool.loss_weights"].broadcast_as((3, 2)).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = objective.backward().unwrap();
        let name = "bert.encoder.layer.1.output.dense.weight";
        let vars = named_vars(&model.vars);
        let var = &vars.iter().find(|(n, _)| n == name).unwrap().1;
        let want = &r[&format!("{key}.grad.{name}")];
        let rel = max_abs(&(grads.get(var.as_tensor()).unwrap() - want).unwrap()) / max_abs(want);
        eprintln!("{key}: logits diff {d:.2e}, gradient relative error {rel:.2e}");
        assert!(d <= 1e-5 && rel <= 1e-4, "{key}");
    }
}

fn var(values: &[f32]) -> NamedParam {
    (
        "w".into(),
        Var::from_slice(values, values.len(), &Device::Cpu).unwrap(),
    )
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_vec1().unwrap()
}

#[test]
fn ema_is_the_closed_form_average() {
    let p = vec![var(&[1.0, -2.0])];
    let d = 0.9f32;
    let mut ema = Ema::new(d as f64);
    ema.start(&p).unwrap();
    let steps = [[3.0f32, 0.0], [-1.0, 4.0], [2.0, 2.0]];
    for s in &steps {
        p[0].1.set(&Tensor::new(s, &Device::Cpu).unwrap()).unwrap();
        ema.after_step(&p).unwrap();
    }
    // shadow = d³·p₀ + d²(1−d)·p₁ + d(1−d)·p₂ + (1−d)·p₃, by hand.
    let want: Vec<f32> = (0..2)
        .map(|i| {
            let p0 = [1.0f32, -2.0][i];
            d.powi(3) * p0
                + d * d * (1.0 - d) * steps[0][i]
                + d * (1.0 - d) * steps[1][i]
                + (1.0 - d) * steps[2][i]
        })
        .collect();
    let got = values(&ema.eval_weights().unwrap().unwrap()[0]);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
    }
    // State round trip: a restored average continues identically.
    let mut saved: HashMap<String, Tensor> = ema.state_tensors(&p).unwrap().into_iter().collect();
    let mut restored = Ema::new(d as f64);
    restored.load_state(&p, &mut saved).unwrap();
    assert!(saved.is_empty());
    for e in [&mut ema as &mut dyn Technique, &mut restored] {
        e.after_step(&p).unwrap();
    }
    assert_eq!(
        values(&ema.eval_weights().unwrap().unwrap()[0]),
        values(&restored.eval_weights().unwrap().unwrap()[0])
    );
}

#[test]
fn swa_averages_the_last_n_evaluation_points() {
    let p = vec![var(&[0.0, 0.0])];
    let mut swa = Swa::new(2);
    assert!(swa.eval_weights().unwrap().is_none());
    for s in [[1.0f32, 10.0], [3.0, 20.0], [8.0, -4.0]] {
        p[0].1.set(&Tensor::new(&s, &Device::Cpu).unwrap()).unwrap();
        swa.at_eval(&p).unwrap();
        // Steps between evaluations do not count.
        swa.after_step(&p).unwrap();
    }
    assert_eq!(
        values(&swa.eval_weights().unwrap().unwrap()[0]),
        vec![5.5, 8.0]
    );
    let mut saved: HashMap<String, Tensor> = swa.state_tensors(&p).unwrap().into_iter().collect();
    let mut restored = Swa::new(2);
    restored.load_state(&p, &mut saved).unwrap();
    assert_eq!(
        values(&restored.eval_weights().unwrap().unwrap()[0]),
        vec![5.5, 8.0]
    );
    let mut too_small = Swa::new(1);
    let mut saved: HashMap<String, Tensor> = swa.state_tensors(&p).unwrap().into_iter().collect();
    assert!(too_small.load_state(&p, &mut saved).is_err());
}

#[test]
fn multi_sample_dropout_averages_toward_the_undropped_logits() {
    // Dropout only before the classifier: the classifier is affine, so the mean over N
    // masks is the classifier of the pooled vector times the mean mask, which tends to
    // the evaluation logits as N grows (seeded, so the figures below are fixed).
    let mut c = config();
    c.hidden_dropout_prob = 0.0;
    c.attention_probs_dropout_prob = 0.0;
    c.classifier_dropout = Some(0.5);
    let batch = inputs();
    let logits = |n: usize, train: bool| {
        let m = model(&c).with_dropout_samples(n);
        let mut mode = if train {
            Mode::train(ChaCha8Rng::seed_from_u64(9))
        } else {
            Mode::eval()
        };
        m.forward(&batch.ids, &batch.types, None, &batch.mask, &mut mode)
            .unwrap()
    };
    let eval = logits(1, false);
    let scale = max_abs(&eval);
    let one = max_abs(&(logits(1, true) - &eval).unwrap()) / scale;
    let many = max_abs(&(logits(2000, true) - &eval).unwrap()) / scale;
    eprintln!("relative distance to the eval logits: 1 sample {one:.3}, 2000 samples {many:.3}");
    assert!(one > 0.2 && many < 0.1 && many < one / 4.0);
    // In evaluation mode the samples change nothing.
    assert_eq!(max_abs(&(logits(5, false) - &eval).unwrap()), 0.0);
}

/// The test inputs with hard labels.
fn micro_batch(labels: &[usize]) -> MicroBatch {
    let rows: Vec<Target> = labels.iter().map(|&l| Target::hard(l)).collect();
    MicroBatch {
        inputs: inputs(),
        targets: Targets::of(&rows.iter().collect::<Vec<_>>(), &Device::Cpu).unwrap(),
        unlabelled: None,
    }
}
