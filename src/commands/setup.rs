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
pub(crate) fn store_path(path: Option<&Path>, config: &Config) -> PathBuf {
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
    let options = StoreOptions {
        retention_days: config.store.retention_days,
    };
    open_store_at(store_path(path, config), options, access)
}

/// [`open_store`] of a path and options already known.
pub(crate) fn open_store_at(
    path: PathBuf,
    options: StoreOptions,
    access: Access,
) -> Result<Store, CommandError> {
    let store = Store::open_with_progress(&path, options, &mut |progress| {
        eprintln!("syncdeck: {}", progress.line);
        tracing::info!("{}", progress.line);
    })?;
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

/// The config and store of a command that sends nothing (`report`, `contracts`): what it needs
/// is in the store, so no credential has to be set (an unresolved secret reads as empty), and
/// with no config file at all the store is read alone — `--store`, else the platform's default
/// store when it exists. A config that is there but wrong is still an error.
pub(crate) fn open_for_reading(
    config: Option<&Path>,
    store: Option<&Path>,
    access: Access,
) -> Result<(Option<Config>, Store), CommandError> {
    let config_path = config
        .map(Path::to_path_buf)
        .unwrap_or_else(crate::paths::default_config_file);
    if config_path.exists() {
        let config = config::load(&config_path, &Environment::for_reading())?;
        let store = open_store(store, &config, access)?;
        return Ok((Some(config), store));
    }
    // A config named outright must be there; the store alone is read only when none was named.
    let store_path = match (config, store) {
        (Some(_), _) => return Err(CommandError::NoConfig(config_path)),
        (None, Some(path)) => path.to_path_buf(),
        (None, None) if crate::paths::default_store_file().exists() => {
            crate::paths::default_store_file()
        }
        (None, None) => return Err(CommandError::NoConfig(config_path)),
    };
    // Reading makes nothing: a store that is not there is not created empty.
    if !store_path.exists() {
        return Err(StoreError::Unreadable {
            path: store_path,
            reason: "there is no such file (name the store with --store PATH)".to_string(),
        }
        .into());
    }
    // Without its config, the store's retention is not known here: prune nothing.
    let keep_all = StoreOptions { retention_days: 0 };
    let store = open_store_at(store_path, keep_all, access)?;
    Ok((None, store))
}
