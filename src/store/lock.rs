//! One process per store: a sidecar lock file holding the owner's pid.
//!
//! redb refuses a second open too, but it cannot say who holds the file; the sidecar lets the
//! second process name the first. The lock file is never deleted: deleting it while unlocking
//! would let two processes lock two different files of the same name.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::error::StoreError;

/// The held lock; released when dropped (the OS also releases it when the process dies).
#[derive(Debug)]
pub(crate) struct StoreLock {
    _file: File,
}

/// `<store file>.lock`, beside the store.
pub(crate) fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl StoreLock {
    /// Locks the store at `store` for this process, or says which process holds it.
    pub(crate) fn acquire(store: &Path) -> Result<StoreLock, StoreError> {
        let path = lock_path(store);
        let io = |context| {
            let path = path.clone();
            move |source| StoreError::Io {
                path,
                context,
                source,
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("opening the lock file"))?;
        // File::try_lock is stable since Rust 1.89; the crate's declared MSRV is older.
        let locked = file.try_lock();
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::InUse {
                    path: store.to_path_buf(),
                    pid: read_pid(&mut file),
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(io("locking the lock file")(source));
            }
        }
        file.set_len(0).map_err(io("writing the lock file"))?;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush())
            .map_err(io("writing the lock file"))?;
        Ok(StoreLock { _file: file })
    }
}

/// The pid written by the holder; None while it is still writing it or if the text is foreign.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_sits_beside_the_store() {
        assert_eq!(
            lock_path(Path::new("/x/y.redb")),
            PathBuf::from("/x/y.redb.lock")
        );
    }
}
