//! The open store: its redb handle, the file it was opened from, and the read and write
//! transactions every other part of the store goes through. A leaf of the store: the parts that
//! read and write (and the open, in `open.rs`) build on it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use redb::{
    ConcurrencyMode, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    WriteTransaction,
};

use super::error::{StoreError, db};
use super::recovered::Recovery;
use super::tables::{CHANGES_KEY, META};

/// How long entries and finished runs are kept, unless the configuration says otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 15;

/// Options of [`Store::open`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Entries and finished runs older than this many days are pruned; 0 keeps everything.
    pub retention_days: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retention_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

/// An open store; cheap to clone and safe to share between threads.
#[derive(Clone)]
pub struct Store {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    /// None only while [`Store::reopen`] replaces it.
    pub(super) handle: RwLock<Option<Arc<Handle>>>,
    /// Why the store is open for reading only, when it is (set at open).
    pub(super) read_only: Option<String>,
    /// The mode the file was opened in, to open it again alike.
    pub(super) mode: ConcurrencyMode,
    pub(super) path: PathBuf,
    pub(super) options: StoreOptions,
    pub(super) recovery: Recovery,
    /// The file opened: a write notices when the path names another file, or none.
    pub(super) file: Option<FileId>,
    /// What the prune at open deleted.
    pub(super) pruned: std::sync::Mutex<super::types::PruneStats>,
}

/// Which file a path names (device and inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileId(u64, u64);

pub(super) fn file_id(path: &Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path)
            .ok()
            .map(|meta| FileId(meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        // Elsewhere an open file cannot be removed: the check has nothing to find.
        std::fs::metadata(path).ok().map(|_| FileId(0, 0))
    }
}

/// How the file is open.
pub(crate) enum Handle {
    /// For reading and writing, shared with every other syncdeck process.
    Shared(Database),
    /// For reading only: the file system is read-only, or this user may not write the file.
    ReadOnly {
        database: ReadOnlyDatabase,
        reason: String,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .field("read_only", &self.read_only_reason())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// What the prune at open deleted.
    pub fn pruned(&self) -> super::types::PruneStats {
        *self
            .inner
            .pruned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> StoreOptions {
        self.inner.options
    }

    /// What the open found left behind by processes that are gone, for the operator to be told.
    pub fn recovery(&self) -> &Recovery {
        &self.inner.recovery
    }

    /// Why the store is open for reading only ("a read-only file system"); None when it can be
    /// written.
    pub fn read_only_reason(&self) -> Option<&str> {
        self.inner.read_only.as_deref()
    }

    pub(crate) fn read(&self) -> Result<ReadTransaction, StoreError> {
        match &*self.handle()? {
            Handle::Shared(database) => database.begin_read(),
            Handle::ReadOnly { database, .. } => database.begin_read(),
        }
        .map_err(db("starting a read transaction"))
    }

    /// A durable write transaction: its commit is on disk when `commit` returns. Refused when
    /// the store's file was removed or replaced since it was opened: on Linux the commit would
    /// succeed, into a file that goes with the process.
    pub(crate) fn write(&self) -> Result<WriteTransaction, StoreError> {
        self.check_file()?;
        match &*self.handle()? {
            Handle::Shared(database) => begin_write(database),
            Handle::ReadOnly { reason, .. } => Err(StoreError::ReadOnly {
                path: self.inner.path.clone(),
                reason: reason.clone(),
            }),
        }
    }

    /// How the file is open now.
    pub(crate) fn handle(&self) -> Result<Arc<Handle>, StoreError> {
        self.inner
            .handle
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| StoreError::Unreadable {
                path: self.inner.path.clone(),
                reason: "closed after a failed write; it is opened again at the next attempt"
                    .to_string(),
            })
    }

    /// Err when the store's path no longer names the file opened (a `stat`, once per write
    /// transaction: a batch of a thousand entries, or one operator action).
    pub(super) fn check_file(&self) -> Result<(), StoreError> {
        if self.inner.file.is_some() && file_id(&self.inner.path) != self.inner.file {
            return Err(StoreError::Gone {
                path: self.inner.path.clone(),
            });
        }
        Ok(())
    }
}

/// Every write transaction of the store starts here, so all commits are alike.
pub(crate) fn begin_write(database: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = database
        .begin_write()
        .map_err(db("starting a write transaction"))?;
    // Durability::Immediate is redb's default and nothing here lowers it: an entry whose batch
    // commit returned must survive a kill -9, and a Durability::None commit only reaches the
    // file with a later durable one (the multi-writer mode refuses it anyway).
    //
    // Quick repair saves the allocator state with each commit (and commits in two phases), so
    // the open after a kill -9 takes milliseconds instead of a walk over the whole file (about
    // 2 s for a million entries, measured); batches of a thousand entries hardly notice it. The
    // multi-writer mode needs it: the next writer, in any process, starts from that state.
    txn.set_quick_repair(true);
    bump(&txn)?;
    Ok(txn)
}

/// Adds one to the counter inside `txn`: the new value is seen when (and only if) it commits.
pub(crate) fn bump(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META).map_err(db("opening meta"))?;
    let now = meta
        .get(CHANGES_KEY)
        .map_err(db("reading the change counter"))?
        .map_or(0, |count| count.value());
    meta.insert(CHANGES_KEY, now.wrapping_add(1))
        .map_err(db("writing the change counter"))?;
    Ok(())
}
