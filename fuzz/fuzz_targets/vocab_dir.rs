//! A vocabulary dir: `vocab.txt`, `counts.tsv`, `dapt_vocab.json` and `tokenizer.json`
//! from one input (parts split at 0xff bytes), loaded as `--vocab` is.
#![no_main]

use dapt::text::vocab::Vocab;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 4);
    let dir = common::scratch().join("vocab");
    let _ = std::fs::create_dir(&dir);
    for (name, bytes) in [
        "vocab.txt",
        "counts.tsv",
        "dapt_vocab.json",
        "tokenizer.json",
    ]
    .iter()
    .zip(&p)
    {
        let path = dir.join(name);
        if bytes.is_empty() {
            let _ = std::fs::remove_file(&path);
        } else {
            std::fs::write(&path, bytes).unwrap();
        }
    }
    let _ = Vocab::load(&dir);
});
