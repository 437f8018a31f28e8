//! The schema version, checked whenever a store is opened, and the migrations from older
//! versions: a store of an older layout is copied beside itself (`NAME.redb.bak-vN`) and then
//! brought forward one version at a time ([`STEPS`]), all in one write transaction, so that
//! another process opening the store meanwhile waits and then finds it migrated, and a failed
//! migration leaves the store as it was.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redb::{
    Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableError, WriteTransaction,
};

use super::entry_names::{ENTRY_NAMES, NameIds};
use super::error::{StoreError, db};
use super::tables::*;
use super::types::{ConnectionRun, ReportEntry, Run};
use super::{contract_codec, entry_codec};

/// One line about a migration, for the operator: when it starts, now and then while a long
/// step goes, and when it is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationProgress {
    pub line: String,
    /// True for the last line.
    pub done: bool,
}

/// How often a long step says how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// One step forward: from version `from` to `from + 1`, inside the migration's transaction.
struct Step {
    from: u64,
    /// What the step does, for the progress lines.
    what: &'static str,
    run: fn(&WriteTransaction, &mut Progress) -> Result<(), StoreError>,
}

/// Every step, in order; a step per version, none skipped.
const STEPS: &[Step] = &[
    Step {
        from: 1,
        what: "runs gain an owner and a trigger; connection leases and cancel requests",
        run: migrate_v1_to_v2,
    },
    Step {
        from: 2,
        what: "entries to be rewritten in the compact form",
        run: migrate_v2_to_v3,
    },
    Step {
        from: 3,
        what: "entries rewritten with their connection and system names stored once",
        run: migrate_v3_to_v4,
    },
    Step {
        from: 4,
        what: "sync contracts rewritten in the compact form",
        run: migrate_v4_to_v5,
    },
];

/// Entries (or contracts) read, then rewritten, at a time by [`migrate_v3_to_v4`] (and
/// [`migrate_v4_to_v5`]): what a step holds in memory.
const MIGRATE_CHUNK: usize = 4_096;

/// What a step tells the operator while it works.
pub(crate) struct Progress<'a> {
    report: &'a mut dyn FnMut(&MigrationProgress),
    what: &'static str,
    last: Instant,
}

impl Progress<'_> {
    fn say(&mut self, line: String, done: bool) {
        (self.report)(&MigrationProgress { line, done });
        self.last = Instant::now();
    }

    /// `done` of `total` `items` so far; said at most once a [`PROGRESS_EVERY`].
    pub(crate) fn advance(&mut self, items: &str, done: u64, total: u64) {
        if self.last.elapsed() < PROGRESS_EVERY {
            return;
        }
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        let line = format!("{}: {done} of {total} {items} ({percent}%)", self.what);
        self.say(line, false);
    }
}

/// The version a transaction sees: None in a file with no syncdeck tables yet.
fn version(txn: &ReadTransaction, path: &Path) -> Result<Option<u64>, StoreError> {
    match txn.open_table(META) {
        Ok(meta) => Ok(meta
            .get(SCHEMA_VERSION_KEY)
            .map_err(db("reading the schema version"))?
            .map(|version| version.value())),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(TableError::TableTypeMismatch { .. }) => Err(not_a_store(path)),
        Err(err) => Err(db("reading the schema version")(err)),
    }
}

fn not_a_store(path: &Path) -> StoreError {
    StoreError::Unreadable {
        path: path.to_path_buf(),
        reason: "it is a redb file, but not a syncdeck store".to_string(),
    }
}

fn newer(path: &Path, found: u64) -> StoreError {
    StoreError::NewerSchema {
        path: path.to_path_buf(),
        found,
        supported: SCHEMA_VERSION,
    }
}

/// Refuses a store from a newer syncdeck; creates the tables of a new one; migrates an older one.
pub(crate) fn check_or_migrate(
    database: &Database,
    path: &Path,
    report: &mut dyn FnMut(&MigrationProgress),
) -> Result<(), StoreError> {
    let read = database
        .begin_read()
        .map_err(db("reading the schema version"))?;
    match version(&read, path)? {
        Some(SCHEMA_VERSION) => return Ok(()),
        Some(found) if found > SCHEMA_VERSION => return Err(newer(path, found)),
        _ => {}
    }
    drop(read);
    // From here on no other process commits until this transaction ends: it finds the store
    // created or migrated once it gets its turn.
    let txn = super::database::begin_write(database)?;
    let found = {
        let meta = txn.open_table(META).map_err(db("opening meta"))?;
        meta.get(SCHEMA_VERSION_KEY)
            .map_err(db("reading the schema version"))?
            .map(|version| version.value())
    };
    match found {
        Some(SCHEMA_VERSION) => {
            txn.abort().map_err(db("ending the version check"))?;
            return Ok(());
        }
        Some(found) if found > SCHEMA_VERSION => return Err(newer(path, found)),
        Some(found) => migrate(&txn, path, found, report)?,
        None => {}
    }
    create_tables(&txn)?;
    txn.commit().map_err(db("committing the store's layout"))
}

/// A read-only store must be of this version: it cannot be created or migrated.
pub(crate) fn check_readable(database: &ReadOnlyDatabase, path: &Path) -> Result<(), StoreError> {
    let read = database
        .begin_read()
        .map_err(db("reading the schema version"))?;
    match version(&read, path)? {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(found) if found > SCHEMA_VERSION => Err(newer(path, found)),
        Some(found) => Err(StoreError::NeedsMigration {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        }),
        None => Err(not_a_store(path)),
    }
}

/// `NAME.redb.bak-vN`: the copy of a version-N store kept before it is migrated.
pub fn backup_path(path: &Path, version: u64) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".bak-v{version}"));
    PathBuf::from(name)
}

/// Keeps a copy, then runs every step from `found` on inside `txn` and writes the new version.
fn migrate(
    txn: &WriteTransaction,
    path: &Path,
    found: u64,
    report: &mut dyn FnMut(&MigrationProgress),
) -> Result<(), StoreError> {
    let started = Instant::now();
    let backup = backup_path(path, found);
    report(&MigrationProgress {
        line: format!(
            "migrating store {} from schema version {found} to {SCHEMA_VERSION}; a copy of it \
             is kept at {}",
            path.display(),
            backup.display()
        ),
        done: false,
    });
    keep_copy(path, &backup)?;
    let mut progress = Progress {
        report,
        what: "",
        last: Instant::now(),
    };
    for version in found..SCHEMA_VERSION {
        let Some(step) = STEPS.iter().find(|step| step.from == version) else {
            return Err(StoreError::Unreadable {
                path: path.to_path_buf(),
                reason: format!("this syncdeck cannot migrate schema version {version}"),
            });
        };
        progress.what = step.what;
        (step.run)(txn, &mut progress)?;
    }
    {
        let mut meta = txn.open_table(META).map_err(db("opening meta"))?;
        meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
            .map_err(db("writing the schema version"))?;
    }
    progress.say(
        format!(
            "store {} migrated to schema version {SCHEMA_VERSION} in {:.1} s",
            path.display(),
            started.elapsed().as_secs_f64()
        ),
        true,
    );
    Ok(())
}

/// Copies the store to `backup` through a partial file renamed at the end, so that a copy cut
/// short (a full disk) never looks like a whole one.
fn keep_copy(path: &Path, backup: &Path) -> Result<(), StoreError> {
    let mut partial = backup.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let copied = std::fs::copy(path, &partial)
        .and_then(|_| std::fs::File::open(&partial)?.sync_all())
        .and_then(|()| std::fs::rename(&partial, backup));
    copied.map_err(|source| {
        let _ = std::fs::remove_file(&partial);
        StoreError::Io {
            path: backup.to_path_buf(),
            context: "keeping a copy of the store before migrating it (nothing was changed)",
            source,
        }
    })
}

/// Opening a table in a write transaction creates it, so later reads never miss one.
fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    {
        let mut meta = txn.open_table(META).map_err(db("creating tables"))?;
        meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
            .map_err(db("writing the schema version"))?;
        let mut sequences = txn.open_table(SEQUENCES).map_err(db("creating tables"))?;
        for name in [NEXT_RUN_ID, NEXT_SYNC_ID] {
            if sequences
                .get(name)
                .map_err(db("reading sequences"))?
                .is_none()
            {
                sequences.insert(name, 1).map_err(db("writing sequences"))?;
            }
        }
    }
    let created = [
        txn.open_table(RUNS).map(drop),
        txn.open_table(CONNECTION_RUNS).map(drop),
        txn.open_table(ENTRIES).map(drop),
        txn.open_table(ENTRY_NAMES).map(drop),
        txn.open_table(ENTRIES_BY_TIME).map(drop),
        txn.open_table(ENTRIES_BY_STATUS).map(drop),
        txn.open_table(ENTRIES_BY_REFERENCE).map(drop),
        txn.open_table(ENTRIES_BY_RUN).map(drop),
        txn.open_table(CONTRACTS).map(drop),
        txn.open_table(SETTINGS).map(drop),
        txn.open_table(RUNNING).map(drop),
        txn.open_table(LEASES).map(drop),
        txn.open_table(CANCEL_REQUESTS).map(drop),
    ];
    for result in created {
        result.map_err(db("creating tables"))?;
    }
    Ok(())
}

/// Version 1 → 2. The new fields of a run (owner, trigger) are absent from a version-1 run and
/// read as None, so no row needs rewriting; the new tables are created with the others. The
/// step reads every run and connection run in the new layout, so that a row it could not read
/// stops the migration here, with the store left at version 1, instead of a screen later.
fn migrate_v1_to_v2(txn: &WriteTransaction, progress: &mut Progress) -> Result<(), StoreError> {
    let runs = txn.open_table(RUNS).map_err(db("opening runs"))?;
    let total = runs.len().map_err(db("counting runs"))?;
    for (done, item) in runs.iter().map_err(db("reading runs"))?.enumerate() {
        let (_, bytes) = item.map_err(db("reading runs"))?;
        decode::<Run>(bytes.value(), "reading a version-1 run")?;
        progress.advance("runs", done as u64 + 1, total);
    }
    let connection_runs = txn
        .open_table(CONNECTION_RUNS)
        .map_err(db("opening connection runs"))?;
    let total = connection_runs
        .len()
        .map_err(db("counting connection runs"))?;
    for (done, item) in connection_runs
        .iter()
        .map_err(db("reading connection runs"))?
        .enumerate()
    {
        let (_, bytes) = item.map_err(db("reading connection runs"))?;
        decode::<ConnectionRun>(bytes.value(), "reading a version-1 connection run")?;
        progress.advance("connection runs", done as u64 + 1, total);
    }
    Ok(())
}

/// Version 2 → 3: entries from JSON to the compact form of `entry_codec`. Nothing to do
/// here: [`migrate_v3_to_v4`], which always follows, rewrites every entry not in the form of
/// version 4, JSON ones included, in one pass instead of two.
fn migrate_v2_to_v3(_: &WriteTransaction, _: &mut Progress) -> Result<(), StoreError> {
    Ok(())
}

/// Version 3 → 4: every entry not in the current form (version 3's, which kept the connection
/// and system names in each entry, or version 2's JSON) rewritten with its names as an id into
/// `entry_names`, a chunk of [`MIGRATE_CHUNK`] at a time in key order (never the whole table
/// in memory). The indexes keep their layout: an entry's keys do not change.
fn migrate_v3_to_v4(txn: &WriteTransaction, progress: &mut Progress) -> Result<(), StoreError> {
    let mut entries = txn.open_table(ENTRIES).map_err(db("opening entries"))?;
    let mut names = NameIds::open(txn)?;
    let total = entries.len().map_err(db("counting entries"))?;
    let mut done = 0u64;
    let mut next: u64 = 0;
    let mut chunk: Vec<(u64, ReportEntry)> = Vec::with_capacity(MIGRATE_CHUNK);
    let mut bytes = Vec::with_capacity(1024);
    loop {
        chunk.clear();
        for item in entries.range(next..).map_err(db("reading entries"))? {
            let (key, stored) = item.map_err(db("reading entries"))?;
            if entry_codec::is_current(stored.value()) {
                continue;
            }
            let entry = decode_entry(stored.value(), names.names(), "reading an older entry")?;
            chunk.push((key.value(), entry));
            if chunk.len() == MIGRATE_CHUNK {
                break;
            }
        }
        let Some(last) = chunk.last().map(|(key, _)| *key) else {
            return Ok(());
        };
        for (key, entry) in &chunk {
            let name = names.id(&entry.connection, &entry.system)?;
            entry_codec::encode_entry(entry, name, &mut bytes);
            entries
                .insert(*key, bytes.as_slice())
                .map_err(db("rewriting an entry"))?;
        }
        done += chunk.len() as u64;
        progress.advance("entries", done, total);
        match last.checked_add(1) {
            Some(after) => next = after,
            None => return Ok(()),
        }
    }
}

/// Version 4 → 5: every contract from JSON to the compact form of `contract_codec`, a chunk
/// of [`MIGRATE_CHUNK`] at a time in key order (never the whole table in memory).
fn migrate_v4_to_v5(txn: &WriteTransaction, progress: &mut Progress) -> Result<(), StoreError> {
    let mut contracts = txn.open_table(CONTRACTS).map_err(db("opening contracts"))?;
    let total = contracts.len().map_err(db("counting contracts"))?;
    let mut done = 0u64;
    let mut after: Option<(String, String)> = None;
    let mut chunk: Vec<((String, String), Vec<u8>)> = Vec::with_capacity(MIGRATE_CHUNK);
    loop {
        chunk.clear();
        let range = match &after {
            Some((connection, origin)) => contracts.range::<(&str, &str)>((
                Bound::Excluded((connection.as_str(), origin.as_str())),
                Bound::Unbounded,
            )),
            None => contracts.range::<(&str, &str)>(..),
        };
        for item in range.map_err(db("reading contracts"))? {
            let (key, stored) = item.map_err(db("reading contracts"))?;
            if contract_codec::is_current(stored.value()) {
                continue;
            }
            let (connection, origin) = key.value();
            let contract = contract_codec::decode_contract(
                connection,
                origin,
                stored.value(),
                "reading an older contract",
            )?;
            let mut bytes = Vec::with_capacity(64);
            contract_codec::encode_contract(&contract, &mut bytes);
            chunk.push(((connection.to_string(), origin.to_string()), bytes));
            if chunk.len() == MIGRATE_CHUNK {
                break;
            }
        }
        if chunk.is_empty() {
            return Ok(());
        }
        for ((connection, origin), bytes) in &chunk {
            contracts
                .insert((connection.as_str(), origin.as_str()), bytes.as_slice())
                .map_err(db("rewriting a contract"))?;
        }
        done += chunk.len() as u64;
        progress.advance("contracts", done, total);
        after = chunk.pop().map(|(key, _)| key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_sit_beside_the_store_named_by_version() {
        assert_eq!(
            backup_path(Path::new("/x/s.redb"), 1),
            PathBuf::from("/x/s.redb.bak-v1")
        );
    }

    #[test]
    fn every_older_version_has_a_step() {
        for version in 1..SCHEMA_VERSION {
            assert_eq!(STEPS.iter().filter(|s| s.from == version).count(), 1);
        }
    }
}
