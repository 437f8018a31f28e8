//! Giving the store file's free space back: after a prune the file shrinks and keeps every
//! entry it should; a compaction is refused (exit 3) while a run is going; `syncdeck store
//! compact` by hand.

mod common;

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use syncdeck::store::*;

fn entry(i: u64, time: DateTime<Utc>) -> ReportEntry {
    ReportEntry {
        sync_id: 0,
        run_id: 1,
        connection: "cmdb".to_string(),
        system: "ServiceNow CMDB".to_string(),
        reference: format!("SD-{i:06}"),
        source_id: Some(format!("SD-{i:06}")),
        target_id: Some(format!("{:032x}", i * 2_654_435_761)),
        status: EntryStatus::Dry,
        outcome: Outcome::Skipped,
        reason: Some("no_change".to_string()),
        time,
        attempts: Vec::new(),
        error: None,
        diff: Vec::new(),
        hashes: Some(ContractHashes {
            before: Some(format!("{:032x}", i)),
            after: Some(format!("{:032x}", i)),
        }),
    }
}

fn finished_run(started_at: DateTime<Utc>) -> Run {
    Run {
        id: 0,
        run_type: RunType::Full,
        mode: RunMode::Dry,
        status: RunStatus::Completed,
        started_at,
        finished_at: Some(started_at + Duration::minutes(3)),
        serial: None,
        connections: vec!["cmdb".to_string()],
        credential_contexts: Vec::new(),
        note: None,
        owner: Some(RunOwner::current()),
        trigger: Some(Trigger::headless()),
    }
}

/// `old` entries a month old and `recent` ones of today, in batches of a thousand.
fn fill(path: &Path, old: u64, recent: u64) {
    let store = Store::open(path, StoreOptions { retention_days: 0 }).unwrap();
    let month_ago = Utc::now() - Duration::days(30);
    store.create_run(finished_run(month_ago)).unwrap();
    let mut batch = WriteBatch::new();
    for i in 0..old + recent {
        let time = if i < old { month_ago } else { Utc::now() };
        batch.entries.push(entry(i, time));
        if batch.entries.len() == 1_000 {
            store.commit(&mut batch).unwrap();
            batch = WriteBatch::new();
        }
    }
    store.commit(&mut batch).unwrap();
}

#[test]
fn a_compaction_after_a_prune_gives_space_back_and_keeps_what_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let (old, recent) = (30_000, 2_000);
    fill(&path, old, recent);
    let filled = std::fs::metadata(&path).unwrap().len();

    let store = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(store.pruned().entries, old);
    // Below COMPACT_AFTER_PRUNED (unit-tested in store::compact) the end of a run leaves it.
    assert_eq!(store.compact_if_worthwhile(store.file_len()), None);
    let compacted = store.compact().unwrap();
    assert_eq!(compacted.bytes_before, filled);
    assert!(
        compacted.bytes_after * 2 < compacted.bytes_before,
        "{compacted:?}"
    );
    assert_eq!(compacted.bytes_after, store.file_len());

    // Every entry that is kept reads back, through its id and through the indexes.
    assert_eq!(store.count_entries(&EntryQuery::default()).unwrap(), recent);
    for i in old..old + recent {
        let kept = store
            .get_entry(i + 1)
            .unwrap()
            .expect("a recent entry is kept");
        assert_eq!(kept.reference, format!("SD-{i:06}"));
    }
    let dry = EntryQuery {
        status: Some(EntryStatus::Dry),
        reference_prefix: Some("SD-0300".to_string()),
        ..EntryQuery::default()
    };
    assert_eq!(store.count_entries(&dry).unwrap(), 100);
    // And the store still takes writes.
    let mut batch = WriteBatch::new();
    batch.entries.push(entry(999_999, Utc::now()));
    assert_eq!(store.commit(&mut batch).unwrap(), vec![old + recent + 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_is_refused_while_a_run_is_going_and_done_by_hand_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    fill(&path, 0, 3_000);
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    let going = store
        .begin_run(
            Run {
                status: RunStatus::Running,
                finished_at: None,
                ..finished_run(Utc::now())
            },
            &["cmdb".to_string()],
        )
        .unwrap();
    let refused = store.compact().unwrap_err();
    assert!(matches!(refused, StoreError::Busy { .. }), "{refused:?}");
    assert_eq!(refused.exit_code(), 3);
    assert!(refused.to_string().contains("a run is going"), "{refused}");

    // Another process is refused alike, with exit code 3 (this process's run is alive).
    let compact = || {
        let mut command = common::cli::command(dir.path());
        command.arg("--store").arg(&path).args(["store", "compact"]);
        common::cli::output(command, common::cli::CHILD_LIMIT)
    };
    let out = compact().await;
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(out.stderr.contains("cannot be compacted now"), "{out:?}");

    // Once the run has ended, it compacts and says how much it gave back.
    let mut run = store.get_run(going).unwrap().unwrap();
    run.status = RunStatus::Completed;
    run.finished_at = Some(Utc::now());
    let mut batch = WriteBatch::new();
    batch.runs.push(run);
    store.commit(&mut batch).unwrap();
    drop(store);
    let out = compact().await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("compacted:"), "{out:?}");
    let store = Store::open(&path, StoreOptions::default()).unwrap();
    assert_eq!(store.count_entries(&EntryQuery::default()).unwrap(), 3_000);
}

#[test]
fn the_space_statistics_account_for_every_entry_and_the_compaction_gives_back_the_slack() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("space.redb");
    fill(&path, 0, 20_000);
    let store = Store::open(&path, StoreOptions { retention_days: 0 }).unwrap();
    let before = store.space().unwrap();
    let table = |space: &SpaceStats, name: &str| {
        space
            .tables
            .iter()
            .find(|t| t.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no table {name}: {space:?}"))
    };
    for name in [
        "entries",
        "entries_by_time",
        "entries_by_status",
        "entries_by_reference",
        "entries_by_run",
    ] {
        let found = table(&before, name);
        assert_eq!(found.rows, 20_000, "{name}");
        assert!(found.stored_bytes >= 16 * 20_000, "{found:?}");
        assert!(found.page_bytes >= found.stored_bytes, "{found:?}");
    }
    // One pair of names for all of them, stored once.
    assert_eq!(table(&before, "entry_names").rows, 1);
    assert_eq!(before.file_bytes, store.file_len());
    assert!(before.allocated_bytes <= before.file_bytes, "{before:?}");
    assert!(before.stored_bytes < before.allocated_bytes, "{before:?}");
    store.compact().unwrap();
    let after = store.space().unwrap();
    // Nothing left but what is allocated (and redb's header page).
    assert!(
        after.file_bytes - after.allocated_bytes <= 4096,
        "{after:?}"
    );
    assert!(
        after.file_bytes <= before.file_bytes,
        "{after:?} {before:?}"
    );
    assert_eq!(table(&after, "entries").rows, 20_000);
}
