//! Each run's warning and error lines kept with the run in the store (issue 15, point 4): read
//! back in order after a reopen, bounded per run, pruned with the run, written by the engine as
//! a Live run retries, fails records and stops a connection, and never holding a secret.

use chrono::{Duration, TimeZone, Utc};
use syncdeck::store::*;

mod common;

use common::cli::DemoFiles;

fn line(n: usize, severity: LogSeverity) -> LogLine {
    LogLine {
        at: Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap() + Duration::seconds(n as i64),
        severity,
        connection: Some("cmdb".into()),
        message: format!("line {n}"),
    }
}

fn finished_run(store: &Store, ended_days_ago: i64) -> RunId {
    let started = Utc::now() - Duration::days(ended_days_ago);
    store
        .create_run(Run {
            id: 0,
            run_type: RunType::Full,
            mode: RunMode::Live,
            status: RunStatus::Completed,
            started_at: started,
            finished_at: Some(started + Duration::seconds(40)),
            serial: None,
            connections: vec!["cmdb".into()],
            credential_contexts: Vec::new(),
            note: None,
            owner: None,
            trigger: None,
        })
        .unwrap()
}

#[test]
fn a_runs_lines_come_back_in_order_bounded_and_go_with_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let store = Store::open(&path, StoreOptions { retention_days: 5 }).unwrap();
    let old = finished_run(&store, 9);
    let new = finished_run(&store, 0);
    // Nothing yet: an empty log, even before the table exists.
    assert!(store.run_log(new).unwrap().is_empty());

    let first: Vec<LogLine> = (0..3).map(|n| line(n, LogSeverity::Warn)).collect();
    assert_eq!(store.append_run_log(new, &first).unwrap(), 3);
    assert_eq!(
        store
            .append_run_log(new, &[line(3, LogSeverity::Error)])
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .append_run_log(old, &[line(9, LogSeverity::Error)])
            .unwrap(),
        1
    );
    drop(store);

    // Reopened keeping everything: the lines are in the file.
    let store = Store::open(&path, StoreOptions { retention_days: 0 }).unwrap();
    let kept = store.run_log(new).unwrap();
    let messages: Vec<&str> = kept.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["line 0", "line 1", "line 2", "line 3"]);
    assert_eq!(kept[3].severity, LogSeverity::Error);
    assert_eq!(store.run_log(old).unwrap().len(), 1);

    // At most MAX_RUN_LOG_LINES a run: the last kept line counts what was not kept.
    let storm: Vec<LogLine> = (0..MAX_RUN_LOG_LINES as usize + 100)
        .map(|n| line(n, LogSeverity::Warn))
        .collect();
    let written = store.append_run_log(new, &storm).unwrap();
    assert_eq!(written, MAX_RUN_LOG_LINES as usize - 4);
    let kept = store.run_log(new).unwrap();
    assert_eq!(kept.len(), MAX_RUN_LOG_LINES as usize);
    let last = &kept.last().unwrap().message;
    let expected_left_out = storm.len() - (MAX_RUN_LOG_LINES as usize - 4 - 1);
    assert!(
        last.starts_with(&format!(
            "{expected_left_out} more line(s) of this run not kept"
        )),
        "{last}"
    );
    assert_eq!(store.append_run_log(new, &first).unwrap(), 0, "full");

    // The prune (at the next open, 5 days kept) deletes the old run and its lines; the new
    // run keeps its own.
    drop(store);
    let store = Store::open(&path, StoreOptions { retention_days: 5 }).unwrap();
    assert_eq!(store.pruned().runs, 1);
    assert!(store.run_log(old).unwrap().is_empty());
    assert_eq!(
        store.run_log(new).unwrap().len(),
        MAX_RUN_LOG_LINES as usize
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_run_keeps_its_failures_and_stops_with_hints_and_no_secret() {
    let setup = DemoFiles::start(300, 21).await;
    let ran = setup
        .syncdeck(&["run", "--full", "--live", "--force", "--json"])
        .await;
    assert!(matches!(ran.code, Some(0 | 1)), "{ran:?}");
    let run_id = ran.json()["run_id"].as_u64().unwrap();

    // Another process, after the run's ended: the lines are in the store.
    let store = Store::open(&setup.store, StoreOptions { retention_days: 0 }).unwrap();
    let lines = store.run_log(run_id).unwrap();
    assert!(!lines.is_empty());
    // cmdb-wrong-method stopped after its 405s: the stop and its hint.
    let stop = lines
        .iter()
        .find(|l| {
            l.connection.as_deref() == Some("cmdb-wrong-method")
                && l.message.starts_with("stopped:")
        })
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(stop.severity, LogSeverity::Error);
    assert!(
        stop.message.contains("hint: wrong update method"),
        "{stop:?}"
    );
    // Failed records with what to check.
    assert!(
        lines
            .iter()
            .any(|l| l.connection.as_deref() == Some("registry") && l.message.contains("· hint: ")),
        "{lines:#?}"
    );
    // No secret of the demo in any line.
    for (_, secret) in syncdeck::demo::demo_secrets() {
        for line in &lines {
            assert!(!line.message.contains(secret), "{line:?}");
        }
    }
    // report reads the same store as before.
    let report = setup
        .syncdeck(&["report", "--run", &run_id.to_string(), "--format", "json"])
        .await;
    assert_eq!(report.code, Some(0), "{report:?}");
}
