//! Error kinds that decide the exit code: bad input (2) versus runtime failure (1).

use std::fmt;
use std::path::Path;

/// Something the user gave dapt is wrong (a file, a line, a field, a flag).
///
/// Commands exit with code 2 when the error chain contains one of these, and with 1
/// otherwise. The message always says where the problem is and how to fix it.
#[derive(Debug)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

impl InputError {
    /// An error about one line of one file: `file:line: field: what is wrong`.
    pub fn at_line(path: &Path, line: u64, what: impl fmt::Display) -> Self {
        InputError(format!("{}:{line}: {what}", path.display()))
    }

    /// An error about a whole file or directory.
    pub fn at_path(path: &Path, what: impl fmt::Display) -> Self {
        InputError(format!("{}: {what}", path.display()))
    }
}

/// Shorthand: return early with an [`InputError`].
#[macro_export]
macro_rules! bad_input {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::error::InputError(format!($($arg)*))))
    };
}

/// A child `dapt` process failed with this exit code (a `dapt pipeline` stage): the
/// parent exits with the same code, so a cron wrapper sees 75 or 2 as the stage did.
#[derive(Debug)]
pub struct ChildFailed(pub i32, pub String);

impl fmt::Display for ChildFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for ChildFailed {}

/// The process exit code for an error: a failed child's own code, 75 when another job
/// holds the output ([`crate::lock::EXIT_LOCKED`]), 2 for bad input, 1 for anything else.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if let Some(ChildFailed(code, _)) = err.chain().find_map(|e| e.downcast_ref()) {
        *code
    } else if err.chain().any(|e| e.is::<crate::lock::Locked>()) {
        crate::lock::EXIT_LOCKED
    } else if err.chain().any(|e| e.is::<InputError>()) {
        2
    } else {
        1
    }
}
