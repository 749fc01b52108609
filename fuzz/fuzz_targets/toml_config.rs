//! A TOML config (`--config FILE.toml`): turned into a subcommand's flags.
#![no_main]

use dapt::commands::config::config_flags;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let path = common::file("c.toml", data);
    for stage in ["vocab", "pretrain", "finetune"] {
        let _ = config_flags(&path, stage, &[]);
    }
});
