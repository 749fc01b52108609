//! A run dir's JSON and TSV files: `trainer_state.json`, and `metrics.jsonl`, `cv.json`,
//! `oof.tsv`, `folds.json` as `dapt report` and `dapt stack` read them (parts of one input
//! split at 0xff bytes).
#![no_main]

use dapt::data::pairs::PairRecord;
use dapt::train::pretrain::TrainerState;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 5);
    let _ = TrainerState::load(&common::file("trainer_state.json", p[0]));
    let dir = common::scratch().join("run");
    let _ = std::fs::create_dir(&dir);
    for (name, bytes) in ["metrics.jsonl", "cv.json", "oof.tsv", "folds.json"]
        .iter()
        .zip(&p[1..])
    {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let _ = dapt::report::render(std::slice::from_ref(&dir));
    let pairs: Vec<PairRecord> = (0..4)
        .map(|i| PairRecord {
            a: "1 2".into(),
            b: "3".into(),
            label: Some(i % 2),
            line: i as u64 + 1,
        })
        .collect();
    let _ = dapt::infer::stack::runs::Run::load(&dir, std::path::Path::new("t.tsv"), &pairs);
});
