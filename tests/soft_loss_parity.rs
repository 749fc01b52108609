//! The soft-target (distillation) objective of `dapt finetune --soft-labels` against
//! PyTorch (fixture made by tests/fixtures/soft/make_fixture.py): α·CE(hard rows) +
//! (1−α)·T²·KL(softmax(ln p / T) ‖ softmax(z / T)) over the soft rows; loss and logits
//! gradient, for rows with both, one or the other kind of target.

use candle_core::{Device, Tensor, Var};
use dapt::data::labels::Labels;
use dapt::train::finetune::step::Objective;
use dapt::train::soft::{tempered, SoftLossArgs};
use dapt::train::tasks::pair::{PairClassification, PairLoss, Target, Targets};
use dapt::train::techniques::{SoftLabels, Technique};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    logits: Vec<Vec<f64>>,
    labels: Vec<Option<usize>>,
    teacher: Vec<Option<Vec<f64>>>,
    weight: Option<Vec<f64>>,
    label_smoothing: f64,
    alpha: f64,
    temperature: f64,
    loss: f64,
    grad: Vec<Vec<f64>>,
}

#[test]
fn matches_torch_distillation_loss() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/soft/soft_loss.json"
    );
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(cases.len(), 8);
    for (i, c) in cases.iter().enumerate() {
        let dev = Device::Cpu;
        let logits = Var::from_tensor(&Tensor::new(c.logits.clone(), &dev).unwrap()).unwrap();
        let rows: Vec<Target> = c
            .labels
            .iter()
            .zip(&c.teacher)
            .map(|(&label, p)| Target {
                label,
                soft: p.as_ref().map(|p| tempered(p, c.temperature)),
            })
            .collect();
        let targets = Targets::of(&rows.iter().collect::<Vec<_>>(), &dev).unwrap();
        let soft_loss = SoftLossArgs {
            distill_alpha: c.alpha,
            temperature: c.temperature,
        };
        let task = PairClassification {
            classes: c.logits[0].len(),
            labels: Labels::Ids(None),
            loss: PairLoss {
                class_weight: c.weight.clone(),
                label_smoothing: c.label_smoothing,
            },
        };
        let techniques: Vec<Box<dyn Technique>> = vec![Box::new(SoftLabels::new(&soft_loss))];
        let objective = Objective {
            task: &task,
            techniques: &techniques,
        };
        let loss = objective.objective(logits.as_tensor(), &targets).unwrap();
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

#[test]
fn without_soft_labels_the_objective_is_the_cross_entropy() {
    let dev = Device::Cpu;
    let logits = Tensor::new(&[[1.0f64, -0.5], [0.2, 0.3], [-1.0, 2.0]], &dev).unwrap();
    let ys = Tensor::new(&[0u32, 1, 1], &dev).unwrap();
    let rows = [Target::hard(0), Target::hard(1), Target::hard(1)];
    let targets = Targets::of(&rows.iter().collect::<Vec<_>>(), &dev).unwrap();
    let task = PairClassification {
        classes: 2,
        labels: Labels::Ids(None),
        loss: PairLoss {
            class_weight: Some(vec![1.0, 1.3]),
            label_smoothing: 0.1,
        },
    };
    let objective = Objective {
        task: &task,
        techniques: &[],
    };
    let got = objective
        .objective(&logits, &targets)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    let want = dapt::train::loss::cross_entropy(&logits, &ys, Some(&[1.0, 1.3]), 0.1)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert_eq!(got, want);
}
