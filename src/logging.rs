//! Logging: tracing to a daily file under the log directory, never to the terminal (the TUI owns
//! it). `SYNCDECK_LOG` sets the filter (default `info`).

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Environment variable holding the log filter, e.g. `SYNCDECK_LOG=syncdeck=debug`.
pub const FILTER_ENV: &str = "SYNCDECK_LOG";
/// Base name of the log files (`syncdeck.log.2026-11-22`).
pub const FILE_PREFIX: &str = "syncdeck.log";

/// Keeps the background log writer alive; logs are flushed when it drops.
pub struct LogGuard {
    _guard: WorkerGuard,
    /// The directory the log files go to.
    pub dir: PathBuf,
}

/// Starts logging to daily files in `dir` (created if missing), keeping the last 14 files.
/// Fails only when the directory cannot be created; the caller reports it and goes on.
pub fn init(dir: &Path) -> std::io::Result<LogGuard> {
    std::fs::create_dir_all(dir)?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(FILE_PREFIX)
        .max_log_files(14)
        .build(dir)
        .map_err(std::io::Error::other)?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env(FILTER_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init in one process (tests) keeps the first subscriber; that is fine.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .with_target(true)
        .try_init();
    Ok(LogGuard {
        _guard: guard,
        dir: dir.to_path_buf(),
    })
}
