//! The embedded redb store: runs, connection runs, report entries, sync contracts, settings.
//!
//! One file, shared by every syncdeck process on the host at once (redb's multi-writer mode:
//! write transactions take turns, reads see other processes' commits), durable commits. Writes
//! come in batches ([`WriteBatch`]) so that a Full run records many entries per transaction;
//! reads are paged through indexes and never load a whole table. Runs name their owner
//! ([`RunOwner`]); connections are leased to one Live run at a time ([`leases`]); a change
//! counter tells a console when to read again ([`Store::change_count`]).

mod batch;
mod cancel;
mod changes;
mod compact;
mod contracts;
mod entries;
mod entry_codec;
mod error;
mod leases;
mod migrate;
pub mod owner;
mod recovery;
pub mod recovery_file;
mod report;
mod report_scan;
mod report_summary;
mod report_systems;
mod retention;
mod runs;
mod settings;
mod tables;
mod timeline;
pub mod types;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use chrono::Utc;
use redb::{
    ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    StorageError, WriteTransaction,
};

pub use batch::WriteBatch;
pub use cancel::{CancelOutcome, CancelRequest};
pub use compact::{COMPACT_AFTER_GROWTH, COMPACT_AFTER_PRUNED, Compacted};
pub use contracts::{ContractPage, ContractQuery, ContractSort};
pub use entries::{EntryCursor, EntryPage, EntryQuery};
pub use error::{GONE, StoreError};
pub use leases::LeaseHolder;
pub use migrate::{MigrationProgress, backup_path};
pub use owner::{Liveness, origin};
pub use recovery::{INTERRUPTED_MESSAGE, INTERRUPTED_NOTE, Recovery};
pub use report::{ReportFilter, ReportSort, SortColumn};
pub use retention::PruneStats;
pub use tables::SCHEMA_VERSION;
pub use types::*;

use error::db;

/// How long entries and finished runs are kept, unless the configuration says otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 15;

/// redb's page cache: enough for the hot index pages of a report over a million entries, small
/// enough that a 100,000-record run (whose written pages stay cached) peaks well under 150 MiB.
/// redb allocates it as pages are read, not up front.
const CACHE_SIZE_BYTES: usize = 48 * 1024 * 1024;

/// The page cache of a process that mostly writes ([`use_write_cache`]): a run's batches touch
/// the last leaves of each index, a few MiB, while the cache fills with every page it writes.
/// Measured on a 1,000,000-record Full Dry: peak RSS 252 MiB with 48 MiB, 233 MiB with this.
pub const WRITE_CACHE_SIZE_BYTES: usize = 32 * 1024 * 1024;

static CACHE_BYTES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(CACHE_SIZE_BYTES);

/// Stores this process opens from now on get the smaller cache of [`WRITE_CACHE_SIZE_BYTES`]:
/// for a headless run or resync, which records rather than browses.
pub fn use_write_cache() {
    CACHE_BYTES.store(WRITE_CACHE_SIZE_BYTES, std::sync::atomic::Ordering::Relaxed);
}

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

struct Inner {
    /// None only while [`Store::reopen`] replaces it.
    handle: RwLock<Option<Arc<Handle>>>,
    /// Why the store is open for reading only, when it is (set at open).
    read_only: Option<String>,
    /// The mode the file was opened in, to open it again alike.
    mode: ConcurrencyMode,
    path: PathBuf,
    options: StoreOptions,
    recovery: Recovery,
    /// The file opened: a write notices when the path names another file, or none.
    file: Option<FileId>,
    /// What the prune at open deleted.
    pruned: std::sync::Mutex<PruneStats>,
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
    /// Creates or opens the store at `path`: migrates an older layout, settles the runs of
    /// processes that are gone, and prunes. Other processes may have it open meanwhile.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store, StoreError> {
        Store::open_with_progress(path, options, &mut |_| {})
    }

    /// [`Store::open`], telling `progress` how a migration goes (a long one says so now and
    /// then, so that an operator is not left looking at a silent terminal).
    pub fn open_with_progress(
        path: impl AsRef<Path>,
        options: StoreOptions,
        progress: &mut dyn FnMut(&MigrationProgress),
    ) -> Result<Store, StoreError> {
        Store::open_in(
            path.as_ref(),
            options,
            ConcurrencyMode::MultiWriter,
            progress,
        )
    }

    /// The store opened by this process alone (redb's exclusive mode), as syncdeck opened
    /// stores before they were shared: for the benchmark that compares the two modes' writes.
    #[doc(hidden)]
    pub fn open_alone(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store, StoreError> {
        Store::open_in(
            path.as_ref(),
            options,
            ConcurrencyMode::ExclusiveWriter,
            &mut |_| {},
        )
    }

    fn open_in(
        path: &Path,
        options: StoreOptions,
        mode: ConcurrencyMode,
        progress: &mut dyn FnMut(&MigrationProgress),
    ) -> Result<Store, StoreError> {
        let path = path.to_path_buf();
        ensure_directory(&path)?;
        refuse_empty_file(&path)?;
        let handle = open_database(&path, mode)?;
        let recovery = match &handle {
            Handle::Shared(database) => {
                migrate::check_or_migrate(database, &path, progress)?;
                // What a run could not record (a full disk) goes in first: its end settles
                // its runs, which the recovery would otherwise find Running.
                let imported = recovery_file::import(database, &path)?;
                let mut recovery = recovery::recover(database)?;
                recovery.imported = imported;
                recovery
            }
            Handle::ReadOnly { database, .. } => {
                migrate::check_readable(database, &path)?;
                Recovery::default()
            }
        };
        let read_only = match &handle {
            Handle::Shared(_) => None,
            Handle::ReadOnly { reason, .. } => Some(reason.clone()),
        };
        let store = Store {
            inner: Arc::new(Inner {
                handle: RwLock::new(Some(Arc::new(handle))),
                read_only,
                mode,
                file: file_id(&path),
                path,
                options,
                recovery,
                pruned: std::sync::Mutex::new(PruneStats::default()),
            }),
        };
        if store.read_only_reason().is_none() {
            let pruned = store.prune(Utc::now())?;
            *store
                .inner
                .pruned
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = pruned;
        }
        Ok(store)
    }

    /// What the prune at open deleted.
    pub fn pruned(&self) -> PruneStats {
        *self
            .inner
            .pruned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
    fn check_file(&self) -> Result<(), StoreError> {
        if self.inner.file.is_some() && file_id(&self.inner.path) != self.inner.file {
            return Err(StoreError::Gone {
                path: self.inner.path.clone(),
            });
        }
        Ok(())
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
            .handle
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // The old handle goes first: this process's second handle on the file would otherwise
        // find it locked.
        drop(slot.take());
        let handle = open_database(&self.inner.path, self.inner.mode)?;
        *slot = Some(Arc::new(handle));
        Ok(())
    }
}

/// Refuses a store file of zero bytes. A file syncdeck creates is a store from its first
/// commit; an empty one is something else (a `touch`, a copy that failed, a store whose disk
/// filled while it was being made), and redb would silently make it a new, empty store. One
/// just created by another syncdeck opening the store at the same moment is empty for an
/// instant: a recent empty file is given two seconds to become a store. A file that does not
/// exist yet is created by redb as usual.
fn refuse_empty_file(path: &Path) -> Result<(), StoreError> {
    const GRACE: std::time::Duration = std::time::Duration::from_secs(2);
    const RECENT: std::time::Duration = std::time::Duration::from_secs(10);
    let empty =
        |path: &Path| std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.len() == 0);
    if !empty(path) {
        return Ok(());
    }
    let recent = std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|at| at.elapsed().ok())
        .is_some_and(|age| age < RECENT);
    if recent {
        let deadline = std::time::Instant::now() + GRACE;
        while std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
            if !empty(path) {
                return Ok(());
            }
        }
    }
    Err(StoreError::Unreadable {
        path: path.to_path_buf(),
        reason: "the file is empty (0 bytes), so it is not a syncdeck store; remove it to start \
                 a new store there, or pass the right --store"
            .to_string(),
    })
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
    changes::bump(&txn)?;
    Ok(txn)
}

/// Creates the store's directory when it is missing.
fn ensure_directory(path: &Path) -> Result<(), StoreError> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) if !parent.is_dir() => {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                context: "creating the store's directory",
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Opens the redb file shared with other processes, or for reading only when it cannot be
/// written; turns redb's open errors into the store's.
fn open_database(path: &Path, mode: ConcurrencyMode) -> Result<Handle, StoreError> {
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES.load(std::sync::atomic::Ordering::Relaxed));
    builder.set_concurrency_mode(mode);
    // redb documents that opening a damaged file "may panic"; a damaged store must be an error
    // the operator can read (exit code 3), not a crash.
    let opened = catch_unwind(AssertUnwindSafe(|| builder.create(path)));
    let not_writable = match opened {
        Ok(Ok(database)) => return Ok(Handle::Shared(database)),
        Ok(Err(DatabaseError::Storage(StorageError::Io(error)))) => match not_writable(&error) {
            Some(reason) => reason,
            None => return Err(unreadable(path, error.to_string())),
        },
        Ok(Err(error)) => return Err(open_error(path, error)),
        Err(_) => return Err(damaged(path)),
    };
    if !path.exists() {
        return Err(unreadable(
            path,
            format!("it does not exist and cannot be created on {not_writable}"),
        ));
    }
    let opened = catch_unwind(AssertUnwindSafe(|| builder.open_read_only(path)));
    match opened {
        Ok(Ok(database)) => Ok(Handle::ReadOnly {
            database,
            reason: not_writable.to_string(),
        }),
        Ok(Err(DatabaseError::RepairAborted)) => Err(unreadable(
            path,
            format!(
                "it was copied or left while a syncdeck was writing it, and the repair that \
                 needs cannot be done on {not_writable}: copy it somewhere writable and open \
                 the copy"
            ),
        )),
        Ok(Err(error)) => Err(open_error(path, error)),
        Err(_) => Err(damaged(path)),
    }
}

/// Why a file cannot be opened for writing, when that is what the error says.
fn not_writable(error: &std::io::Error) -> Option<&'static str> {
    match error.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => Some("a read-only file system"),
        std::io::ErrorKind::PermissionDenied => Some("a file this user may not write"),
        _ => None,
    }
}

fn open_error(path: &Path, error: DatabaseError) -> StoreError {
    match error {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            StoreError::InUse {
                path: path.to_path_buf(),
            }
        }
        error => unreadable(path, error.to_string()),
    }
}

fn unreadable(path: &Path, reason: String) -> StoreError {
    StoreError::Unreadable {
        path: path.to_path_buf(),
        reason,
    }
}

fn damaged(path: &Path) -> StoreError {
    unreadable(
        path,
        "redb could not read the file (it is damaged)".to_string(),
    )
}
