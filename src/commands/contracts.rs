//! `syncdeck contracts`: list, search or delete sync contracts.

use super::{CommandError, Exit};
use crate::config::Config;
use crate::store::Store;

/// Lists the contracts of one connection (all when None), or deletes one.
pub fn run(
    config: &Config,
    store: &Store,
    connection: Option<String>,
    delete: Option<String>,
    search: Option<String>,
    json: bool,
) -> Result<Exit, CommandError> {
    let _ = (config, store, connection, delete, search, json);
    eprintln!("syncdeck contracts: not built yet");
    Ok(Exit::Usage)
}
