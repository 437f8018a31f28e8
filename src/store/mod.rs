//! The embedded redb store: runs, connection runs, report entries, sync contracts, settings.
//!
//! One file, one process at a time ([`lock`]), durable commits. Writes come in batches
//! ([`WriteBatch`]) so that a Full run records many entries per transaction; reads are paged
//! through indexes and never load a whole table.

mod batch;
mod contracts;
mod entries;
mod error;
mod lock;
mod recovery;
pub mod recovery_file;
mod report;
mod report_scan;
mod report_summary;
mod report_systems;
mod retention;
mod runs;
mod schema;
mod settings;
mod tables;
mod timeline;
pub mod types;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use chrono::Utc;
use redb::{Database, DatabaseError, ReadTransaction, ReadableDatabase, WriteTransaction};

pub use batch::WriteBatch;
pub use contracts::{ContractPage, ContractQuery, ContractSort};
pub use entries::{EntryCursor, EntryPage, EntryQuery};
pub use error::{GONE, StoreError};
pub use recovery::{INTERRUPTED_MESSAGE, INTERRUPTED_NOTE, Recovery};
pub use report::{ReportFilter, ReportSort, SortColumn};
pub use retention::PruneStats;
pub use tables::SCHEMA_VERSION;
pub use types::*;

use error::db;
use lock::StoreLock;

/// How long entries and finished runs are kept, unless the configuration says otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 15;

/// redb's page cache: enough for the hot index pages of a report over a million entries, small
/// enough that a 100,000-record run (whose written pages stay cached) peaks well under 150 MiB.
/// redb allocates it as pages are read, not up front.
const CACHE_SIZE_BYTES: usize = 48 * 1024 * 1024;

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
    inner: Arc<Inner>,
}

// Field order matters: the database closes before the lock is released.
struct Inner {
    /// None only while [`Store::reopen`] replaces it.
    db: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
    options: StoreOptions,
    recovery: Recovery,
    /// The file opened: a write notices when the path names another file, or none.
    file: Option<FileId>,
    _lock: StoreLock,
}

/// Which file a path names (device and inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId(u64, u64);

fn file_id(path: &Path) -> Option<FileId> {
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

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Creates or opens the store at `path`, recovers what a dead process left and prunes.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: path.clone(),
                context: "creating the store's directory",
                source,
            })?;
        }
        let lock = StoreLock::acquire(&path)?;
        refuse_empty_file(&path)?;
        let db = open_database(&path)?;
        schema::check_or_init(&db, &path)?;
        let imported = recovery_file::import(&db, &path)?;
        let mut recovery = recovery::recover(&db)?;
        recovery.imported = imported;
        let store = Store {
            inner: Arc::new(Inner {
                db: RwLock::new(Some(Arc::new(db))),
                file: file_id(&path),
                path,
                options,
                recovery,
                _lock: lock,
            }),
        };
        store.prune(Utc::now())?;
        Ok(store)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> StoreOptions {
        self.inner.options
    }

    /// What the open found left behind by a process that died, for the operator to be told.
    pub fn recovery(&self) -> &Recovery {
        &self.inner.recovery
    }

    pub(crate) fn read(&self) -> Result<ReadTransaction, StoreError> {
        self.database()?
            .begin_read()
            .map_err(db("starting a read transaction"))
    }

    /// A durable write transaction: its commit is on disk when `commit` returns. Refused when
    /// the store's file was removed or replaced since it was opened: on Linux the commit would
    /// succeed, into a file that goes with the process.
    pub(crate) fn write(&self) -> Result<WriteTransaction, StoreError> {
        self.check_file()?;
        begin_write(&*self.database()?)
    }

    /// Err when the store's path no longer names the file opened (a `stat`, once per write
    /// transaction: a batch of a thousand entries, or one operator action).
    fn check_file(&self) -> Result<(), StoreError> {
        if self.inner.file.is_some() && file_id(&self.inner.path) != self.inner.file {
            return Err(StoreError::Gone {
                path: self.inner.path.clone(),
            });
        }
        Ok(())
    }

    fn database(&self) -> Result<Arc<Database>, StoreError> {
        self.inner
            .db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| StoreError::Unreadable {
                path: self.inner.path.clone(),
                reason: "closed after a failed write; it is opened again at the next attempt"
                    .to_string(),
            })
    }

    /// Closes the store's file and opens it again. After a failed commit (a full disk, an I/O
    /// error) redb refuses every later operation until the file is opened anew; a run that
    /// keeps what it could not record retries through this. Err while the file cannot be
    /// opened yet, or while a transaction still holds the old handle: try again later.
    pub fn reopen(&self) -> Result<(), StoreError> {
        // Only the file opened first: another (or a new one made at a vanished path) would get
        // the end of a run whose start it never saw.
        self.check_file()?;
        let mut slot = self
            .inner
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // The old handle goes first: redb locks the file, and a second handle in this process
        // would find it locked.
        drop(slot.take());
        let db = open_database(&self.inner.path)?;
        *slot = Some(Arc::new(db));
        Ok(())
    }
}

/// Refuses a store file of zero bytes. A file syncdeck creates is a store from its first
/// commit; an empty one is something else (a `touch`, a copy that failed, a store whose disk
/// filled while it was being made), and redb would silently make it a new, empty store. Run
/// under the store lock, so no other syncdeck is creating the file right now; a file that does
/// not exist yet is created by redb as usual.
fn refuse_empty_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == 0 => Err(StoreError::Unreadable {
            path: path.to_path_buf(),
            reason: "the file is empty (0 bytes), so it is not a syncdeck store; remove it to \
                     start a new store there, or pass the right --store"
                .to_string(),
        }),
        _ => Ok(()),
    }
}

/// Every write transaction of the store starts here, so all commits are alike.
pub(crate) fn begin_write(database: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = database
        .begin_write()
        .map_err(db("starting a write transaction"))?;
    // Durability::Immediate is redb's default and nothing here lowers it: an entry whose batch
    // commit returned must survive a kill -9, and a Durability::None commit only reaches the
    // file with a later durable one.
    //
    // Quick repair saves the allocator state with each commit (and commits in two phases), so
    // the open after a kill -9 takes milliseconds instead of a walk over the whole file (about
    // 2 s for a million entries, measured); batches of a thousand entries hardly notice it.
    txn.set_quick_repair(true);
    Ok(txn)
}

/// Opens the redb file, turning redb's open errors into the store's.
fn open_database(path: &Path) -> Result<Database, StoreError> {
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_SIZE_BYTES);
    // redb documents that opening a damaged file "may panic"; a damaged store must be an error
    // the operator can read (exit code 3), not a crash.
    let opened = catch_unwind(AssertUnwindSafe(|| builder.create(path)));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch)) => {
            Err(StoreError::InUse {
                path: path.to_path_buf(),
                pid: None,
            })
        }
        Ok(Err(err)) => Err(StoreError::Unreadable {
            path: path.to_path_buf(),
            reason: err.to_string(),
        }),
        Err(_) => Err(StoreError::Unreadable {
            path: path.to_path_buf(),
            reason: "redb could not read the file (it is damaged)".to_string(),
        }),
    }
}
