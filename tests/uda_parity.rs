//! UDA's loss against a PyTorch implementation of the paper's code (fixture made by
//! tests/fixtures/uda/make_fixture.py): TSA thresholds from the schedules, the labelled
//! cross-entropy over the rows TSA keeps, the sharpened and confidence-masked
//! consistency term, their weighted sum and its gradients with respect to the labelled
//! and the augmented logits.

use candle_core::{Device, Tensor, Var};
use clap::ValueEnum;
use dapt::data::labels::Labels;
use dapt::train::finetune::step::Objective;
use dapt::train::tasks::pair::{PairClassification, PairLoss, Target, Targets};
use dapt::train::techniques::uda::data::{consistency, Tsa};
use dapt::train::techniques::{Annealing, Technique};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    labelled: Vec<Vec<f64>>,
    labels: Vec<usize>,
    original: Vec<Vec<f64>>,
    augmented: Vec<Vec<f64>>,
    weight: Option<Vec<f64>>,
    schedule: String,
    progress: f64,
    tau: f64,
    beta: f64,
    lambda: f64,
    threshold: f64,
    masked_in: usize,
    sup: f64,
    unsup: f64,
    loss: f64,
    grad_labelled: Vec<Vec<f64>>,
    grad_augmented: Vec<Vec<f64>>,
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-10 * want.abs().max(1.0),
        "{what}: {got} vs {want}"
    );
}

#[test]
fn matches_the_papers_loss_in_torch() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/uda/uda_loss.json"
    );
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(cases.len(), 5);
    let dev = Device::Cpu;
    for (i, c) in cases.iter().enumerate() {
        let classes = c.labelled[0].len();
        let tsa = Tsa::from_str(&c.schedule, true).unwrap();
        let eta = tsa.threshold(c.progress, classes);
        close(eta, c.threshold, &format!("case {i} threshold"));
        let labelled = Var::from_tensor(&Tensor::new(c.labelled.clone(), &dev).unwrap()).unwrap();
        let augmented = Var::from_tensor(&Tensor::new(c.augmented.clone(), &dev).unwrap()).unwrap();
        let original = Tensor::new(c.original.clone(), &dev).unwrap();
        let rows: Vec<Target> = c.labels.iter().map(|&l| Target::hard(l)).collect();
        let targets = Targets::of(&rows.iter().collect::<Vec<_>>(), &dev).unwrap();
        let task = PairClassification {
            classes,
            labels: Labels::Ids(None),
            loss: PairLoss {
                class_weight: c.weight.clone(),
                label_smoothing: 0.0,
            },
        };
        // TSA at step `progress` x 10 of 10 (exact: the progress values are tenths).
        let mut tsa_technique = Annealing::new(tsa, classes);
        tsa_technique.begin_step((c.progress * 10.0).round() as u64, 10);
        let techniques: Vec<Box<dyn Technique>> = vec![Box::new(tsa_technique)];
        let objective = Objective {
            task: &task,
            techniques: &techniques,
        };
        let sup = objective.objective(labelled.as_tensor(), &targets).unwrap();
        close(
            sup.to_scalar::<f64>().unwrap(),
            c.sup,
            &format!("case {i} sup"),
        );
        let (unsup, kept) = consistency(&original, augmented.as_tensor(), c.tau, c.beta).unwrap();
        assert_eq!(kept, c.masked_in, "case {i}: confident rows");
        close(
            unsup.to_scalar::<f64>().unwrap(),
            c.unsup,
            &format!("case {i} unsup"),
        );
        let loss = (sup + (unsup * c.lambda).unwrap()).unwrap();
        close(
            loss.to_scalar::<f64>().unwrap(),
            c.loss,
            &format!("case {i} loss"),
        );
        let grads = loss.backward().unwrap();
        for (var, want, name) in [
            (&labelled, &c.grad_labelled, "labelled"),
            (&augmented, &c.grad_augmented, "augmented"),
        ] {
            let g: Vec<Vec<f64>> = grads.get(var.as_tensor()).unwrap().to_vec2().unwrap();
            for (row, (gr, er)) in g.iter().zip(want).enumerate() {
                for (x, e) in gr.iter().zip(er) {
                    assert!(
                        (x - e).abs() <= 1e-10,
                        "case {i} {name} row {row}: {x} vs {e}"
                    );
                }
            }
        }
    }
}
