//! Subcommands of the command-line contract that are not built yet.

use clap::Args as ClapArgs;

/// Accepts any flags so scripts get the honest "not yet implemented" answer, not a usage error.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Flags of the command (ignored until it is implemented).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub rest: Vec<String>,
}

/// Report that `name` is not implemented yet (exit code 2, no output files).
pub fn run(name: &str) -> anyhow::Result<()> {
    crate::bad_input!("dapt {name}: not yet implemented in this version of dapt")
}
