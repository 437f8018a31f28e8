//! `syncdeck store compact`: gives the store file's free space back.

use super::{CommandError, Exit};
use crate::store::Store;

const MIB: f64 = 1024.0 * 1024.0;

/// Compacts the store; exit 3 (through the error) while it is busy.
pub fn compact(store: &Store) -> Result<Exit, CommandError> {
    let started = std::time::Instant::now();
    let compacted = store.compact()?;
    println!(
        "store {} compacted: {:.1} MiB -> {:.1} MiB in {:.1} s",
        store.path().display(),
        compacted.bytes_before as f64 / MIB,
        compacted.bytes_after as f64 / MIB,
        started.elapsed().as_secs_f64()
    );
    Ok(Exit::Success)
}
