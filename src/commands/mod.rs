//! What each subcommand does; `main` parses and hands over here.

mod check_config;
mod demo_server;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::config::ConfigError;
use crate::store::StoreError;

/// The exit codes of SPEC section 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Success = 0,
    /// The job ran but some records failed.
    RecordsFailed = 1,
    /// Bad usage or configuration.
    Usage = 2,
    /// The store is in use or unreadable.
    Store = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// A command that could not do its job, with the exit code that says why.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl CommandError {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Config(_) => Exit::Usage,
            CommandError::Store(e) if e.exit_code() == 3 => Exit::Store,
            CommandError::Store(_) | CommandError::Io { .. } => Exit::RecordsFailed,
        }
    }
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<Exit, CommandError> {
    match cli.command {
        Some(Command::CheckConfig { path }) => {
            let path = path
                .or(cli.config)
                .unwrap_or_else(crate::paths::default_config_file);
            check_config::run(&path)
        }
        Some(Command::DemoServer {
            port,
            fleet_size,
            seed,
        }) => demo_server::run(port, fleet_size as usize, seed),
        None => {
            // Reached with only global options (`syncdeck --config x`): say what to type.
            use clap::CommandFactory;
            eprintln!("{}", Cli::command().render_help());
            Ok(Exit::Usage)
        }
    }
}
