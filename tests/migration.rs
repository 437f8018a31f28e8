//! Schema migration: a store written by the release before shared stores (schema version 1,
//! `tests/fixtures/store-v1.redb`, made by `tests/fixtures/make_store_v1.rs`) is migrated on
//! open after a copy of it is kept beside it, and every run, connection run, entry, contract and
//! setting that release wrote is found again; a store newer than this binary is refused, and
//! left as it was.
//!
//! A store of schema version 2 (entries as JSON; `tests/fixtures/store-v2.redb`) and one of
//! version 3 (compact entries, each with its names; `tests/fixtures/store-v3.redb`) are
//! migrated to the entries of the current version, and every entry reads out of
//! `report --format json` as it did before. The fixture was written by the binary of commit 4b84098 (the last of version 2)
//! against `syncdeck demo-server --fleet-size 40 --seed 7`: `run --full --dry-run`,
//! `run --full --live --force`, `run --full --dry-run`, `run --single SD-000007 --live`, with
//! `[store] retention_days = 3650`. `tests/fixtures/store-v2.timelines.json` is what that binary
//! printed for `report --search SERIAL --format json` of each of its 40 serials: every entry of
//! the store (455), with its diff and contract hashes.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use syncdeck::store::*;

const FIXTURE: &str = "tests/fixtures/store-v1.redb";
const MANIFEST: &str = "tests/fixtures/store-v1.json";

/// Keeps every run and entry, however old: the fixture's times are fixed in the past.
fn keep_all() -> StoreOptions {
    StoreOptions { retention_days: 0 }
}

/// A copy of the fixture in a temp dir (the committed file is never opened for writing).
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.redb");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE), &path).unwrap();
    (dir, path)
}

fn manifest() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFEST);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn items<T: serde::de::DeserializeOwned>(manifest: &Value, key: &str) -> T {
    serde_json::from_value(manifest[key].clone()).unwrap()
}

/// The copy kept before the migration holds what the old file held. Taken while this process
/// had the file open, its header says a writer was live (as a copy taken during a crash would),
/// so it is compared through redb, on a copy of its own: the same tables with the same number of
/// rows, version 1, and the runs, connection runs and entries byte for byte.
fn assert_is_the_old_store(backup: &Path, original: &[u8]) {
    use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
    let dir = tempfile::tempdir().unwrap();
    let (copy, old) = (dir.path().join("copy.redb"), dir.path().join("old.redb"));
    std::fs::copy(backup, &copy).unwrap();
    std::fs::write(&old, original).unwrap();
    let (copy, old) = (
        redb::Database::open(&copy).unwrap(),
        redb::Database::open(&old).unwrap(),
    );
    let (copy, old) = (copy.begin_read().unwrap(), old.begin_read().unwrap());
    let tables = |txn: &redb::ReadTransaction| -> Vec<(String, u64)> {
        txn.list_tables()
            .unwrap()
            .map(|table| {
                let len = txn
                    .open_untyped_table(table.clone())
                    .unwrap()
                    .len()
                    .unwrap();
                (redb::TableHandle::name(&table).to_string(), len)
            })
            .collect()
    };
    assert_eq!(tables(&copy), tables(&old));
    let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
    let version = copy
        .open_table(meta)
        .unwrap()
        .get("schema_version")
        .unwrap();
    assert_eq!(version.map(|v| v.value()), Some(1));
    for name in ["runs", "entries"] {
        let table: TableDefinition<u64, &[u8]> = TableDefinition::new(name);
        let rows = |txn: &redb::ReadTransaction| -> Vec<(u64, Vec<u8>)> {
            let table = txn.open_table(table).unwrap();
            let rows = table.iter().unwrap().map(|item| {
                let (key, value) = item.unwrap();
                (key.value(), value.value().to_vec())
            });
            rows.collect()
        };
        assert_eq!(rows(&copy), rows(&old), "table {name}");
    }
}

#[test]
fn a_version_1_store_is_migrated_after_a_copy_is_kept_and_loses_nothing() {
    let (_dir, path) = fixture_copy();
    let original = std::fs::read(&path).unwrap();
    let manifest = manifest();
    assert_eq!(manifest["schema_version"], 1);

    let mut lines = Vec::new();
    let store = Store::open_with_progress(&path, keep_all(), &mut |p| lines.push(p.clone()))
        .expect("the version-1 store opens");

    // The copy, byte for byte what the old release left, and the operator told where it is.
    let backup = backup_path(&path, 1);
    assert_eq!(backup, path.with_file_name("history.redb.bak-v1"));
    assert_is_the_old_store(&backup, &original);
    let first = &lines.first().expect("a migration says so").line;
    assert!(
        first.contains(&format!("from schema version 1 to {SCHEMA_VERSION}")),
        "{first}"
    );
    assert!(first.contains(&backup.display().to_string()), "{first}");
    let last = lines.last().unwrap();
    assert!(
        last.done
            && last
                .line
                .contains(&format!("migrated to schema version {SCHEMA_VERSION}")),
        "{lines:?}"
    );

    // Runs: all of them, as written, but the one a dead process left Running.
    let runs: Vec<Run> = items(&manifest, "runs");
    assert_eq!(runs.len(), 9);
    let stored = store.list_runs(None, 100).unwrap();
    assert_eq!(stored.len(), runs.len());
    let left_running: Vec<RunId> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Running)
        .map(|r| r.id)
        .collect();
    assert_eq!(left_running.len(), 1);
    assert_eq!(store.recovery().runs_interrupted, left_running);
    for expected in &runs {
        let mut expected = expected.clone();
        assert_eq!(expected.owner, None, "version 1 had no owners");
        if expected.status == RunStatus::Running {
            expected.status = RunStatus::Interrupted;
            expected.note = Some(INTERRUPTED_NOTE.to_string());
        }
        assert_eq!(
            store.get_run(expected.id).unwrap().as_ref(),
            Some(&expected)
        );
    }

    // Connection runs of every run.
    let rows: Vec<ConnectionRun> = items(&manifest, "connection_runs");
    let mut stored_rows = Vec::new();
    for run in &runs {
        stored_rows.extend(store.connection_runs(run.id).unwrap());
    }
    assert_eq!(stored_rows.len(), rows.len());
    for expected in rows {
        let mut expected = expected.clone();
        if expected.status == RunStatus::Running {
            expected.status = RunStatus::Interrupted;
            expected.note = Some(INTERRUPTED_NOTE.to_string());
        }
        let found = stored_rows
            .iter()
            .find(|r| r.run_id == expected.run_id && r.position == expected.position);
        assert_eq!(found, Some(&expected));
    }

    // Every entry, through its id and through every index.
    let entries: Vec<ReportEntry> = items(&manifest, "entries");
    assert_eq!(entries.len(), 69);
    let mut pending = 0;
    for expected in &entries {
        let mut expected = expected.clone();
        if expected.status == EntryStatus::Pending {
            pending += 1;
            expected.status = EntryStatus::Failed;
            let error = expected.error.get_or_insert_with(EntryError::default);
            error.message = INTERRUPTED_MESSAGE.to_string();
            error.hint = store
                .get_entry(expected.sync_id)
                .unwrap()
                .and_then(|e| e.error.and_then(|e| e.hint));
            assert!(
                error.hint.is_some(),
                "an interrupted entry says what to check"
            );
        }
        assert_eq!(
            store.get_entry(expected.sync_id).unwrap().as_ref(),
            Some(&expected)
        );
        let by_reference = EntryQuery {
            reference_prefix: Some(expected.reference.clone()),
            ..EntryQuery::default()
        };
        let page = store.entries_page(&by_reference, None, 10).unwrap();
        assert!(page.entries.iter().any(|e| e.sync_id == expected.sync_id));
    }
    assert_eq!(pending, 1);
    assert_eq!(store.recovery().entries_failed, 1);
    let count = |status| {
        store
            .count_entries(&EntryQuery {
                status: Some(status),
                ..EntryQuery::default()
            })
            .unwrap()
    };
    for status in EntryStatus::ALL {
        let mut written = entries.iter().filter(|e| e.status == status).count() as u64;
        match status {
            EntryStatus::Pending => written = 0,
            EntryStatus::Failed => written += 1,
            _ => {}
        }
        assert_eq!(count(status), written, "{status:?}");
    }

    // Contracts of every connection, and the settings overrides.
    let contracts: Vec<SyncContract> = items(&manifest, "contracts");
    assert!(!contracts.is_empty());
    let mut stored_contracts = Vec::new();
    for connection in ["cmdb", "registry", "mdm"] {
        let query = ContractQuery {
            connection: connection.to_string(),
            ..ContractQuery::default()
        };
        stored_contracts.extend(
            store
                .query_contracts(&query, 0, usize::MAX)
                .unwrap()
                .contracts,
        );
    }
    assert_eq!(stored_contracts, contracts);
    let settings: BTreeMap<String, String> = items(&manifest, "settings");
    assert_eq!(store.settings().unwrap(), settings);

    // The current version from now on: the next open migrates nothing, and the new tables work.
    drop(store);
    let mut again = Vec::new();
    let store =
        Store::open_with_progress(&path, keep_all(), &mut |p| again.push(p.clone())).unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert!(store.recovery().is_empty());
    let next = store
        .begin_run(
            Run {
                id: 0,
                owner: Some(RunOwner::current()),
                trigger: Some(Trigger::headless()),
                status: RunStatus::Running,
                ..runs[0].clone()
            },
            &["cmdb".to_string()],
        )
        .unwrap();
    assert_eq!(next, 10, "run ids go on from the old ones");
    assert_eq!(store.lease_holder("cmdb").unwrap().unwrap().id, next);
}

#[test]
fn a_store_newer_than_this_syncdeck_is_refused_and_left_as_it_was() {
    let (dir, path) = fixture_copy();
    {
        // Written with redb directly, as a newer syncdeck would.
        const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("schema_version", SCHEMA_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let mut lines = Vec::new();
    let err =
        Store::open_with_progress(&path, keep_all(), &mut |p| lines.push(p.clone())).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, supported, .. }
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("upgrade syncdeck"), "{err}");
    assert!(lines.is_empty(), "{lines:?}");
    // Nothing of it was changed: its version is still the newer one, its runs still there.
    {
        const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
        const RUNS: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("runs");
        use redb::{ReadableDatabase, ReadableTableMetadata};
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let version = txn.open_table(META).unwrap().get("schema_version").unwrap();
        assert_eq!(version.map(|v| v.value()), Some(SCHEMA_VERSION + 1));
        assert_eq!(txn.open_table(RUNS).unwrap().len().unwrap(), 9);
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["history.redb".to_string()], "no copy was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_opening_a_version_1_store_together_migrate_it_once() {
    let (dir, path) = fixture_copy();
    let config = dir.path().join("config.toml");
    // Nothing listens there: `report` reads the store only. Everything is kept: the fixture's
    // entries are older than the default retention.
    let text = syncdeck::demo::config_for("127.0.0.1:9".parse().unwrap());
    std::fs::write(&config, format!("{text}\n[store]\nretention_days = 3650\n")).unwrap();
    let report = || {
        let mut command = common::cli::demo_command(dir.path());
        command
            .arg("--config")
            .arg(&config)
            .arg("--store")
            .arg(&path)
            .args(["report", "--search", "SD-000004", "--format", "json"]);
        common::cli::output(command, common::cli::CHILD_LIMIT)
    };
    let (a, b, c) = tokio::join!(report(), report(), report());
    let mut migrated = 0;
    for out in [&a, &b, &c] {
        assert_eq!(out.code, Some(0), "{out:?}");
        // The serial's timeline (one entry, of run 2) is read the same by every process.
        let timeline = out.json();
        assert_eq!(timeline.as_array().unwrap().len(), 1, "{out:?}");
        assert_eq!(timeline[0]["run_id"], 2, "{out:?}");
        if out.stderr.contains("migrating store") {
            migrated += 1;
            assert!(out.stderr.contains("history.redb.bak-v1"), "{out:?}");
        }
    }
    assert_eq!(
        migrated, 1,
        "exactly one process migrates: {a:?}\n{b:?}\n{c:?}"
    );
    assert!(backup_path(&path, 1).exists());
}

const FIXTURE_V2: &str = "tests/fixtures/store-v2.redb";
const TIMELINES_V2: &str = "tests/fixtures/store-v2.timelines.json";
const FIXTURE_V3: &str = "tests/fixtures/store-v3.redb";
const TIMELINES_V3: &str = "tests/fixtures/store-v3.timelines.json";

/// The first byte of an entry in the form this syncdeck writes (version 4: names as an id).
const CURRENT_ENTRY_TAG: u8 = 0x04;
/// The first byte of a contract in the form this syncdeck writes (version 5; JSON before).
const CURRENT_CONTRACT_TAG: u8 = 0x05;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_store_is_migrated_and_every_entry_reports_as_before() {
    migrates_and_reports_as_before(FIXTURE_V2, TIMELINES_V2, 2).await;
}

/// The version-3 fixture was written by the binary of commit 47e3d07 (the last of version 3,
/// entries compact but each with its connection and system names) exactly as the version-2 one
/// was: the same demo server, runs and retention; its timelines are what that binary printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_store_is_migrated_and_every_entry_reports_as_before() {
    migrates_and_reports_as_before(FIXTURE_V3, TIMELINES_V3, 3).await;
}

/// Opens a copy of the fixture of schema `version` through `report --search SERIAL --format
/// json`: the first open migrates it (saying so, keeping the copy), and every serial's timeline
/// (every entry of the store, 455, with diffs and contract hashes) is what the old binary
/// printed; afterwards every entry is stored in the current form.
async fn migrates_and_reports_as_before(fixture: &str, timelines: &str, version: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nightly.redb");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join(fixture), &path).unwrap();
    let expected: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join(timelines)).unwrap()).unwrap();
    assert_eq!(expected.len(), 40);
    let config = dir.path().join("config.toml");
    // Nothing listens there: `report` reads the store only; everything is kept.
    let text = syncdeck::demo::config_for("127.0.0.1:9".parse().unwrap());
    std::fs::write(&config, format!("{text}\n[store]\nretention_days = 3650\n")).unwrap();
    let report = |serial: &str| {
        let mut command = common::cli::demo_command(dir.path());
        command
            .arg("--config")
            .arg(&config)
            .arg("--store")
            .arg(&path)
            .args(["report", "--search", serial, "--format", "json"]);
        common::cli::output(command, common::cli::CHILD_LIMIT)
    };

    let mut entries = 0;
    for (n, (serial, before)) in expected.iter().enumerate() {
        let out = report(serial).await;
        assert_eq!(out.code, Some(0), "{out:?}");
        if n == 0 {
            // The first open migrates, says so, and keeps the old copy.
            let from = format!("from schema version {version} to {SCHEMA_VERSION}");
            assert!(out.stderr.contains(&from), "{out:?}");
            let copy = format!("nightly.redb.bak-v{version}");
            assert!(out.stderr.contains(&copy), "{out:?}");
        } else {
            assert!(!out.stderr.contains("migrating"), "{out:?}");
        }
        let after = out.json();
        assert_eq!(&after, before, "the timeline of {serial}");
        entries += after.as_array().unwrap().len();
    }
    assert_eq!(entries, 455);
    assert!(backup_path(&path, version).exists());

    // Every entry is in the current form now, and reads back through the store as well.
    let store = Store::open(&path, keep_all()).unwrap();
    for sync_id in 1..=455 {
        let entry = store
            .get_entry(sync_id)
            .unwrap()
            .expect("every entry is kept");
        assert_eq!(entry.sync_id, sync_id);
    }
    drop(store);
    {
        use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
        let entries: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
        let names: TableDefinition<u32, (&str, &str)> = TableDefinition::new("entry_names");
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(entries).unwrap();
        for item in table.iter().unwrap() {
            let (key, value) = item.unwrap();
            assert_eq!(
                value.value().first(),
                Some(&CURRENT_ENTRY_TAG),
                "entry {} is not in the current form",
                key.value()
            );
        }
        let contracts: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("contracts");
        let contracts = txn.open_table(contracts).unwrap();
        assert!(contracts.len().unwrap() > 0);
        for item in contracts.iter().unwrap() {
            let (key, value) = item.unwrap();
            assert_eq!(
                value.value().first(),
                Some(&CURRENT_CONTRACT_TAG),
                "contract {:?} is not in the current form",
                key.value()
            );
        }
        // The demo's four connections, each of one system: four names, stored once.
        assert_eq!(txn.open_table(names).unwrap().len().unwrap(), 4);
    }
}
