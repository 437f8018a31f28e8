//! How a command ends: its exit code (SPEC section 6), or the error that stopped it.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::ConfigError;
use crate::store::StoreError;

/// The exit codes of SPEC section 6, and the conventional 128 + N after signal N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Success,
    /// The job ran but some records failed.
    RecordsFailed,
    /// Bad usage or configuration.
    Usage,
    /// The store is unreadable (or read-only for a command that writes), or a connection is
    /// held by another process's Live run.
    Store,
    /// Ended by this signal (SIGHUP 1, SIGINT 2, SIGTERM 15).
    Signal(i32),
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::RecordsFailed => 1,
            Exit::Usage => 2,
            Exit::Store => 3,
            Exit::Signal(number) => 128u8.saturating_add(number.clamp(0, 127) as u8),
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// A command that could not do its job, with the exit code that says why.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("no config at {}: write one (see config.example.toml), pass --config, or try `syncdeck demo`", .0.display())]
    NoConfig(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The store could not record (a full disk): the lines that say so and what to do.
    #[error("{}", .0.join("\nsyncdeck: "))]
    Recording(Vec<String>),
}

impl CommandError {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Config(_) | CommandError::NoConfig(_) => Exit::Usage,
            CommandError::Store(e) if e.exit_code() == 3 => Exit::Store,
            CommandError::Recording(_) => Exit::Store,
            CommandError::Store(_) | CommandError::Io { .. } => Exit::RecordsFailed,
        }
    }
}
