//! Where a store file's bytes go after a run's worth of commits, from redb's statistics
//! ([`Store::space`]): what the tables hold, what is allocated, what is free, and the file's
//! length; for the causes issue 16 asked about (commit sizes, readers held across commits,
//! region growth). Run with `cargo bench --bench space`; `SYNCDECK_SPACE_ENTRIES=N` changes
//! the size (default 300,000).
//!
//! Each case writes the same records as a Full Live on the demo CMDB does: per record a
//! no-change (70%) or changed (30%, with a diff) entry and its contract, in batches with the
//! connection run's row, into a fresh store, then prints the statistics, compacts, and prints
//! them again:
//!
//! 1. batches of 1,000 (what a run commits);
//! 2. batches of 1,000 with a reader held open across every commit (a report export or a
//!    console's read that lasts while a run commits);
//! 3. batches of 10,000.

use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use syncdeck::store::*;

const MIB: f64 = 1024.0 * 1024.0;

fn entry(i: u64, time: DateTime<Utc>) -> ReportEntry {
    let changed = i % 10 < 3;
    let serial = format!("SD-{i:07}");
    let hash = format!("{:064x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15);
    ReportEntry {
        sync_id: 0,
        run_id: 1,
        connection: "cmdb".to_string(),
        system: "ServiceNow CMDB (demo)".to_string(),
        reference: serial.clone(),
        source_id: Some(serial),
        target_id: Some(format!("{:032x}", u128::from(i) * 2_654_435_761)),
        status: if changed {
            EntryStatus::Ok
        } else {
            EntryStatus::Dry
        },
        outcome: if changed {
            Outcome::Updated
        } else {
            Outcome::Skipped
        },
        reason: (!changed).then(|| "no_change".to_string()),
        time,
        attempts: Vec::new(),
        error: None,
        diff: if changed {
            vec![FieldChange {
                field: "ram_gb".to_string(),
                old: Some(serde_json::json!(8)),
                new: Some(serde_json::json!(16)),
            }]
        } else {
            Vec::new()
        },
        hashes: Some(ContractHashes {
            before: Some(hash.clone()),
            after: Some(hash),
        }),
    }
}

fn contract(i: u64, time: DateTime<Utc>) -> SyncContract {
    SyncContract {
        connection: "cmdb".to_string(),
        origin_id: format!("SD-{i:07}"),
        target_id: Some(format!("{:032x}", u128::from(i) * 2_654_435_761)),
        last_hash: format!("{:064x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15),
        last_seen: time,
        last_synced: Some(time),
        last_action: ContractAction::Updated,
    }
}

fn connection_run(processed: u64, started: DateTime<Utc>) -> ConnectionRun {
    ConnectionRun {
        run_id: 1,
        position: 0,
        connection: "cmdb".to_string(),
        system: "ServiceNow CMDB (demo)".to_string(),
        credential: None,
        mode: RunMode::Live,
        status: RunStatus::Running,
        total: 0,
        processed,
        counters: Counters::default(),
        error: None,
        started_at: Some(started),
        finished_at: None,
        config_hash: "c".repeat(64),
        note: None,
    }
}

fn print(label: &str, entries: u64, space: &SpaceStats) {
    let per = |bytes: u64| bytes as f64 / entries as f64;
    println!(
        "  {label:<16} file {:>7.1} MiB ({:>4.0} B/entry)  allocated {:>7.1} MiB ({:>4.0} B/entry)  \
         stored {:>7.1} MiB  redb's own {:>5.1} MiB  free or unused in pages {:>7.1} MiB  \
         not allocated {:>7.1} MiB",
        space.file_bytes as f64 / MIB,
        per(space.file_bytes),
        space.allocated_bytes as f64 / MIB,
        per(space.allocated_bytes),
        space.stored_bytes as f64 / MIB,
        space.metadata_bytes as f64 / MIB,
        space.fragmented_bytes as f64 / MIB,
        space.file_bytes.saturating_sub(space.allocated_bytes) as f64 / MIB,
    );
}

/// Bytes per entry of each table with at least one row per hundred entries.
fn print_tables(entries: u64, space: &SpaceStats) {
    for table in space.tables.iter().filter(|t| t.rows * 100 >= entries) {
        println!(
            "    {:<22} {:>9} rows  stored {:>5.1} B/entry  pages {:>5.1} B/entry",
            table.name,
            table.rows,
            table.stored_bytes as f64 / entries as f64,
            table.page_bytes as f64 / entries as f64,
        );
    }
}

fn case(dir: &std::path::Path, name: &str, entries: u64, batch_size: usize, hold_reader: bool) {
    let path = dir.join(format!("{}.redb", name.replace(' ', "-")));
    let store = Store::open(&path, StoreOptions { retention_days: 0 }).expect("open");
    let started = Utc::now();
    let mut run = Run {
        id: 0,
        run_type: RunType::Full,
        mode: RunMode::Live,
        status: RunStatus::Running,
        started_at: started,
        finished_at: None,
        serial: None,
        connections: vec!["cmdb".to_string()],
        credential_contexts: Vec::new(),
        note: None,
        owner: None,
        trigger: None,
    };
    run.id = store.create_run(run.clone()).expect("run");
    // A reader that holds one read transaction until the writes are done: an export whose
    // visitor waits. It needs an entry to stop on.
    let (stop, stopped) = mpsc::channel::<()>();
    let reader = hold_reader.then(|| {
        let mut first = WriteBatch::new();
        first.entries.push(entry(u64::MAX / 4, started));
        store.commit(&mut first).expect("commit");
        let (ready, inside) = mpsc::channel::<()>();
        let store = store.clone();
        let reader = std::thread::spawn(move || {
            let mut visit = |_: &ReportEntry| {
                let _ = ready.send(());
                let _ = stopped.recv();
                ControlFlow::Break(())
            };
            let filter = ReportFilter::default();
            let _ = store.for_each_report_entry(&filter, ReportSort::default(), &mut visit);
        });
        inside.recv().expect("the reader is inside its transaction");
        reader
    });
    let began = Instant::now();
    let mut batch = WriteBatch::new();
    for i in 0..entries {
        let time = started + Duration::milliseconds(i as i64);
        batch.entries.push(entry(i, time));
        batch.contracts.push(contract(i, time));
        if batch.entries.len() == batch_size || i + 1 == entries {
            batch.connection_runs.push(connection_run(i + 1, started));
            store.commit(&mut batch).expect("commit");
        }
    }
    let spent = began.elapsed();
    let _ = stop.send(());
    if let Some(reader) = reader {
        let _ = reader.join();
    }
    run.status = RunStatus::Completed;
    let mut row = connection_run(entries, started);
    row.status = RunStatus::Completed;
    store.upsert_connection_run(&row).expect("row");
    store.upsert_run(&run).expect("run");
    println!(
        "{name}: {entries} entries and contracts in batches of {batch_size}: {:.1} s ({:.0} records/s)",
        spent.as_secs_f64(),
        entries as f64 / spent.as_secs_f64()
    );
    print("after the run", entries, &store.space().expect("stats"));
    store.compact().expect("compact");
    let compacted = store.space().expect("stats");
    print("after compact", entries, &compacted);
    if !hold_reader && batch_size == 1_000 {
        print_tables(entries, &compacted);
    }
    drop(store);
    let _ = std::fs::remove_file(&path);
}

fn main() {
    let entries: u64 = std::env::var("SYNCDECK_SPACE_ENTRIES")
        .ok()
        .and_then(|n| n.replace('_', "").parse().ok())
        .unwrap_or(300_000);
    let dir = tempfile::tempdir().expect("temp dir");
    case(dir.path(), "as a run commits", entries, 1_000, false);
    case(dir.path(), "reader held open", entries, 1_000, true);
    case(dir.path(), "larger commits", entries, 10_000, false);
}
