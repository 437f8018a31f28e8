//! The systems entries name, kept as a small table so that a report search can tell at once
//! whether its text could match a system.
//!
//! The search of SPEC section 5 matches "by system, sync id or reference". Sync ids and serials
//! are indexed; systems are not, and a substring of a system can only be checked entry by entry.
//! But a store holds entries of a handful of systems: when the search text is in none of them
//! (a serial, an id), the search is answered by the indexes alone.
//!
//! The table is a superset: [`record_systems`] adds the systems of every batch it is given and
//! nothing removes them (a pruned system only costs a search the scan it would have done
//! without the table). A store written before the table existed gets it, filled from its
//! entries, on its first commit of entries.

use redb::{
    ReadTransaction, ReadableTable, TableDefinition, TableError, TableHandle, WriteTransaction,
};

use super::error::{StoreError, db};
use super::report_summary::{Needs, Summary};
use super::tables::ENTRIES;
use super::types::ReportEntry;

/// System name → nothing: every system an entry has named.
pub(crate) const ENTRY_SYSTEMS: TableDefinition<&str, ()> = TableDefinition::new("entry_systems");

/// Adds the systems of `entries` to the table, creating and filling it first if the store has
/// none yet. Called by every commit of entries, in its transaction.
pub(crate) fn record_systems(
    txn: &WriteTransaction,
    entries: &[ReportEntry],
) -> Result<(), StoreError> {
    let exists = txn
        .list_tables()
        .map_err(db("listing tables"))?
        .any(|table| table.name() == ENTRY_SYSTEMS.name());
    let mut systems = txn
        .open_table(ENTRY_SYSTEMS)
        .map_err(db("opening the systems table"))?;
    if !exists {
        let names = super::entry_names::Names::from_table(
            &txn.open_table(super::entry_names::ENTRY_NAMES)
                .map_err(db("opening the entry names"))?,
        )?;
        let stored = txn.open_table(ENTRIES).map_err(db("opening entries"))?;
        for item in stored.iter().map_err(db("reading entries"))? {
            let (_, bytes) = item.map_err(db("reading entries"))?;
            let summary = Summary::read(bytes.value(), Needs::SYSTEM, &names)?;
            if systems
                .get(summary.system.as_ref())
                .map_err(db("reading the systems table"))?
                .is_none()
            {
                systems
                    .insert(summary.system.as_ref(), ())
                    .map_err(db("writing the systems table"))?;
            }
        }
    }
    let mut last: Option<&str> = None;
    for entry in entries {
        // Batches come from one connection run at a time: skip the repeats cheaply.
        if last == Some(entry.system.as_str()) {
            continue;
        }
        last = Some(entry.system.as_str());
        if systems
            .get(entry.system.as_str())
            .map_err(db("reading the systems table"))?
            .is_none()
        {
            systems
                .insert(entry.system.as_str(), ())
                .map_err(db("writing the systems table"))?;
        }
    }
    Ok(())
}

/// Every system entries have named, or None when the store has no such table yet (then any
/// entry may name any system).
pub(crate) fn known_systems(txn: &ReadTransaction) -> Result<Option<Vec<String>>, StoreError> {
    let table = match txn.open_table(ENTRY_SYSTEMS) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(err) => return Err(db("opening the systems table")(err)),
    };
    let mut systems = Vec::new();
    for item in table.iter().map_err(db("reading the systems table"))? {
        let (name, _) = item.map_err(db("reading the systems table"))?;
        systems.push(name.value().to_string());
    }
    Ok(Some(systems))
}
