//! Opening the store: creating or finding the file, migrating an older layout, importing what
//! a run could not record, settling what processes that are gone left, pruning; and opening
//! the file again after a failed commit.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::Utc;
use redb::{ConcurrencyMode, Database, DatabaseError, StorageError};

use super::database::{Handle, Inner, Store, StoreOptions, file_id};
use super::error::StoreError;
use super::migrate::{self, MigrationProgress};
use super::recovered::Recovery;
use super::{recovery, recovery_file};

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
                pruned: std::sync::Mutex::new(super::types::PruneStats::default()),
            }),
        };
        if store.read_only_reason().is_none() {
            let pruned = store.prune(Utc::now())?;
            *store
                .inner
                .pruned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = pruned;
        }
        Ok(store)
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
