//! A shard: opened (header, block index, every document's bounds), every block's
//! checksum checked, and every document read.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::read_shard(&common::file("f.shard", data));
});
