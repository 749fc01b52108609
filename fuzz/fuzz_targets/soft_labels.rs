//! Soft labels and prediction TSVs (`--soft-labels`: `predict --with-ids` output or an
//! `oof.tsv`).
#![no_main]

use dapt::data::soft_labels::SoftLabels;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::file("soft.tsv", data);
    let _ = SoftLabels::read(&path);
});
