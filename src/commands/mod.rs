//! One file per subcommand: each wires the library's parts together, nothing clever.

pub mod pending;
