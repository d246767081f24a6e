//! Exit codes and errors: what scripts can rely on.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | found / success |
//! | 1 | not found (lookup: nobody held it; subscriber: unknown; check: invalid config) |
//! | 2 | usage error, unreadable input, or the daemon could not be reached |
//! | 3 | lookup: the NAT logs do not cover the time (no answer either way) |

use std::fmt;

/// Success: the answer was found, or the action was done.
pub const EXIT_OK: i32 = 0;
/// The question had no answer (nobody held the port, no such subscriber,
/// the configuration is invalid).
pub const EXIT_NOT_FOUND: i32 = 1;
/// Bad usage, unreadable files, or no connection to the daemon.
pub const EXIT_ERROR: i32 = 2;
/// A lookup at a time the NAT logs do not cover: neither "held" nor
/// "nobody" can be said (issue 15).
pub const EXIT_NOT_COVERED: i32 = 3;

/// An error that ends the command, with its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The process exit code ([`EXIT_ERROR`] or [`EXIT_NOT_FOUND`]).
    pub code: i32,
    /// What went wrong (one line).
    pub message: String,
    /// What to try next, if anything (one or more lines).
    pub hint: Option<String>,
}

impl CliError {
    /// A usage or I/O error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_ERROR,
            message: message.into(),
            hint: None,
        }
    }

    /// A "not found" answer that is reported as an error (exit 1).
    pub fn not_found(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_NOT_FOUND,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The error as JSON (`{"error": ..., "hint": ..., "exit_code": ...}`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.message, "hint": self.hint, "exit_code": self.code })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cgnatctl: {}", self.message)?;
        if let Some(h) = &self.hint {
            for line in h.lines() {
                write!(f, "\n  hint: {line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// The result of a command: its exit code on success (0 or 1).
pub type CmdResult = Result<i32, CliError>;
