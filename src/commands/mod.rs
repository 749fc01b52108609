//! One file per subcommand: each wires the library's parts together, nothing clever.

pub mod average;
pub mod config;
pub mod distill;
pub mod encode;
pub mod eval;
pub mod finetune;
pub mod inspect;
pub mod pipeline;
pub mod predict;
pub mod pretrain;
pub mod report;
pub mod stack;
pub mod vocab;
