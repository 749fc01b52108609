//! A shard: opened (header, block index, every document's bounds), every block's
//! checksum checked, and every document read.
#![no_main]

use dapt::data::shard::Shard;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::file("f.shard", data);
    let Ok(shard) = Shard::open(&path) else {
        return;
    };
    let _ = shard.verify_all();
    for i in 0..shard.num_docs().min(10_000) {
        let d = shard.doc(i);
        for j in 0..d.len() {
            let _ = (d.id(j), d.is_word_start(j));
        }
        let _ = d.split();
    }
});
