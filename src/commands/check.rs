//! `syncdeck check`: the health check of each connection (see [`crate::engine::health`]).

use std::path::Path;

use super::{CommandError, Exit};
use crate::config::Config;

/// Checks the named connections (all when empty), prints each step, keeps the results in the
/// store when it can be opened; exit 1 when any step failed.
pub fn run(
    config: Config,
    store: Option<&Path>,
    connections: Vec<String>,
    json: bool,
) -> Result<Exit, CommandError> {
    let _ = (config, store, connections, json);
    eprintln!("syncdeck check: not built yet");
    Ok(Exit::Usage)
}
