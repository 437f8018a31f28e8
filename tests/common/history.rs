//! Runs and report entries as the tests write them to a store, and read them back.

use chrono::{DateTime, Utc};
use syncdeck::config::Config;
use syncdeck::store::{
    Attempt, ConnectionRun, Counters, EntryQuery, EntryStatus, Outcome, ReportEntry, Run, RunOwner,
    RunStatus, Store,
};

/// A new entry (sync id 0) of `serial` on `connection` (its system `system`) in run `run_id`:
/// Dry, Would Update, with no target, attempts, error, diff or hashes. Tests change the fields
/// they care about (`ReportEntry { status, ..entry(..) }`).
pub fn entry(
    run_id: u64,
    connection: &str,
    system: &str,
    serial: &str,
    time: DateTime<Utc>,
) -> ReportEntry {
    ReportEntry {
        sync_id: 0,
        run_id,
        connection: connection.into(),
        system: system.into(),
        reference: serial.into(),
        source_id: Some(serial.into()),
        target_id: None,
        status: EntryStatus::Dry,
        outcome: Outcome::WouldUpdate,
        reason: None,
        time,
        attempts: Vec::new(),
        error: None,
        diff: Vec::new(),
        hashes: None,
    }
}

/// One attempt at `time` answered 200, or none for a Dry entry (nothing was sent).
pub fn attempts_for(status: EntryStatus, time: DateTime<Utc>) -> Vec<Attempt> {
    if status == EntryStatus::Dry {
        Vec::new()
    } else {
        vec![Attempt {
            at: time,
            http_status: Some(200),
            error: None,
        }]
    }
}

/// The connection run at `position` of a Completed `run`, with `counters`, as the engine
/// records it for `config`'s connection.
pub fn completed_connection_run(
    run: &Run,
    position: u32,
    counters: Counters,
    config: &Config,
) -> ConnectionRun {
    let name = &run.connections[position as usize];
    let connection = config.connection(name).unwrap();
    ConnectionRun {
        run_id: run.id,
        position,
        connection: name.clone(),
        system: connection.system.clone(),
        credential: connection.credential.clone(),
        mode: run.mode,
        status: RunStatus::Completed,
        total: counters.fetched,
        processed: counters.fetched,
        counters,
        error: None,
        started_at: Some(run.started_at),
        finished_at: run.finished_at,
        config_hash: connection.config_hash(),
        note: None,
    }
}

/// Every entry a run recorded, in the order recorded.
pub fn entries_of_run(store: &Store, run_id: u64) -> Vec<ReportEntry> {
    let query = EntryQuery {
        run: Some(run_id),
        ..EntryQuery::default()
    };
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.entries_page(&query, cursor, 500).unwrap();
        out.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

/// An owner on another host, fixed for screens: `user` on jump1, pid `pid`.
pub fn owner_on_jump1(user: &str, pid: u32) -> RunOwner {
    RunOwner {
        host: "jump1.example.com".into(),
        user: user.into(),
        pid,
        process_started_at: Some(
            chrono::TimeZone::with_ymd_and_hms(&Utc, 2025, 3, 14, 8, 0, 0).unwrap(),
        ),
        start_ticks: None,
        boot_id: None,
        pid_namespace: None,
    }
}
