//! What commands start with: the config named on the command line and the store, opened for
//! what the command does with it.

use std::path::{Path, PathBuf};

use super::exit::CommandError;
use crate::config::{self, Config, Environment};
use crate::store::{Store, StoreError, StoreOptions};

/// Loads the config named on the command line, else the platform default.
pub(crate) fn load_config(path: Option<&Path>) -> Result<Config, CommandError> {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(crate::paths::default_config_file);
    if !path.exists() {
        return Err(CommandError::NoConfig(path));
    }
    Ok(config::load(&path, &Environment::process())?)
}

/// What a command does with the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Only reads it: a read-only store will do.
    Read,
    /// Records what it does: a read-only store is refused before anything starts.
    Write,
}

/// The store's file: `--store`, else `[store] path`, else the platform data dir.
fn store_path(path: Option<&Path>, config: &Config) -> PathBuf {
    path.map(Path::to_path_buf)
        .or_else(|| config.store.path.clone())
        .unwrap_or_else(crate::paths::default_store_file)
}

/// Opens the store (shared with every other syncdeck process on the host) for `access`. Says
/// on stderr how a migration goes and what processes that are gone left behind.
pub(crate) fn open_store(
    path: Option<&Path>,
    config: &Config,
    access: Access,
) -> Result<Store, CommandError> {
    let path = store_path(path, config);
    let store = Store::open_with_progress(
        &path,
        StoreOptions {
            retention_days: config.store.retention_days,
        },
        &mut |progress| {
            eprintln!("syncdeck: {}", progress.line);
            tracing::info!("{}", progress.line);
        },
    )?;
    if let (Access::Write, Some(reason)) = (access, store.read_only_reason()) {
        return Err(StoreError::ReadOnly {
            path,
            reason: reason.to_string(),
        }
        .into());
    }
    if let Some(summary) = store.recovery().summary() {
        eprintln!("syncdeck: {summary}");
        tracing::warn!("{summary}");
    }
    Ok(store)
}
