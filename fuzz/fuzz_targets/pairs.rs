//! Pair TSVs and line corpora: the checked text reader and the line parser, and
//! `read_pairs` (finetune, predict, eval) with and without labels and a header.
#![no_main]

use dapt::data::pairs::read_pairs;
use dapt::text::corpus::{check_text, parse_line, Format};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::file("pairs.tsv", data);
    if let Ok(text) = check_text(&path, data, 1, 0) {
        for line in text.lines() {
            let _ = parse_line(Format::Pairs, line);
            let _ = parse_line(Format::Lines, line);
        }
    }
    let _ = read_pairs(&path, false, false, None);
    let _ = read_pairs(&path, true, true, Some(2));
});
