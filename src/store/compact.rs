//! Giving the file's free space back: redb grows a file (doubling it while it is under 4 GiB)
//! and never shrinks it on its own, so after a large run or a large prune much of the file can
//! be free pages. [`Store::compact`] moves what is kept to the front and cuts the rest off
//! (`syncdeck store compact`; and at the end of a run after a prune that deleted many entries
//! or a run that grew the file a lot, [`Store::compact_if_worthwhile`]).

use std::sync::{Arc, PoisonError};

use redb::{CompactionError, ReadableTableMetadata, TableHandle};

use super::Store;
use super::database::Handle;
use super::error::{StoreError, db};
use super::tables::RUNNING;

/// A prune that deleted at least this many entries leaves enough free pages to be worth a
/// compaction afterwards.
pub const COMPACT_AFTER_PRUNED: u64 = 100_000;
/// A command that grew the file by at least this much (and a quarter) compacts it at its end.
pub const COMPACT_AFTER_GROWTH: u64 = 64 * 1024 * 1024;

/// Where the bytes of the store's file go, from redb's statistics ([`Store::space`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpaceStats {
    /// The file's length.
    pub file_bytes: u64,
    /// Pages in use (tables, their B-tree branches, redb's own tables), in bytes.
    pub allocated_bytes: u64,
    /// Bytes of keys and values in the tables' leaves.
    pub stored_bytes: u64,
    /// redb's own bookkeeping (system tables, B-tree metadata).
    pub metadata_bytes: u64,
    /// Allocated but holding nothing: free pages waiting to be reused and the unused ends of
    /// pages.
    pub fragmented_bytes: u64,
    /// Each table, in name order.
    pub tables: Vec<TableSpace>,
}

/// What one table holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableSpace {
    pub name: String,
    pub rows: u64,
    /// Bytes of its keys and values.
    pub stored_bytes: u64,
    /// Bytes of the pages of its B-tree (leaves and branches).
    pub page_bytes: u64,
}

/// The file's size before and after a compaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compacted {
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl Store {
    /// Compacts the store's file. Refused (exit code 3) while a run is going in any process,
    /// while another process is inside a transaction, or while this process still holds one:
    /// compaction needs the file to itself for as long as it takes (seconds for a million
    /// entries), and other processes wait for it meanwhile.
    pub fn compact(&self) -> Result<Compacted, StoreError> {
        let path = self.path().to_path_buf();
        if let Some(reason) = self.read_only_reason() {
            return Err(StoreError::ReadOnly {
                path,
                reason: reason.to_string(),
            });
        }
        self.check_file()?;
        let running = {
            let txn = self.read()?;
            let table = txn.open_table(RUNNING).map_err(db("opening running"))?;
            table.len().map_err(db("counting running rows"))?
        };
        if running > 0 {
            return Err(busy(&self.inner.path, "a run is going"));
        }
        let bytes_before = file_len(&path);
        let mut slot = self
            .inner
            .handle
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(handle) = slot.take() else {
            return Err(busy(&path, "it is being opened again after a failed write"));
        };
        let mut handle = match Arc::try_unwrap(handle) {
            Ok(handle) => handle,
            Err(shared) => {
                *slot = Some(shared);
                return Err(busy(&path, "this process is reading or writing it"));
            }
        };
        let result = match &mut handle {
            Handle::Shared(database) => compact_all(database),
            Handle::ReadOnly { .. } => Ok(()),
        };
        *slot = Some(Arc::new(handle));
        drop(slot);
        match result {
            Ok(()) => Ok(Compacted {
                bytes_before,
                bytes_after: file_len(&path),
            }),
            Err(CompactionError::TransactionInProgress) => {
                Err(busy(&path, "another process is reading or writing it"))
            }
            Err(error) => Err(db("compacting the store")(error)),
        }
    }

    /// Where the file's bytes go now: what the tables hold, what redb keeps, what is free. Takes
    /// the write lock for a moment (a transaction that commits nothing).
    pub fn space(&self) -> Result<SpaceStats, StoreError> {
        let handle = self.handle()?;
        let Handle::Shared(database) = &*handle else {
            return Err(StoreError::ReadOnly {
                path: self.path().to_path_buf(),
                reason: self.read_only_reason().unwrap_or_default().to_string(),
            });
        };
        let txn = database
            .begin_write()
            .map_err(db("starting a write transaction"))?;
        let stats = txn.stats().map_err(db("reading the file's statistics"))?;
        txn.abort().map_err(db("ending a look at the file"))?;
        let page_size = stats.page_size() as u64;
        let mut tables = Vec::new();
        let read = self.read()?;
        for handle in read.list_tables().map_err(db("listing tables"))? {
            let table = read
                .open_untyped_table(handle)
                .map_err(db("opening a table"))?;
            let table_stats = table.stats().map_err(db("reading a table's statistics"))?;
            tables.push(TableSpace {
                name: table.name().to_string(),
                rows: table.len().map_err(db("counting a table's rows"))?,
                stored_bytes: table_stats.stored_bytes(),
                page_bytes: (table_stats.leaf_pages() + table_stats.branch_pages()) * page_size,
            });
        }
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(SpaceStats {
            file_bytes: self.file_len(),
            allocated_bytes: stats.allocated_pages() * stats.page_size() as u64,
            stored_bytes: stats.stored_bytes(),
            metadata_bytes: stats.metadata_bytes(),
            fragmented_bytes: stats.fragmented_bytes(),
            tables,
        })
    }

    /// The store file's size now.
    pub fn file_len(&self) -> u64 {
        file_len(self.path())
    }

    /// Compacts when it is worth it, at the end of a command once its results are out: after a
    /// prune at open that deleted at least [`COMPACT_AFTER_PRUNED`] entries, or when the file
    /// grew by a quarter or more (and at least [`COMPACT_AFTER_GROWTH`] bytes) since it was
    /// `len_before` bytes long. redb grows a file by doubling it, so a run that grows the file
    /// leaves up to half of it free; a run on a store in its steady state (a nightly run that
    /// reuses what retention freed) grows it little and is not followed by a compaction, whose
    /// cost grows with the store. None when there was nothing worth doing, or the store is
    /// busy (the next command tries again); Some says what it gave back.
    pub fn compact_if_worthwhile(&self, len_before: u64) -> Option<Compacted> {
        let grown = self.file_len().saturating_sub(len_before);
        let pruned = self.pruned().entries;
        if !worth_compacting(pruned, grown, len_before) || self.read_only_reason().is_some() {
            return None;
        }
        match self.compact() {
            Ok(compacted) => {
                tracing::info!(
                    before = compacted.bytes_before,
                    after = compacted.bytes_after,
                    pruned,
                    grown,
                    "store compacted"
                );
                Some(compacted)
            }
            Err(error) => {
                tracing::info!("store not compacted: {error}");
                None
            }
        }
    }
}

/// A prune of [`COMPACT_AFTER_PRUNED`] entries, or a growth of [`COMPACT_AFTER_GROWTH`] bytes
/// that is also a quarter of the file's size before it.
fn worth_compacting(pruned_entries: u64, grown: u64, len_before: u64) -> bool {
    pruned_entries >= COMPACT_AFTER_PRUNED
        || (grown >= COMPACT_AFTER_GROWTH && grown >= len_before / 4)
}

/// Compacts until redb says there is nothing more to move.
fn compact_all(database: &mut redb::Database) -> Result<(), CompactionError> {
    while database.compact()? {}
    Ok(())
}

fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |meta| meta.len())
}

fn busy(path: &std::path::Path, reason: &str) -> StoreError {
    StoreError::Busy {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn large_prunes_and_large_growth_are_worth_a_compaction_small_ones_are_not() {
        assert!(worth_compacting(COMPACT_AFTER_PRUNED, 0, 10_000 * MIB));
        assert!(!worth_compacting(COMPACT_AFTER_PRUNED - 1, 0, 0));
        // A first million entries: the file grew from 2 MiB to 346 MiB.
        assert!(worth_compacting(0, 344 * MIB, 2 * MIB));
        // A nightly run on a 9 GB store that grew it by 100 MiB: not worth moving 9 GB.
        assert!(!worth_compacting(0, 100 * MIB, 9_000 * MIB));
        assert!(!worth_compacting(0, 63 * MIB, 0));
    }
}
