//! A checkpoint's `config.json`, read and validated as `--init` and `--model-config` do.
#![no_main]

use dapt::model::BertConfig;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::file("config.json", data);
    if let Ok(c) = BertConfig::read(&path) {
        let _ = (c.head_dim(), c.embedding_width());
    }
});
