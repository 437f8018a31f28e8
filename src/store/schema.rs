//! The schema version: written when a store is created, checked whenever one is opened.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableError};

use super::error::{StoreError, db};
use super::tables::*;

/// Refuses a store from a newer syncdeck; creates the tables and writes the version on a new one.
pub(crate) fn check_or_init(database: &Database, path: &Path) -> Result<(), StoreError> {
    let found = {
        let read = database
            .begin_read()
            .map_err(db("reading the schema version"))?;
        match read.open_table(META) {
            Ok(meta) => meta
                .get(SCHEMA_VERSION_KEY)
                .map_err(db("reading the schema version"))?
                .map(|version| version.value()),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(TableError::TableTypeMismatch { .. }) => {
                return Err(StoreError::Unreadable {
                    path: path.to_path_buf(),
                    reason: "it is a redb file, but not a syncdeck store".to_string(),
                });
            }
            Err(err) => return Err(db("reading the schema version")(err)),
        }
    };
    if let Some(found) = found.filter(|&found| found > SCHEMA_VERSION) {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    // A new store (or, once there are several versions, an older one to migrate here).
    let write = super::begin_write(database)?;
    {
        let mut meta = write.open_table(META).map_err(db("creating tables"))?;
        meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
            .map_err(db("writing the schema version"))?;
        let mut sequences = write.open_table(SEQUENCES).map_err(db("creating tables"))?;
        for name in [NEXT_RUN_ID, NEXT_SYNC_ID] {
            if sequences
                .get(name)
                .map_err(db("reading sequences"))?
                .is_none()
            {
                sequences.insert(name, 1).map_err(db("writing sequences"))?;
            }
        }
        // Opening a table in a write transaction creates it, so later reads never miss one.
        write.open_table(RUNS).map_err(db("creating tables"))?;
        write
            .open_table(CONNECTION_RUNS)
            .map_err(db("creating tables"))?;
        write.open_table(ENTRIES).map_err(db("creating tables"))?;
        write
            .open_table(ENTRIES_BY_TIME)
            .map_err(db("creating tables"))?;
        write
            .open_table(ENTRIES_BY_STATUS)
            .map_err(db("creating tables"))?;
        write
            .open_table(ENTRIES_BY_REFERENCE)
            .map_err(db("creating tables"))?;
        write
            .open_table(ENTRIES_BY_RUN)
            .map_err(db("creating tables"))?;
        write.open_table(CONTRACTS).map_err(db("creating tables"))?;
        write.open_table(SETTINGS).map_err(db("creating tables"))?;
    }
    write.commit().map_err(db("creating the store's tables"))?;
    Ok(())
}
