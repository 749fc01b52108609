//! Learning-rate schedules against transformers' get_*_schedule_with_warmup and torch's
//! CosineAnnealingWarmRestarts (plus peak decay), at every step, from the committed fixture
//! made by tests/fixtures/optim/gen_fixtures.py.

mod optim_common;

use dapt::optim::{warmup_steps, Restarts, Schedule};
use optim_common::Fixture;
use serde_json::Value;

fn build(spec: &Value) -> Schedule {
    let peak = spec["peak_lr"].as_f64().unwrap();
    let warmup = spec["warmup_steps"].as_u64().unwrap();
    let total = spec["total_steps"].as_u64().unwrap();
    match spec["kind"].as_str().unwrap() {
        "constant" => Schedule::constant(peak, warmup),
        "linear" => Schedule::linear(peak, warmup, total),
        "cosine" => Schedule::cosine(peak, warmup, total),
        "cosine_restarts" => Schedule::cosine_restarts(
            peak,
            warmup,
            total,
            Restarts {
                first_cycle_ratio: spec["first_cycle_ratio"].as_f64().unwrap(),
                cycle_mult: spec["cycle_mult"].as_u64().unwrap() as u32,
                gamma: spec["gamma"].as_f64().unwrap(),
                min_lr: spec["min_lr"].as_f64().unwrap(),
            },
        ),
        k => panic!("unknown schedule kind {k}"),
    }
    .unwrap()
}

#[test]
fn every_schedule_matches_its_reference_at_every_step() {
    let f = Fixture::load("schedules.safetensors");
    let specs = f.json("schedules");
    let specs = specs.as_array().unwrap();
    assert_eq!(specs.len(), 7);
    for spec in specs {
        let id = spec["id"].as_str().unwrap();
        let schedule = build(spec);
        let want: Vec<f64> = f.get(id).to_vec1().unwrap();
        let mut worst = 0.0f64;
        for (step, &w) in want.iter().enumerate() {
            let got = schedule.lr(step as u64);
            let err = (got - w).abs() / w.abs().max(1e-300);
            assert!(
                err <= 1e-12 || got == w,
                "{id} step {step}: {got} vs reference {w}"
            );
            worst = worst.max(if got == w { 0.0 } else { err });
        }
        println!(
            "{id:>16}: {} steps, worst relative error {worst:.1e}",
            want.len()
        );
    }
}

#[test]
fn restarts_fixture_really_restarts_and_decays() {
    // Guard against a degenerate fixture: the gamma schedule must have at least three peaks,
    // each lower than the one before.
    let f = Fixture::load("schedules.safetensors");
    let lrs: Vec<f64> = f.get("restarts_gamma").to_vec1().unwrap();
    let peaks: Vec<f64> = (1..lrs.len() - 1)
        .filter(|&i| lrs[i] > lrs[i - 1] && lrs[i] >= lrs[i + 1])
        .map(|i| lrs[i])
        .collect();
    assert!(peaks.len() >= 3, "peaks {peaks:?}");
    assert!(peaks.windows(2).all(|w| w[1] < w[0]), "peaks {peaks:?}");
}

#[test]
fn warmup_ratio_rounds_up_like_hugging_face() {
    assert_eq!(warmup_steps(100, 0.1), 10);
    assert_eq!(warmup_steps(1000, 0.06), 60);
    assert_eq!(warmup_steps(15, 0.1), 2);
    assert_eq!(warmup_steps(100, 0.0), 0);
}

#[test]
fn schedules_round_trip_through_json() {
    let s = Schedule::cosine_restarts(
        1e-4,
        10,
        100,
        Restarts {
            first_cycle_ratio: 0.3,
            cycle_mult: 2,
            gamma: 0.7,
            min_lr: 1e-6,
        },
    )
    .unwrap();
    let back: Schedule = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

#[test]
fn bad_settings_are_refused_as_bad_input() {
    let r = |first_cycle_ratio, cycle_mult, gamma, min_lr| Restarts {
        first_cycle_ratio,
        cycle_mult,
        gamma,
        min_lr,
    };
    let errs = [
        Schedule::linear(-1.0, 0, 10).unwrap_err(),
        Schedule::cosine(1e-3, 20, 10).unwrap_err(),
        Schedule::cosine_restarts(1e-3, 0, 10, r(0.0, 1, 1.0, 0.0)).unwrap_err(),
        Schedule::cosine_restarts(1e-3, 0, 10, r(0.5, 0, 1.0, 0.0)).unwrap_err(),
        Schedule::cosine_restarts(1e-3, 0, 10, r(0.5, 1, 1.5, 0.0)).unwrap_err(),
        Schedule::cosine_restarts(1e-3, 0, 10, r(0.5, 1, 1.0, 1e-2)).unwrap_err(),
    ];
    for e in &errs {
        assert_eq!(dapt::error::exit_code(e), 2, "{e}");
    }
}
