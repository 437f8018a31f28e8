//! The store against real redb files in temp dirs: paging through every index, one store
//! shared by several opens and processes (leases, cancel requests, the change counter), schema
//! and damaged files, recovery after a dead process (and none for a living one), index upkeep
//! on updates, contracts, settings and retention.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use syncdeck::store::*;

/// Set in a child test process to make it act as a helper instead of running the test.
const ROLE_ENV: &str = "SYNCDECK_STORE_TEST_ROLE";
const PATH_ENV: &str = "SYNCDECK_STORE_TEST_PATH";

const CONNECTIONS: [&str; 3] = ["cmdb", "registry", "mdm"];

fn options() -> StoreOptions {
    StoreOptions::default()
}

fn store_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("syncdeck.redb")
}

/// A new entry (sync id 0) with the fields a test cares about.
fn entry(run_id: RunId, reference: &str, status: EntryStatus, time: DateTime<Utc>) -> ReportEntry {
    ReportEntry {
        sync_id: 0,
        run_id,
        connection: "cmdb".to_string(),
        system: "ServiceNow CMDB".to_string(),
        reference: reference.to_string(),
        source_id: Some(format!("src-{reference}")),
        target_id: None,
        status,
        outcome: match status {
            EntryStatus::Failed => Outcome::Error,
            EntryStatus::Dry => Outcome::WouldUpdate,
            _ => Outcome::Updated,
        },
        reason: None,
        time,
        attempts: vec![Attempt {
            at: time,
            http_status: Some(if status == EntryStatus::Failed {
                400
            } else {
                200
            }),
            error: None,
        }],
        error: (status == EntryStatus::Failed).then(|| EntryError {
            http_status: Some(400),
            code: Some("INVALID_CONTENT".to_string()),
            message: "field ram_gb is not a number".to_string(),
            ..EntryError::default()
        }),
        diff: vec![FieldChange {
            field: "ram_gb".to_string(),
            old: Some(serde_json::json!(8)),
            new: Some(serde_json::json!(16)),
        }],
        hashes: None,
    }
}

/// The i-th entry of the large data set: statuses, serials, runs, connections and times vary;
/// every three entries share a time so cursors must break ties by sync id.
fn fleet_entry(i: u64, base: DateTime<Utc>) -> ReportEntry {
    let status = match i % 20 {
        0 | 1 => EntryStatus::Failed,
        2 | 3 => EntryStatus::Sent,
        4..=7 => EntryStatus::Dry,
        _ => EntryStatus::Ok,
    };
    let serial = format!("SN-{:05}", (i * 7919) % 5000);
    let time = base + Duration::milliseconds((i / 3) as i64 * 12_000);
    let mut entry = entry(i / 10_000 + 1, &serial, status, time);
    entry.connection = CONNECTIONS[(i % 3) as usize].to_string();
    entry
}

fn run(status: RunStatus, started_at: DateTime<Utc>) -> Run {
    Run {
        id: 0,
        run_type: RunType::Full,
        mode: RunMode::Live,
        status,
        started_at,
        finished_at: status
            .is_finished()
            .then(|| started_at + Duration::minutes(3)),
        serial: None,
        connections: vec!["cmdb".to_string(), "mdm".to_string()],
        credential_contexts: vec!["cmdb-prod".to_string()],
        note: None,
        owner: None,
        trigger: None,
    }
}

/// A Running run owned by this process, as an engine here starts it.
fn owned_run(started_at: DateTime<Utc>) -> Run {
    Run {
        owner: Some(RunOwner::current()),
        trigger: Some(Trigger::headless()),
        ..run(RunStatus::Running, started_at)
    }
}

fn connection_run(run_id: RunId, position: u32, status: RunStatus) -> ConnectionRun {
    ConnectionRun {
        run_id,
        position,
        connection: CONNECTIONS[position as usize % 3].to_string(),
        system: "ServiceNow CMDB".to_string(),
        credential: Some("cmdb-prod".to_string()),
        mode: RunMode::Live,
        status,
        total: 2000,
        processed: 1204,
        counters: Counters {
            updated: 1200,
            failed: 4,
            ..Counters::default()
        },
        error: None,
        started_at: Some(Utc::now()),
        finished_at: None,
        config_hash: "abc".to_string(),
        note: None,
    }
}

/// Pages through `query` with `page_size` and returns every entry, checking that each page but
/// the last is full and that the last has no cursor.
fn page_all(store: &Store, query: &EntryQuery, page_size: usize) -> Vec<ReportEntry> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.entries_page(query, cursor, page_size).unwrap();
        assert!(page.entries.len() <= page_size);
        all.extend(page.entries.iter().cloned());
        match page.next {
            Some(next) => {
                assert_eq!(
                    page.entries.len(),
                    page_size,
                    "a page with a cursor is full"
                );
                cursor = Some(next);
            }
            None => return all,
        }
    }
}

fn order_key(entry: &ReportEntry) -> (i64, SyncId) {
    (entry.time.timestamp_millis(), entry.sync_id)
}

/// Asserts `got` lists exactly `expected` (already in the expected order), by sync id.
fn assert_same_ids(got: &[ReportEntry], expected: &[&ReportEntry], what: &str) {
    let got_ids: Vec<SyncId> = got.iter().map(|e| e.sync_id).collect();
    let expected_ids: Vec<SyncId> = expected.iter().map(|e| e.sync_id).collect();
    assert_eq!(got_ids.len(), expected_ids.len(), "{what}: count");
    assert!(got_ids == expected_ids, "{what}: order or content differs");
    let unique: HashSet<SyncId> = got_ids.iter().copied().collect();
    assert_eq!(unique.len(), got_ids.len(), "{what}: duplicates");
}

/// The model's answer: entries matching `query`, newest first by (time, sync id).
fn expected<'a>(model: &'a [ReportEntry], query: &EntryQuery) -> Vec<&'a ReportEntry> {
    let mut matching: Vec<&ReportEntry> = model.iter().filter(|e| query.matches(e)).collect();
    matching.sort_by_key(|e| std::cmp::Reverse(order_key(e)));
    matching
}

#[test]
fn hundred_thousand_entries_page_through_every_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let base = Utc::now() - Duration::days(5);
    let model: Vec<ReportEntry> = (0..100_000)
        .map(|i| {
            let mut e = fleet_entry(i, base);
            e.sync_id = i + 1;
            e
        })
        .collect();
    {
        let store = Store::open(&path, options()).unwrap();
        let mut batch = WriteBatch::new();
        for chunk in model.chunks(1_000) {
            batch.entries.extend(chunk.iter().map(|e| ReportEntry {
                sync_id: 0,
                ..e.clone()
            }));
            let ids = store.commit(&mut batch).unwrap();
            let expected_ids: Vec<SyncId> = chunk.iter().map(|e| e.sync_id).collect();
            assert_eq!(ids, expected_ids, "ids are handed out in order");
            assert!(batch.is_empty(), "a committed batch is emptied");
        }
    }
    let store = Store::open(&path, options()).unwrap();
    assert!(store.recovery().is_empty());
    assert_eq!(
        store.get_entry(4_242).unwrap().as_ref(),
        Some(&model[4_241])
    );

    // By time: everything, newest first.
    let all = EntryQuery::default();
    assert_eq!(store.count_entries(&all).unwrap(), 100_000);
    let got = page_all(&store, &all, 10_000);
    assert_same_ids(&got, &expected(&model, &all), "by time");
    assert!(got.windows(2).all(|w| order_key(&w[0]) > order_key(&w[1])));

    // By status, with an odd page size so pages end inside groups of equal times.
    for status in [EntryStatus::Failed, EntryStatus::Sent] {
        let query = EntryQuery {
            status: Some(status),
            ..EntryQuery::default()
        };
        let want = expected(&model, &query);
        assert_eq!(store.count_entries(&query).unwrap(), want.len() as u64);
        let got = page_all(&store, &query, 777);
        assert!(got.iter().all(|e| e.status == status));
        assert_same_ids(&got, &want, status.as_str());
    }

    // By status within a time window and a connection (conditions beyond the index).
    let query = EntryQuery {
        status: Some(EntryStatus::Failed),
        connection: Some("mdm".to_string()),
        since: Some(base + Duration::days(1)),
        until: Some(base + Duration::days(3)),
        ..EntryQuery::default()
    };
    let want = expected(&model, &query);
    assert!(!want.is_empty());
    assert_eq!(store.count_entries(&query).unwrap(), want.len() as u64);
    assert_same_ids(
        &page_all(&store, &query, 100),
        &want,
        "failed on mdm, 2 days",
    );

    // By run: the run's entries in the order recorded, newest first.
    let query = EntryQuery {
        run: Some(3),
        ..EntryQuery::default()
    };
    let want = expected(&model, &query);
    assert_eq!(want.len(), 10_000);
    assert_eq!(store.count_entries(&query).unwrap(), 10_000);
    assert_same_ids(&page_all(&store, &query, 999), &want, "by run");
    let query = EntryQuery {
        run: Some(3),
        status: Some(EntryStatus::Failed),
        ..EntryQuery::default()
    };
    let want = expected(&model, &query);
    assert_eq!(store.count_entries(&query).unwrap(), want.len() as u64);
    assert_same_ids(&page_all(&store, &query, 64), &want, "failed in run 3");

    // By reference prefix: many serials, merged newest first.
    for prefix in ["SN-012", "SN-04999", "SN-0"] {
        let query = EntryQuery {
            reference_prefix: Some(prefix.to_string()),
            ..EntryQuery::default()
        };
        let want = expected(&model, &query);
        assert!(!want.is_empty());
        assert_eq!(store.count_entries(&query).unwrap(), want.len() as u64);
        let page_size = if prefix == "SN-0" { 5_000 } else { 50 };
        assert_same_ids(&page_all(&store, &query, page_size), &want, prefix);
    }
    let query = EntryQuery {
        reference_prefix: Some("SN-03".to_string()),
        status: Some(EntryStatus::Dry),
        since: Some(base + Duration::days(2)),
        ..EntryQuery::default()
    };
    let want = expected(&model, &query);
    assert_eq!(store.count_entries(&query).unwrap(), want.len() as u64);
    assert_same_ids(
        &page_all(&store, &query, 30),
        &want,
        "dry SN-03 since day 2",
    );
    let nothing = EntryQuery {
        reference_prefix: Some("XX".to_string()),
        ..EntryQuery::default()
    };
    assert_eq!(
        store.entries_page(&nothing, None, 10).unwrap(),
        EntryPage::default()
    );
}

/// Runs this test binary again, as `role` on `path`, and waits for its first line on stdout
/// that starts with `token`; returns the child and the rest of that line.
fn spawn_helper(test_name: &str, role: &str, path: &Path, token: &str) -> (ChildGuard, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .env(PATH_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = ChildGuard(child);
    let (tx, rx) = mpsc::channel();
    let token = token.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(at) = line.find(&token) {
                let _ = tx.send(line[at + token.len()..].trim().to_string());
                return;
            }
        }
    });
    let rest = rx
        .recv_timeout(StdDuration::from_secs(60))
        .expect("the helper process never got ready");
    (guard, rest)
}

/// Kills the helper process when a test ends, passed or not.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn helper_role() -> Option<(String, PathBuf)> {
    let role = std::env::var(ROLE_ENV).ok()?;
    let path = std::env::var_os(PATH_ENV)?;
    Some((role, PathBuf::from(path)))
}

/// What a helper process does; never returns (the parent kills it).
fn act_as_helper(role: &str, path: &Path) -> ! {
    let store = Store::open(path, options()).expect("helper opens the store");
    let mut out = std::io::stdout();
    match role {
        "owner" => {
            // A run of this living process, holding cmdb, with an entry still being retried.
            let run_id = store
                .begin_run(owned_run(Utc::now()), &["cmdb".to_string()])
                .unwrap();
            let mut batch = WriteBatch::new();
            batch
                .entries
                .push(entry(run_id, "SN-HELD", EntryStatus::Pending, Utc::now()));
            let ids = store.commit(&mut batch).unwrap();
            store.set_setting("written-by", "the helper").unwrap();
            writeln!(out, "syncdeck-helper-owning {run_id} {}", ids[0]).unwrap();
        }
        "writer" => {
            let now = Utc::now();
            let run_id = store.create_run(run(RunStatus::Running, now)).unwrap();
            let mut batch = WriteBatch::new();
            batch
                .connection_runs
                .push(connection_run(run_id, 0, RunStatus::Running));
            for i in 0..1_000u64 {
                let status = if i % 2 == 0 {
                    EntryStatus::Pending
                } else {
                    EntryStatus::Ok
                };
                batch
                    .entries
                    .push(entry(run_id, &format!("K-{i:04}"), status, now));
            }
            let ids = store.commit(&mut batch).unwrap();
            writeln!(
                out,
                "syncdeck-helper-committed {run_id} {} {}",
                ids[0],
                ids[ids.len() - 1]
            )
            .unwrap();
        }
        other => panic!("unknown helper role {other}"),
    }
    out.flush().unwrap();
    loop {
        std::thread::sleep(StdDuration::from_secs(1));
    }
}

#[test]
fn a_second_open_in_the_same_process_shares_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let first = Store::open(&path, options()).unwrap();
    let second = Store::open(&path, options()).unwrap();
    first.set_setting("k", "v").unwrap();
    assert_eq!(second.get_setting("k").unwrap().as_deref(), Some("v"));
    let run_id = second.create_run(owned_run(Utc::now())).unwrap();
    assert_eq!(
        first.get_run(run_id).unwrap().unwrap().status,
        RunStatus::Running
    );
    drop(first);
    // A third open finds the run of a living owner (this process) and leaves it alone.
    let third = Store::open(&path, options()).unwrap();
    assert!(third.recovery().is_empty(), "{:?}", third.recovery());
    assert_eq!(
        third.get_run(run_id).unwrap().unwrap().status,
        RunStatus::Running
    );
}

#[test]
fn another_process_shares_the_store_and_its_run_is_left_alone_until_it_dies() {
    if let Some((role, path)) = helper_role() {
        act_as_helper(&role, &path);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let (mut child, rest) = spawn_helper(
        "another_process_shares_the_store_and_its_run_is_left_alone_until_it_dies",
        "owner",
        &path,
        "syncdeck-helper-owning",
    );
    let numbers: Vec<u64> = rest.split(' ').map(|n| n.parse().unwrap()).collect();
    let (run_id, pending_id) = (numbers[0], numbers[1]);

    // Open beside it: its run and its pending entry are untouched, its lease held.
    let store = Store::open(&path, options()).unwrap();
    assert!(store.recovery().is_empty(), "{:?}", store.recovery());
    let running = store.get_run(run_id).unwrap().unwrap();
    assert_eq!(running.status, RunStatus::Running);
    assert_eq!(running.owner.as_ref().unwrap().pid, child.0.id());
    assert_eq!(
        store.get_entry(pending_id).unwrap().unwrap().status,
        EntryStatus::Pending
    );
    assert_eq!(
        store.get_setting("written-by").unwrap().as_deref(),
        Some("the helper")
    );
    let refused = store
        .begin_run(owned_run(Utc::now()), &["cmdb".to_string()])
        .unwrap_err();
    match &refused {
        StoreError::ConnectionHeld(holder) => {
            assert_eq!(holder.run.id, run_id);
            let text = refused.to_string();
            let pid = format!("pid {}", child.0.id());
            assert!(text.contains(&format!("run #{run_id}")), "{text}");
            assert!(text.contains(&pid), "{text}");
            assert!(text.contains("process started"), "{text}");
        }
        other => panic!("expected ConnectionHeld, got {other:?}"),
    }
    assert_eq!(refused.exit_code(), 3);
    // Writes of both processes take turns; ids never collide.
    let mut batch = WriteBatch::new();
    batch
        .entries
        .push(entry(run_id, "SN-PARENT", EntryStatus::Ok, Utc::now()));
    let ids = store.commit(&mut batch).unwrap();
    assert!(ids[0] > pending_id);

    child.0.kill().unwrap();
    child.0.wait().unwrap();
    drop(store);
    let store = Store::open(&path, options()).unwrap();
    assert_eq!(store.recovery().runs_interrupted, vec![run_id]);
    assert_eq!(store.recovery().entries_failed, 1);
    // Its lease went with it.
    assert!(store.lease_holder("cmdb").unwrap().is_none());
    let later = store
        .begin_run(owned_run(Utc::now()), &["cmdb".to_string()])
        .unwrap();
    assert_eq!(store.lease_holder("cmdb").unwrap().unwrap().id, later);
}

#[test]
fn a_store_open_in_a_syncdeck_that_opens_it_alone_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    drop(Store::open(&path, options()).unwrap());
    // redb's default mode, as a syncdeck from before shared stores opens a store.
    let alone = redb::Database::create(&path).unwrap();
    let err = Store::open(&path, options()).unwrap_err();
    assert!(
        matches!(&err, StoreError::InUse { path: at } if at == &path),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("opens it alone"), "{err}");
    drop(alone);
    Store::open(&path, options()).expect("it opens once the other one is closed");
}

#[test]
fn leases_are_taken_all_or_none_and_let_go_with_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_path(&dir), options()).unwrap();
    let both = ["cmdb".to_string(), "mdm".to_string()];
    let first = store
        .begin_run(owned_run(Utc::now()), &["mdm".to_string()])
        .unwrap();
    // mdm is held: the whole start is refused, cmdb stays free and no run is recorded.
    let runs_before = store.list_runs(None, 100).unwrap().len();
    let err = store.begin_run(owned_run(Utc::now()), &both).unwrap_err();
    assert!(
        matches!(&err, StoreError::ConnectionHeld(h) if h.connection == "mdm" && h.run.id == first),
        "{err:?}"
    );
    assert!(store.lease_holder("cmdb").unwrap().is_none());
    assert_eq!(store.list_runs(None, 100).unwrap().len(), runs_before);
    // A Dry run takes no lease and starts beside it.
    store.begin_run(owned_run(Utc::now()), &[]).unwrap();
    // The first run ends (any status): its lease goes with the row written finished.
    let mut ended = store.get_run(first).unwrap().unwrap();
    ended.status = RunStatus::Canceled;
    store.upsert_run(&ended).unwrap();
    assert!(store.lease_holder("mdm").unwrap().is_none());
    let second = store.begin_run(owned_run(Utc::now()), &both).unwrap();
    assert_eq!(store.lease_holder("cmdb").unwrap().unwrap().id, second);
    assert_eq!(store.lease_holder("mdm").unwrap().unwrap().id, second);
}

#[test]
fn a_dead_owners_lease_is_taken_over_and_its_run_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_path(&dir), options()).unwrap();
    let mut child = Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let dead = Run {
        owner: Some(RunOwner {
            pid: dead_pid,
            ..RunOwner::current()
        }),
        ..owned_run(Utc::now())
    };
    let dead_id = store.begin_run(dead, &["cmdb".to_string()]).unwrap();
    let mut batch = WriteBatch::new();
    batch
        .entries
        .push(entry(dead_id, "SN-9", EntryStatus::Pending, Utc::now()));
    let pending = store.commit(&mut batch).unwrap()[0];
    let taker = store
        .begin_run(owned_run(Utc::now()), &["cmdb".to_string()])
        .unwrap();
    assert_eq!(store.lease_holder("cmdb").unwrap().unwrap().id, taker);
    let settled = store.get_run(dead_id).unwrap().unwrap();
    assert_eq!(settled.status, RunStatus::Interrupted);
    assert_eq!(
        store.get_entry(pending).unwrap().unwrap().status,
        EntryStatus::Failed
    );
}

#[test]
fn a_run_of_another_host_is_never_judged_dead() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let elsewhere = Run {
        owner: Some(RunOwner {
            host: "another-host.example".to_string(),
            pid: 1,
            ..RunOwner::current()
        }),
        ..owned_run(Utc::now())
    };
    let id = {
        let store = Store::open(&path, options()).unwrap();
        store.begin_run(elsewhere, &["cmdb".to_string()]).unwrap()
    };
    let store = Store::open(&path, options()).unwrap();
    assert!(store.recovery().is_empty());
    assert_eq!(
        store.get_run(id).unwrap().unwrap().status,
        RunStatus::Running
    );
    let err = store
        .begin_run(owned_run(Utc::now()), &["cmdb".to_string()])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("another host, which cannot be checked from here"),
        "{err}"
    );
}

#[test]
fn a_cancel_request_waits_for_its_run_and_goes_with_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_path(&dir), options()).unwrap();
    let id = store.create_run(owned_run(Utc::now())).unwrap();
    assert_eq!(store.cancel_request(id).unwrap(), None);
    let request = CancelRequest::from_here(Trigger::console());
    assert!(matches!(
        store.request_cancel(id, &request).unwrap(),
        CancelOutcome::Requested(run) if run.id == id
    ));
    assert_eq!(store.cancel_request(id).unwrap(), Some(request.clone()));
    assert!(request.requester().contains("(console, pid "));
    let mut ended = store.get_run(id).unwrap().unwrap();
    ended.status = RunStatus::Canceled;
    store.upsert_run(&ended).unwrap();
    assert_eq!(store.cancel_request(id).unwrap(), None);
    assert!(matches!(
        store.request_cancel(id, &request).unwrap(),
        CancelOutcome::NotRunning(run) if run.status == RunStatus::Canceled
    ));
    assert_eq!(
        store.request_cancel(id + 100, &request).unwrap(),
        CancelOutcome::Unknown
    );
}

#[test]
fn every_commit_moves_the_change_counter_and_reads_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let store = Store::open(&path, options()).unwrap();
    let other = Store::open(&path, options()).unwrap();
    let start = store.change_count().unwrap();
    store.list_runs(None, 10).unwrap();
    assert_eq!(store.change_count().unwrap(), start);
    other.set_setting("a", "1").unwrap();
    let after_setting = store.change_count().unwrap();
    assert!(after_setting > start);
    let mut batch = WriteBatch::new();
    batch
        .entries
        .push(entry(1, "SN-1", EntryStatus::Ok, Utc::now()));
    other.commit(&mut batch).unwrap();
    assert!(store.change_count().unwrap() > after_setting);
}

#[test]
fn committed_batches_survive_kill_9_and_are_recovered() {
    if let Some((role, path)) = helper_role() {
        act_as_helper(&role, &path);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let (mut child, rest) = spawn_helper(
        "committed_batches_survive_kill_9_and_are_recovered",
        "writer",
        &path,
        "syncdeck-helper-committed",
    );
    let numbers: Vec<u64> = rest.split(' ').map(|n| n.parse().unwrap()).collect();
    let (run_id, first, last) = (numbers[0], numbers[1], numbers[2]);
    child.0.kill().unwrap(); // SIGKILL: no destructor, no flush
    child.0.wait().unwrap();

    let store = Store::open(&path, options()).unwrap();
    assert_eq!(last - first + 1, 1_000);
    for sync_id in [first, first + 1, last] {
        assert!(
            store.get_entry(sync_id).unwrap().is_some(),
            "entry {sync_id}"
        );
    }
    let in_run = EntryQuery {
        run: Some(run_id),
        ..EntryQuery::default()
    };
    assert_eq!(store.count_entries(&in_run).unwrap(), 1_000);
    let recovery = store.recovery();
    assert_eq!(recovery.runs_interrupted, vec![run_id]);
    assert_eq!(recovery.connection_runs_interrupted, 1);
    assert_eq!(recovery.entries_failed, 500);
    assert_eq!(
        store.get_run(run_id).unwrap().unwrap().status,
        RunStatus::Interrupted
    );
}

#[test]
fn newer_schema_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    drop(Store::open(&path, options()).unwrap());
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
    let err = Store::open(&path, options()).unwrap_err();
    match &err {
        StoreError::NewerSchema {
            found, supported, ..
        } => {
            assert_eq!(*found, SCHEMA_VERSION + 1);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert_eq!(err.exit_code(), 3);
    let text = err.to_string();
    assert!(
        text.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{text}"
    );
    assert!(
        text.contains(&format!("version {SCHEMA_VERSION} this syncdeck")),
        "{text}"
    );
}

#[test]
fn a_file_that_is_not_a_store_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("short.redb", b"not a redb file\n".to_vec()),
        ("long.redb", b"garbage!".repeat(16 * 1024)),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let err = Store::open(&path, options()).unwrap_err();
        assert!(
            matches!(err, StoreError::Unreadable { .. }),
            "{name}: {err:?}"
        );
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains(name), "{err}");
        // The refused open must not have overwritten the file.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}

#[test]
fn a_run_that_finished_is_not_recovered_and_recovery_happens_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let now = Utc::now();
    let (finished_id, running_id) = {
        let store = Store::open(&path, options()).unwrap();
        // Started Running, then finished: the running index must forget it.
        let finished_id = store.create_run(run(RunStatus::Running, now)).unwrap();
        store
            .upsert_connection_run(&connection_run(finished_id, 0, RunStatus::Running))
            .unwrap();
        let mut done = store.get_run(finished_id).unwrap().unwrap();
        done.status = RunStatus::Completed;
        let mut batch = WriteBatch::new();
        batch.runs.push(done);
        batch
            .connection_runs
            .push(connection_run(finished_id, 0, RunStatus::Completed));
        store.commit(&mut batch).unwrap();
        let running_id = store.create_run(run(RunStatus::Running, now)).unwrap();
        (finished_id, running_id)
    };
    let store = Store::open(&path, options()).unwrap();
    assert_eq!(store.recovery().runs_interrupted, vec![running_id]);
    assert_eq!(store.recovery().connection_runs_interrupted, 0);
    assert_eq!(
        store.get_run(finished_id).unwrap().unwrap().status,
        RunStatus::Completed
    );
    drop(store);
    // The second open finds nothing left to settle.
    let store = Store::open(&path, options()).unwrap();
    assert!(store.recovery().is_empty(), "{:?}", store.recovery());
    assert_eq!(
        store.get_run(running_id).unwrap().unwrap().status,
        RunStatus::Interrupted
    );
}

#[test]
fn recovery_settles_what_a_dead_process_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let now = Utc::now();
    let (running_id, completed, pending_id, ok_id) = {
        let store = Store::open(&path, options()).unwrap();
        let running_id = store.create_run(run(RunStatus::Running, now)).unwrap();
        let completed_id = store.create_run(run(RunStatus::Completed, now)).unwrap();
        let mut batch = WriteBatch::new();
        batch
            .connection_runs
            .push(connection_run(running_id, 0, RunStatus::Running));
        batch
            .connection_runs
            .push(connection_run(completed_id, 0, RunStatus::Completed));
        let mut pending = entry(running_id, "SN-1", EntryStatus::Pending, now);
        pending.attempts.push(Attempt {
            at: now,
            http_status: Some(503),
            error: Some("service unavailable".to_string()),
        });
        batch.entries.push(pending);
        batch
            .entries
            .push(entry(running_id, "SN-2", EntryStatus::Ok, now));
        let ids = store.commit(&mut batch).unwrap();
        let completed = store.get_run(completed_id).unwrap().unwrap();
        (running_id, completed, ids[0], ids[1])
        // Dropped here without finishing the run, as a process that died would leave it.
    };
    let store = Store::open(&path, options()).unwrap();
    let recovery = store.recovery().clone();
    assert_eq!(recovery.runs_interrupted, vec![running_id]);
    assert_eq!(recovery.connection_runs_interrupted, 1);
    assert_eq!(recovery.entries_failed, 1);
    assert!(
        recovery
            .summary()
            .unwrap()
            .contains("1 run(s) marked interrupted")
    );

    let interrupted = store.get_run(running_id).unwrap().unwrap();
    assert_eq!(interrupted.status, RunStatus::Interrupted);
    assert_eq!(
        interrupted.note.as_deref(),
        Some("interrupted: the process ended while the run was going")
    );
    let rows = store.connection_runs(running_id).unwrap();
    assert_eq!(rows[0].status, RunStatus::Interrupted);
    assert_eq!(rows[0].processed, 1204, "progress is kept");

    let failed = store.get_entry(pending_id).unwrap().unwrap();
    assert_eq!(failed.status, EntryStatus::Failed);
    assert_eq!(failed.error.as_ref().unwrap().message, "interrupted");
    assert_eq!(failed.attempts.len(), 2, "attempts are kept");
    let by_status = |status| {
        store
            .count_entries(&EntryQuery {
                status: Some(status),
                ..EntryQuery::default()
            })
            .unwrap()
    };
    assert_eq!(by_status(EntryStatus::Pending), 0);
    assert_eq!(by_status(EntryStatus::Failed), 1);
    assert_eq!(
        store.get_entry(ok_id).unwrap().unwrap().status,
        EntryStatus::Ok
    );

    assert_eq!(store.get_run(completed.id).unwrap().unwrap(), completed);
    assert_eq!(
        store.connection_runs(completed.id).unwrap()[0].status,
        RunStatus::Completed
    );
    drop(store);
    let store = Store::open(&path, options()).unwrap();
    assert!(store.recovery().is_empty(), "nothing left to recover");
    assert_eq!(store.recovery().summary(), None);
}

#[test]
fn an_updated_entry_moves_between_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_path(&dir), options()).unwrap();
    let now = Utc::now();
    let mut batch = WriteBatch::new();
    batch.entries.push(entry(
        1,
        "SN-100",
        EntryStatus::Failed,
        now - Duration::hours(2),
    ));
    batch.entries.push(entry(
        1,
        "SN-200",
        EntryStatus::Failed,
        now - Duration::hours(1),
    ));
    let ids = store.commit(&mut batch).unwrap();
    let count = |query: EntryQuery| store.count_entries(&query).unwrap();
    let failed = || EntryQuery {
        status: Some(EntryStatus::Failed),
        ..EntryQuery::default()
    };
    let ok = || EntryQuery {
        status: Some(EntryStatus::Ok),
        ..EntryQuery::default()
    };
    assert_eq!(count(failed()), 2);

    // A resync: same entry, now OK, a later time and one more attempt.
    let mut resynced = store.get_entry(ids[0]).unwrap().unwrap();
    resynced.status = EntryStatus::Ok;
    resynced.time = now;
    resynced.attempts.push(Attempt {
        at: now,
        http_status: Some(200),
        error: None,
    });
    batch.entries.push(resynced.clone());
    assert_eq!(store.commit(&mut batch).unwrap(), vec![ids[0]]);

    assert_eq!(count(failed()), 1);
    let page = store.entries_page(&failed(), None, 10).unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].sync_id, ids[1]);
    let page = store.entries_page(&ok(), None, 10).unwrap();
    assert_eq!(page.entries, vec![resynced.clone()]);
    assert_eq!(count(EntryQuery::default()), 2, "one time key per entry");
    let newest = store.entries_page(&EntryQuery::default(), None, 1).unwrap();
    assert_eq!(newest.entries[0].sync_id, ids[0], "the time index moved");
    let in_window = EntryQuery {
        until: Some(now - Duration::minutes(90)),
        ..EntryQuery::default()
    };
    assert_eq!(count(in_window), 0, "the old time key is gone");
    assert_eq!(store.get_entry(ids[0]).unwrap().unwrap().attempts.len(), 2);

    // Changing the reference and the run moves those keys too; two updates in one batch.
    let mut moved = resynced.clone();
    moved.reference = "XY-1".to_string();
    batch.entries.push(moved.clone());
    moved.run_id = 7;
    moved.status = EntryStatus::Sent;
    batch.entries.push(moved.clone());
    assert_eq!(store.commit(&mut batch).unwrap(), vec![ids[0], ids[0]]);
    let prefix = |p: &str| EntryQuery {
        reference_prefix: Some(p.to_string()),
        ..EntryQuery::default()
    };
    assert_eq!(count(prefix("SN-1")), 0);
    assert_eq!(count(prefix("XY")), 1);
    let run = |r| EntryQuery {
        run: Some(r),
        ..EntryQuery::default()
    };
    assert_eq!(count(run(1)), 1);
    assert_eq!(count(run(7)), 1);
    assert_eq!(count(ok()), 0);
    assert_eq!(
        count(EntryQuery {
            status: Some(EntryStatus::Sent),
            ..EntryQuery::default()
        }),
        1
    );
    assert_eq!(store.get_entry(ids[0]).unwrap().unwrap(), moved);

    // A new entry after an update still gets a fresh id.
    batch.entries.push(entry(1, "SN-300", EntryStatus::Ok, now));
    assert_eq!(store.commit(&mut batch).unwrap(), vec![ids[1] + 1]);
}

#[test]
fn runs_list_newest_first_with_connection_runs_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_path(&dir), options()).unwrap();
    let now = Utc::now();
    let ids: Vec<RunId> = (0..5)
        .map(|i| {
            store
                .create_run(run(RunStatus::Completed, now + Duration::minutes(i)))
                .unwrap()
        })
        .collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    let listed: Vec<RunId> = store
        .list_runs(None, 3)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![5, 4, 3]);
    let listed: Vec<RunId> = store
        .list_runs(Some(3), 10)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![2, 1]);

    for position in [2, 0, 1] {
        store
            .upsert_connection_run(&connection_run(4, position, RunStatus::Running))
            .unwrap();
    }
    let mut row = connection_run(4, 1, RunStatus::Completed);
    row.processed = 2000;
    store.upsert_connection_run(&row).unwrap();
    let rows = store.connection_runs(4).unwrap();
    let positions: Vec<u32> = rows.iter().map(|r| r.position).collect();
    assert_eq!(positions, vec![0, 1, 2]);
    assert_eq!(rows[1], row);
    assert!(store.connection_runs(5).unwrap().is_empty());

    let mut finished = store.get_run(4).unwrap().unwrap();
    finished.status = RunStatus::Canceled;
    finished.note = Some("1,204 of 2,000 processed".to_string());
    store.upsert_run(&finished).unwrap();
    assert_eq!(store.get_run(4).unwrap(), Some(finished));
    assert_eq!(store.get_run(99).unwrap(), None);
}

#[test]
fn contracts_and_settings_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let store = Store::open(&path, options()).unwrap();
    let now = Utc::now();
    let contract = |connection: &str, serial: String| SyncContract {
        connection: connection.to_string(),
        origin_id: serial.clone(),
        target_id: Some(format!("sys-{serial}")),
        last_hash: blake3::hash(serial.as_bytes()).to_hex().to_string(),
        last_seen: now,
        last_synced: Some(now),
        last_action: ContractAction::Created,
    };
    let mut batch = WriteBatch::new();
    for i in 0..250 {
        batch.contracts.push(contract("cmdb", format!("SN-{i:04}")));
    }
    for i in 0..10 {
        batch.contracts.push(contract("mdm", format!("SN-{i:04}")));
    }
    batch
        .contracts
        .push(contract("cmda", "SN-9999".to_string()));
    store.commit(&mut batch).unwrap();

    assert_eq!(
        store.get_contract("cmdb", "SN-0007").unwrap(),
        Some(contract("cmdb", "SN-0007".to_string()))
    );
    assert_eq!(store.get_contract("cmdb", "nope").unwrap(), None);
    assert_eq!(store.count_contracts("cmdb").unwrap(), 250);
    assert_eq!(store.count_contracts("mdm").unwrap(), 10);
    assert_eq!(store.count_contracts("none").unwrap(), 0);

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.contracts_page("cmdb", after.as_deref(), 100).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.iter().all(|c| c.connection == "cmdb"));
        after = page.last().map(|c| c.origin_id.clone());
        seen.extend(page.into_iter().map(|c| c.origin_id));
    }
    let want: Vec<String> = (0..250).map(|i| format!("SN-{i:04}")).collect();
    assert_eq!(seen, want);

    let mut updated = contract("cmdb", "SN-0001".to_string());
    updated.last_action = ContractAction::Updated;
    updated.last_hash = "changed".to_string();
    batch.contracts.push(updated.clone());
    batch
        .contract_deletes
        .push(("cmdb".to_string(), "SN-0002".to_string()));
    store.commit(&mut batch).unwrap();
    assert_eq!(
        store.get_contract("cmdb", "SN-0001").unwrap(),
        Some(updated)
    );
    assert_eq!(store.get_contract("cmdb", "SN-0002").unwrap(), None);
    assert!(store.delete_contract("cmdb", "SN-0003").unwrap());
    assert!(!store.delete_contract("cmdb", "SN-0003").unwrap());
    assert_eq!(store.count_contracts("cmdb").unwrap(), 248);

    assert_eq!(store.get_setting("cmdb.dry_run").unwrap(), None);
    store.set_setting("cmdb.dry_run", "false").unwrap();
    store.set_setting("cmdb.dry_run", "true").unwrap();
    store.set_setting("mdm.dry_run", "false").unwrap();
    drop(store);
    let store = Store::open(&path, options()).unwrap();
    assert_eq!(
        store.get_setting("cmdb.dry_run").unwrap().as_deref(),
        Some("true")
    );
    let all = store.settings().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all["mdm.dry_run"], "false");
    assert!(store.remove_setting("mdm.dry_run").unwrap());
    assert!(!store.remove_setting("mdm.dry_run").unwrap());
    assert_eq!(store.settings().unwrap().len(), 1);
    assert_eq!(
        store.count_contracts("cmdb").unwrap(),
        248,
        "contracts persist"
    );
}

#[test]
fn retention_prunes_old_entries_and_runs_and_keeps_recent_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let now = Utc::now();
    let store = Store::open(&path, options()).unwrap();
    let old_run = store
        .create_run(run(RunStatus::Completed, now - Duration::days(20)))
        .unwrap();
    let recent_run = store
        .create_run(run(RunStatus::Failed, now - Duration::days(2)))
        .unwrap();
    let old_running = store
        .create_run(run(RunStatus::Running, now - Duration::days(20)))
        .unwrap();
    let mut batch = WriteBatch::new();
    for position in 0..2 {
        batch
            .connection_runs
            .push(connection_run(old_run, position, RunStatus::Completed));
        batch
            .connection_runs
            .push(connection_run(recent_run, position, RunStatus::Failed));
    }
    let ages = [20, 16, 15, 14, 1, 0];
    for (i, days) in ages.iter().enumerate() {
        let when = now - Duration::days(*days) - Duration::minutes(1);
        let status = if i % 2 == 0 {
            EntryStatus::Failed
        } else {
            EntryStatus::Ok
        };
        batch
            .entries
            .push(entry(old_run, &format!("AGE-{days:02}"), status, when));
    }
    let ids = store.commit(&mut batch).unwrap();

    let stats = store.prune(now).unwrap();
    assert_eq!(
        stats,
        PruneStats {
            entries: 3,
            runs: 1,
            connection_runs: 2
        }
    );
    for (id, days) in ids.iter().zip(ages) {
        assert_eq!(
            store.get_entry(*id).unwrap().is_some(),
            days < 15,
            "{days} days old"
        );
    }
    let count = |query: EntryQuery| store.count_entries(&query).unwrap();
    assert_eq!(count(EntryQuery::default()), 3);
    assert_eq!(
        count(EntryQuery {
            reference_prefix: Some("AGE-1".to_string()),
            ..EntryQuery::default()
        }),
        1,
        "AGE-14 stays, AGE-15 and AGE-16 go"
    );
    assert_eq!(
        count(EntryQuery {
            run: Some(old_run),
            ..EntryQuery::default()
        }),
        3
    );
    assert_eq!(
        count(EntryQuery {
            status: Some(EntryStatus::Failed),
            ..EntryQuery::default()
        }),
        1
    );
    assert_eq!(store.get_run(old_run).unwrap(), None);
    assert!(store.connection_runs(old_run).unwrap().is_empty());
    assert_eq!(store.connection_runs(recent_run).unwrap().len(), 2);
    assert!(
        store.get_run(old_running).unwrap().is_some(),
        "a running run is kept"
    );
    assert_eq!(store.prune(now).unwrap(), PruneStats::default());

    // Opening prunes too: ten days later the 14-day-old entry is gone.
    drop(store);
    let later = Store::open(&path, StoreOptions { retention_days: 5 }).unwrap();
    assert_eq!(later.count_entries(&EntryQuery::default()).unwrap(), 2);
    drop(later);
    let forever = Store::open(&path, StoreOptions { retention_days: 0 }).unwrap();
    assert_eq!(
        forever.prune(now + Duration::days(400)).unwrap(),
        PruneStats::default()
    );
}

#[test]
fn writers_on_several_threads_share_one_store() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<Store>();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_path(&dir), options()).unwrap();
    let now = Utc::now();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                let mut batch = WriteBatch::new();
                for b in 0..10 {
                    for i in 0..100 {
                        batch.entries.push(entry(
                            t,
                            &format!("T{t}-{b}-{i}"),
                            EntryStatus::Ok,
                            now,
                        ));
                    }
                    ids.extend(store.commit(&mut batch).unwrap());
                }
                ids
            })
        })
        .collect();
    let mut all: Vec<SyncId> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, (1..=4_000).collect::<Vec<_>>());
    assert_eq!(store.count_entries(&EntryQuery::default()).unwrap(), 4_000);
}
