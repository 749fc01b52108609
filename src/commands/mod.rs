//! One file per subcommand: each wires the library's parts together, nothing clever.

pub mod config;
pub mod encode;
pub mod inspect;
pub mod pending;
pub mod pipeline;
pub mod pretrain;
pub mod vocab;
