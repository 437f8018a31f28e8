//! The recovery file: what a run could not record in its store (a full disk, an I/O error),
//! kept beside the store until the next open imports it.
//!
//! A run that may write to destinations reserves the file's space before it starts
//! ([`Reservation::create`]): when the disk fills, the store's last batches still have a place
//! to go. The file is written only when the store refused them for good, then synced and
//! renamed to its final name, `NAME.redb.recovery-<run>-<pid>.jsonl`: a file under that name is
//! always complete. The next [`Store::open`](super::Store::open) imports it in one transaction
//! (a marker in the same transaction makes a second import of it a no-op), removes it and says
//! so in the open's [`Recovery`](super::Recovery).
//!
//! The format is JSON lines: a header (`{"syncdeck_recovery": 1, "run_id", "pid",
//! "written_at", "reason"}`), then one [`WriteBatch`] per line, in commit order.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use redb::{Database, ReadableTable};
use serde::{Deserialize, Serialize};

use super::batch::{WriteBatch, apply};
use super::error::{StoreError, db};
pub use super::recovered::Imported;
use super::tables::META;
use super::types::RunId;

/// The space reserved for a run's recovery file: room for several thousand entries (a failed
/// batch of a thousand, the one filling, the requests in flight), each with its error excerpt.
pub const RESERVED_BYTES: u64 = 8 << 20;

/// The format written in each file's header.
const FORMAT: u32 = 1;

/// The first line of a recovery file.
#[derive(Serialize, Deserialize)]
struct Header {
    syncdeck_recovery: u32,
    run_id: RunId,
    pid: u32,
    written_at: String,
    /// Why the store could not take the batches.
    reason: String,
}

/// What [`Reservation::keep`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    /// The complete recovery file, under its final name.
    pub path: PathBuf,
    pub entries: u64,
    /// How many of the batches, from the first, the file holds; the rest did not fit (the disk
    /// had no room past the reservation).
    pub batches: usize,
    /// Entries of the batches that did not fit.
    pub entries_left_out: u64,
}

/// Space kept beside the store for one run's recovery file; removed when dropped unless kept.
#[derive(Debug)]
pub struct Reservation {
    file: Option<File>,
    path: PathBuf,
    store: PathBuf,
}

/// A name beside the store for a file of this process: `NAME.redb.recovery-<tag>-<pid>.<ext>`.
fn sibling(store: &Path, tag: &str, ext: &str) -> PathBuf {
    let mut name = store.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".recovery-{tag}-{}.{ext}", std::process::id()));
    store.with_file_name(name)
}

impl Reservation {
    /// Creates the reservation beside `store` with [`RESERVED_BYTES`] allocated on disk (not
    /// merely a sparse length): Err when the disk has no room for it.
    pub fn create(store: &Path) -> io::Result<Reservation> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tag = format!("r{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let path = sibling(store, &tag, "reserved");
        let file = create_private(&path)?;
        let reservation = Reservation {
            file: Some(file),
            path,
            store: store.to_path_buf(),
        };
        if let Some(file) = &reservation.file {
            allocate(file, RESERVED_BYTES)?;
        }
        Ok(reservation)
    }

    /// Writes `batches` to the reserved file, one line each after the header, syncs it and
    /// gives it its final name. Batches past the reserved space are written while the disk
    /// takes them; those it refuses are left out and counted (the rest of the file stays whole:
    /// it ends after the last complete line).
    pub fn keep(mut self, run_id: RunId, reason: &str, batches: &[WriteBatch]) -> io::Result<Kept> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("the reservation was already used"))?;
        let kept = write_batches(file, run_id, reason, batches);
        let kept = kept.and_then(|(file, kept)| {
            let path = sibling(&self.store, &run_id.to_string(), "jsonl");
            std::fs::rename(&self.path, &path)?;
            sync_dir(&path);
            drop(file);
            Ok(Kept { path, ..kept })
        });
        if kept.is_err() {
            let _ = std::fs::remove_file(&self.path);
        }
        kept
    }

    /// The store took everything: the reserved space goes back.
    pub fn release(mut self) {
        self.file.take();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes a recovery file for `run_id` without a reservation (a run that had none): the same
/// format, in a new file under the final name once complete.
pub fn keep_unreserved(
    store: &Path,
    run_id: RunId,
    reason: &str,
    batches: &[WriteBatch],
) -> io::Result<Kept> {
    let path = sibling(store, &format!("r{run_id}-unreserved"), "reserved");
    let file = create_private(&path)?;
    Reservation {
        file: Some(file),
        path,
        store: store.to_path_buf(),
    }
    .keep(run_id, reason, batches)
}

fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Allocates `len` bytes of disk to `file` (blocks, not a sparse length).
fn allocate(file: &File, len: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let len = libc::off_t::try_from(len).map_err(io::Error::other)?;
        // SAFETY: posix_fallocate reads the descriptor and two integers; the file is open.
        let code = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
        if code != 0 {
            return Err(io::Error::from_raw_os_error(code));
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        // Written, not merely sized, so the blocks are taken now.
        let mut writer = file;
        let chunk = vec![0u8; 1 << 16];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            writer.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        writer.sync_all()
    }
}

/// The header and batches into `file` from its start; ends the file after the last complete
/// line and syncs it.
fn write_batches(
    mut file: File,
    run_id: RunId,
    reason: &str,
    batches: &[WriteBatch],
) -> io::Result<(File, Kept)> {
    let header = Header {
        syncdeck_recovery: FORMAT,
        run_id,
        pid: std::process::id(),
        written_at: Utc::now().to_rfc3339(),
        reason: reason.to_string(),
    };
    file.seek(SeekFrom::Start(0))?;
    let mut line = serde_json::to_vec(&header).map_err(io::Error::other)?;
    line.push(b'\n');
    file.write_all(&line)?;
    let mut end = line.len() as u64;
    let mut kept = Kept {
        path: PathBuf::new(),
        entries: 0,
        batches: 0,
        entries_left_out: 0,
    };
    let mut full = false;
    for batch in batches {
        let count = batch.entries.len() as u64;
        if full {
            kept.entries_left_out += count;
            continue;
        }
        line.clear();
        serde_json::to_writer(&mut line, batch).map_err(io::Error::other)?;
        line.push(b'\n');
        match file.write_all(&line) {
            Ok(()) => {
                end += line.len() as u64;
                kept.entries += count;
                kept.batches += 1;
            }
            // Past the reservation on a full disk: the rest is left out, the file stays whole.
            Err(_) => {
                full = true;
                kept.entries_left_out += count;
                file.seek(SeekFrom::Start(end))?;
            }
        }
    }
    // Shrinking gives the reserved space the lines did not use back to the disk.
    file.set_len(end)?;
    file.sync_all()?;
    Ok((file, kept))
}

/// Makes a rename in `path`'s directory durable, best effort.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
}

/// The recovery files and stale reservations beside `store`, by kind.
fn siblings(store: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let dir = match store.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from("."),
    };
    let mut prefix = store.file_name().unwrap_or_default().to_os_string();
    prefix.push(".recovery-");
    let prefix = prefix.to_string_lossy().into_owned();
    let mut files = Vec::new();
    let mut reservations = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&prefix) {
            continue;
        }
        if name.ends_with(".jsonl") {
            files.push(entry.path());
        } else if name.ends_with(".reserved") {
            reservations.push(entry.path());
        }
    }
    files.sort();
    (files, reservations)
}

/// The pid in `NAME.redb.recovery-<tag>-<pid>.<ext>`.
fn pid_of(path: &Path) -> Option<u32> {
    let stem = path.file_stem()?.to_str()?;
    stem.rsplit('-').next()?.parse().ok()
}

/// Whether a process with this pid runs on this host.
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only asks whether the process exists.
        let code = unsafe { libc::kill(pid, 0) };
        code == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Imports every recovery file beside `store` into the database, each in one transaction,
/// and removes it; removes reservations whose process is gone. Files that are not recovery
/// files (another header) are left alone.
pub(crate) fn import(database: &Database, store: &Path) -> Result<Vec<Imported>, StoreError> {
    let (files, reservations) = siblings(store);
    for reservation in reservations {
        if pid_of(&reservation).is_some_and(|pid| !alive(pid)) {
            let _ = std::fs::remove_file(&reservation);
        }
    }
    let mut imported = Vec::new();
    for file in files {
        if let Some(done) = import_one(database, &file)? {
            imported.push(done);
        }
    }
    Ok(imported)
}

fn import_one(database: &Database, path: &Path) -> Result<Option<Imported>, StoreError> {
    let io = |context| {
        move |source| StoreError::Io {
            path: path.to_path_buf(),
            context,
            source,
        }
    };
    // Another syncdeck opening the store at the same moment may have imported it already.
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io("reading a recovery file")(error)),
    };
    let mut lines = text.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let Some(header) = lines
        .next()
        .and_then(|line| serde_json::from_slice::<Header>(line).ok())
        .filter(|h| h.syncdeck_recovery == FORMAT)
    else {
        return Ok(None);
    };
    let marker = format!(
        "recovery_imported:{}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let txn = super::database::begin_write(database)?;
    let done = {
        let meta = txn.open_table(META).map_err(db("opening meta"))?;
        meta.get(marker.as_str())
            .map_err(db("reading meta"))?
            .is_some()
    };
    let mut imported = Imported {
        file: path.to_path_buf(),
        run_id: header.run_id,
        entries: 0,
        contracts: 0,
        unreadable_lines: 0,
    };
    if done {
        // Imported before, but the file outlived its removal (a crash in between).
        txn.abort().map_err(db("ending a recovery import"))?;
        let _ = std::fs::remove_file(path);
        return Ok(None);
    }
    for line in lines {
        match serde_json::from_slice::<WriteBatch>(line) {
            Ok(mut batch) => {
                imported.entries += batch.entries.len() as u64;
                imported.contracts += batch.contracts.len() as u64;
                apply(&txn, &mut batch)?;
            }
            Err(_) => imported.unreadable_lines += 1,
        }
    }
    {
        let mut meta = txn.open_table(META).map_err(db("opening meta"))?;
        meta.insert(marker.as_str(), 1)
            .map_err(db("writing meta"))?;
    }
    txn.commit().map_err(db("committing a recovery file"))?;
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(io("removing an imported recovery file")(error));
        }
        _ => {}
    }
    sync_dir(path);
    Ok(Some(imported))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sit_beside_the_store_and_carry_the_pid() {
        let path = sibling(Path::new("/x/s.redb"), "7", "jsonl");
        assert_eq!(
            path,
            PathBuf::from(format!("/x/s.redb.recovery-7-{}.jsonl", std::process::id()))
        );
        assert_eq!(pid_of(&path), Some(std::process::id()));
        assert!(alive(std::process::id()));
    }

    #[test]
    fn a_reservation_takes_its_space_and_gives_back_what_it_did_not_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.redb");
        let reservation = Reservation::create(&store).unwrap();
        let reserved = std::fs::metadata(&reservation.path).unwrap();
        assert_eq!(reserved.len(), RESERVED_BYTES);
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            assert!(
                reserved.blocks() * 512 >= RESERVED_BYTES,
                "blocks allocated"
            );
        }
        let kept = reservation
            .keep(7, "disk full", &[WriteBatch::new()])
            .unwrap();
        assert_eq!(kept.entries, 0);
        let text = std::fs::read_to_string(&kept.path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.starts_with("{\"syncdeck_recovery\":1,\"run_id\":7,"));
        assert!(text.len() < 1024);
        // A reservation never used goes when dropped.
        let unused = Reservation::create(&store).unwrap();
        let unused_path = unused.path.clone();
        drop(unused);
        assert!(!unused_path.exists());
    }
}
