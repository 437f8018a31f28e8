//! Snapshots of the sync report and entry details (ratatui's TestBackend) at 80x24 and
//! 160x48: a real store in a temp dir filled with `WriteBatch`, the demo configuration, and a
//! frozen clock. Background jobs (counting, select all, resync plans, export) are waited for
//! with `App::wait_background` before each screen is taken.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use syncdeck::config::{Config, Theme};
use syncdeck::engine::{Command, Event, hints};
use syncdeck::store::{
    Attempt, ContractAction, Counters, EntryError, EntryStatus, FieldChange, Outcome, ReportEntry,
    Run, RunError, RunMode, RunStatus, RunType, Store, SyncContract, SyncId, WriteBatch,
};
use syncdeck::ui::app::{App, AppOptions};
use tokio::sync::mpsc;

mod common;

use common::demo::config_at;
use common::history::{self, attempts_for, completed_connection_run as connection_run};
use common::screen::{self, Fixture, at, chars, key, now, plain, render};

fn config() -> Arc<Config> {
    config_at("127.0.0.1:7300")
}

fn open() -> Fixture {
    open_with(config())
}

fn open_with(config: Arc<Config>) -> Fixture {
    Fixture::open(config, plain(), fill)
}

fn record_run(
    store: &Store,
    config: &Config,
    run_type: RunType,
    mode: RunMode,
    start: DateTime<Utc>,
    names: &[&str],
) -> Run {
    let mut credentials: Vec<String> = Vec::new();
    for name in names {
        let credential = config.connection(name).unwrap().credential.clone().unwrap();
        if !credentials.contains(&credential) {
            credentials.push(credential);
        }
    }
    let mut run = Run {
        id: 0,
        run_type,
        mode,
        status: RunStatus::Completed,
        started_at: start,
        finished_at: Some(start + TimeDelta::seconds(40)),
        serial: None,
        connections: names.iter().map(|n| n.to_string()).collect(),
        credential_contexts: credentials,
        note: None,
        owner: None,
        trigger: None,
    };
    run.id = store.create_run(run.clone()).unwrap();
    run
}

fn entry(
    config: &Config,
    run: &Run,
    connection: &str,
    serial: &str,
    (status, outcome): (EntryStatus, Outcome),
    time: DateTime<Utc>,
) -> ReportEntry {
    let number = serial.trim_start_matches("SD-");
    let system = &config.connection(connection).unwrap().system;
    ReportEntry {
        target_id: (outcome != Outcome::MissingDestination).then(|| format!("T-{number}")),
        status,
        outcome,
        attempts: attempts_for(status, time),
        ..history::entry(run.id, connection, system, serial, time)
    }
}

fn failed_write(
    mut e: ReportEntry,
    http: u16,
    code: Option<&str>,
    message: &str,
    url: &str,
    excerpt: &str,
) -> ReportEntry {
    e.attempts = vec![Attempt {
        at: e.time,
        http_status: Some(http),
        error: Some(format!("{http}: {message}")),
    }];
    e.error = Some(EntryError {
        http_status: Some(http),
        code: code.map(str::to_string),
        message: message.into(),
        hint: hints::for_status(http, code).map(str::to_string),
        method: Some("PUT".into()),
        url: Some(url.into()),
        response_excerpt: Some(excerpt.into()),
    });
    e.reason = Some(format!("http_{http}"));
    e
}

const OK: (EntryStatus, Outcome) = (EntryStatus::Ok, Outcome::Updated);
const FAILED: (EntryStatus, Outcome) = (EntryStatus::Failed, Outcome::Error);

/// An old run outside the window, a Full Dry run and a Full Live run with a 400
/// INVALID_CONTENT, a 415, a 405, a Missing Destination and a Missing Source among its entries.
fn fill(config: &Config, store: &Store) {
    let all = ["cmdb", "registry", "mdm", "cmdb-wrong-method"];
    let mut batch = WriteBatch::new();

    let old = record_run(
        store,
        config,
        RunType::Full,
        RunMode::Live,
        now() - TimeDelta::days(8),
        &["cmdb"],
    );
    for serial in ["SD-000001", "SD-000002"] {
        batch
            .entries
            .push(entry(config, &old, "cmdb", serial, OK, old.started_at));
    }

    let dry = record_run(
        store,
        config,
        RunType::Full,
        RunMode::Dry,
        at(14, 3, 0),
        &all,
    );
    for (i, serial) in ["SD-000001", "SD-000002"].iter().enumerate() {
        let mut e = entry(
            config,
            &dry,
            "registry",
            serial,
            (EntryStatus::Dry, Outcome::WouldUpdate),
            at(14, 3, 10 + i as u32),
        );
        e.diff = vec![FieldChange {
            field: "site".into(),
            old: Some("LON-1".into()),
            new: Some("XX-9".into()),
        }];
        batch.entries.push(e);
    }

    let live = record_run(
        store,
        config,
        RunType::Full,
        RunMode::Live,
        at(14, 31, 0),
        &all,
    );
    let t = |s: u32| at(14, 31, s);
    // cmdb: a quarter of the records have no CMDB record.
    batch
        .entries
        .push(entry(config, &live, "cmdb", "SD-000001", OK, t(1)));
    batch
        .entries
        .push(entry(config, &live, "cmdb", "SD-000002", OK, t(2)));
    let mut missing = entry(
        config,
        &live,
        "cmdb",
        "SD-000003",
        (EntryStatus::Failed, Outcome::MissingDestination),
        t(3),
    );
    missing.attempts.clear();
    missing.reason = Some("missing_destination".into());
    missing.error = Some(EntryError {
        message: "no destination record has this serial (and no create contract)".into(),
        hint: Some(hints::MISSING_DESTINATION_SPIKE.into()),
        ..EntryError::default()
    });
    batch.entries.push(missing);
    let mut skipped = entry(
        config,
        &live,
        "cmdb",
        "SD-000004",
        (EntryStatus::Ok, Outcome::Skipped),
        t(4),
    );
    skipped.reason = Some("no_change".into());
    skipped.attempts.clear();
    batch.entries.push(skipped);

    // registry: one written, a 400 INVALID_CONTENT and a 415.
    batch
        .entries
        .push(entry(config, &live, "registry", "SD-000001", OK, t(5)));
    let mut invalid = failed_write(
        entry(config, &live, "registry", "SD-000002", FAILED, t(6)),
        400,
        Some("INVALID_CONTENT"),
        "site \"XX-9\" is not a known site",
        "http://127.0.0.1:7300/registry/api/assets/T-000002",
        "<?xml version=\"1.0\"?>\n<error>\n  <code>INVALID_CONTENT</code>\n  <message>site \"XX-9\" is not a known site</message>\n</error>",
    );
    invalid.diff = vec![
        FieldChange {
            field: "site".into(),
            old: Some("LON-1".into()),
            new: Some("XX-9".into()),
        },
        FieldChange {
            field: "owner".into(),
            old: Some(serde_json::Value::Null),
            new: Some("ada.lovelace@example.com".into()),
        },
        FieldChange {
            field: "ram_gb".into(),
            old: None,
            new: Some(16.into()),
        },
    ];
    batch.entries.push(invalid);
    batch.entries.push(failed_write(
        entry(config, &live, "registry", "SD-000003", FAILED, t(7)),
        415,
        None,
        "Unsupported Media Type: expected application/xml",
        "http://127.0.0.1:7300/registry/api/assets/T-000003",
        "{\"error\":\"unsupported media type\",\"accepted\":[\"application/xml\"]}",
    ));

    // mdm: one written after a retried 503, one with a required field missing at the source.
    let mut retried = entry(config, &live, "mdm", "SD-000001", OK, t(9));
    retried.attempts.insert(
        0,
        Attempt {
            at: t(8),
            http_status: Some(503),
            error: Some("503 Service Unavailable (retried)".into()),
        },
    );
    batch.entries.push(retried);
    let mut source = entry(
        config,
        &live,
        "mdm",
        "SD-000005",
        (EntryStatus::Failed, Outcome::MissingSource),
        t(10),
    );
    source.attempts.clear();
    source.reason = Some("missing_source".into());
    source.error = Some(EntryError {
        message: "required source field os.name is absent or null".into(),
        ..EntryError::default()
    });
    batch.entries.push(source);

    // cmdb-wrong-method: a 405.
    batch.entries.push(failed_write(
        entry(
            config,
            &live,
            "cmdb-wrong-method",
            "SD-000001",
            FAILED,
            t(11),
        ),
        405,
        None,
        "Method Not Allowed",
        "http://127.0.0.1:7300/cmdb/api/assets/T-000001",
        "405 Method Not Allowed",
    ));

    batch.contracts.push(SyncContract {
        connection: "registry".into(),
        origin_id: "SD-000002".into(),
        target_id: Some("T-000002".into()),
        last_hash: "4f1c2a9be0d7c3a1".into(),
        last_seen: t(6),
        last_synced: Some(at(9, 12, 44)),
        last_action: ContractAction::Updated,
    });

    let counters = |fetched, updated, failed, md| Counters {
        fetched,
        updated,
        failed,
        missing_destination: md,
        changed: updated,
        ..Counters::default()
    };
    let mut cmdb = connection_run(&live, 0, counters(4, 2, 0, 1), config);
    cmdb.note = Some(hints::MISSING_DESTINATION_SPIKE.into());
    batch.connection_runs.push(cmdb);
    batch
        .connection_runs
        .push(connection_run(&live, 1, counters(3, 1, 2, 0), config));
    batch
        .connection_runs
        .push(connection_run(&live, 2, counters(2, 1, 0, 0), config));
    let mut wrong = connection_run(&live, 3, counters(1, 0, 1, 0), config);
    wrong.status = RunStatus::Failed;
    wrong.error = Some(RunError {
        message: "405 Method Not Allowed from PUT http://127.0.0.1:7300/cmdb/api/assets/T-000001 (5 in a row: contract-level error)".into(),
        hint: hints::for_status(405, None).map(str::to_string),
    });
    batch.connection_runs.push(wrong);
    store.commit(&mut batch).unwrap();
}

fn ctrl(app: &mut App, c: char) {
    app.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
}

fn settle(app: &mut App) {
    screen::settle(app, Duration::from_secs(10));
}

fn screen(app: &mut App, width: u16, height: u16) -> String {
    settle(app);
    render(app, width, height)
}

fn snap(name: &str, app: &mut App) {
    insta::assert_snapshot!(format!("{name}_80x24"), screen(app, 80, 24));
    insta::assert_snapshot!(format!("{name}_160x48"), screen(app, 160, 48));
}

/// The report, open, counted and drawn once.
fn report(f: &mut Fixture) {
    key(&mut f.app, KeyCode::Char('3'));
    screen(&mut f.app, 80, 24);
}

/// Opens a picker with `open`, moves the cursor to the line starting with `label`, applies.
fn pick(f: &mut Fixture, open: char, labels: &[&str]) {
    key(&mut f.app, KeyCode::Char(open));
    let text = screen(&mut f.app, 160, 48);
    let lines: Vec<&str> = text.lines().collect();
    // The picker's first line is "any ..."; its choices follow.
    let first = lines
        .iter()
        .position(|l| l.contains("[x] any") || l.contains("[ ] any") || l.contains("(•) any"))
        .unwrap_or_else(|| panic!("no picker:\n{text}"));
    let line_of = |label: &str| {
        (first..lines.len())
            .find(|&i| {
                ["[ ] ", "[x] ", "( ) ", "(•) "]
                    .iter()
                    .any(|mark| lines[i].contains(&format!("│ {mark}{label} ")))
            })
            .unwrap_or_else(|| panic!("{label} not in the picker:\n{text}"))
    };
    for label in labels {
        // Letters find a choice in a picker: the arrows and Home move.
        key(&mut f.app, KeyCode::Home);
        for _ in first..line_of(label) {
            key(&mut f.app, KeyCode::Down);
        }
        if labels.len() > 1 {
            key(&mut f.app, KeyCode::Char(' '));
        }
    }
    key(&mut f.app, KeyCode::Enter);
}

/// The report row of `serial` on `connection` becomes the cursor's.
fn go_to(f: &mut Fixture, connection: &str, serial: &str) {
    key(&mut f.app, KeyCode::Char('g'));
    for _ in 0..40 {
        // The text of a TestBackend does not show which row is reversed: the details' title
        // says which entry the cursor is on.
        key(&mut f.app, KeyCode::Enter);
        let details = screen(&mut f.app, 160, 48);
        key(&mut f.app, KeyCode::Esc);
        if details.contains(&format!("· {serial} · {connection} ")) {
            return;
        }
        key(&mut f.app, KeyCode::Char('j'));
    }
    panic!("{serial} on {connection} not found");
}

fn details_of(f: &mut Fixture, connection: &str, serial: &str) {
    go_to(f, connection, serial);
    key(&mut f.app, KeyCode::Enter);
}

#[test]
fn report_with_filters_active() {
    let mut f = open();
    report(&mut f);
    let all = screen(&mut f.app, 80, 24);
    // 10 entries in the live run, 2 in the dry run; the old run is outside the 5-day window.
    assert!(
        all.contains("showing 12 of 12 (window: 5 days) · 0 selected"),
        "{all}"
    );
    pick(&mut f, 'f', &["✖ failed"]);
    pick(&mut f, 'C', &["registry", "cmdb-wrong-method"]);
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("showing 3 of 12 (window: 5 days)"), "{text}");
    // Space checks the row under the cursor (and moves down).
    key(&mut f.app, KeyCode::Char(' '));
    snap("report_filtered", &mut f.app);

    // The window: + widens it to reach the old run; - and Esc walk back.
    for _ in 0..4 {
        key(&mut f.app, KeyCode::Char('+'));
    }
    let wide = screen(&mut f.app, 80, 24);
    assert!(wide.contains("(window: 9 days)"), "{wide}");
    key(&mut f.app, KeyCode::Esc);
    let back = screen(&mut f.app, 80, 24);
    assert!(back.contains("showing 3 of 12 (window: 5 days)"), "{back}");
    // Esc clears the filters last set first: connection, then status.
    key(&mut f.app, KeyCode::Esc);
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("filters: status failed "), "{text}");
    assert!(text.contains("showing 5 of 12"), "{text}");
    key(&mut f.app, KeyCode::Esc);
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("filters: none"), "{text}");
    assert!(
        text.contains("· 1 selected"),
        "the selection outlives the filters:\n{text}"
    );
}

#[test]
fn search_by_serial_sync_id_or_system() {
    let mut f = open();
    report(&mut f);
    key(&mut f.app, KeyCode::Char('/'));
    chars(&mut f.app, "sd-000002");
    key(&mut f.app, KeyCode::Enter);
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("showing 3 of 12"), "{text}");
    assert!(text.contains("search \"sd-000002\""), "{text}");
    // A new search replaces the old one; an exact sync id finds one entry.
    let id = f
        .store
        .report_ids(
            &syncdeck::store::ReportFilter {
                search: Some("SD-000005".into()),
                ..Default::default()
            },
            Default::default(),
        )
        .unwrap()[0];
    key(&mut f.app, KeyCode::Char('/'));
    ctrl(&mut f.app, 'u');
    chars(&mut f.app, &format!("#{id}"));
    key(&mut f.app, KeyCode::Enter);
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("showing 1 of 12"), "{text}");
    assert!(text.contains("SD-000005"), "{text}");
    // A system substring.
    key(&mut f.app, KeyCode::Char('/'));
    ctrl(&mut f.app, 'u');
    chars(&mut f.app, "xml");
    key(&mut f.app, KeyCode::Enter);
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("showing 5 of 12"), "{text}");
    // Esc in the field keeps the search as it was.
    key(&mut f.app, KeyCode::Char('/'));
    chars(&mut f.app, "zzz");
    key(&mut f.app, KeyCode::Esc);
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("search \"xml\""), "{text}");
}

#[test]
fn details_of_a_400_invalid_content() {
    let mut f = open();
    report(&mut f);
    details_of(&mut f, "registry", "SD-000002");
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("400 · INVALID_CONTENT"), "{text}");
    assert!(
        text.contains("mapped destination path or formatter"),
        "{text}"
    );
    snap("details_invalid_content", &mut f.app);
    // y copies the same content as text, through OSC 52.
    key(&mut f.app, KeyCode::Char('y'));
    let written = String::from_utf8(f.clipboard.lock().unwrap().clone()).unwrap();
    let payload = written
        .strip_prefix("\x1b]52;c;")
        .and_then(|s| s.strip_suffix('\x07'))
        .expect("an OSC 52 sequence");
    use base64::Engine;
    let copied = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .unwrap();
    let copied = String::from_utf8(copied).unwrap();
    assert!(
        copied.contains("hint        mapped destination path"),
        "{copied}"
    );
    assert!(copied.contains("site    \"LON-1\" → \"XX-9\""), "{copied}");
    assert!(copied.contains("<code>INVALID_CONTENT</code>"), "{copied}");
    assert!(screen(&mut f.app, 80, 24).contains("copied the details"));
}

#[test]
fn details_of_a_415() {
    let mut f = open();
    report(&mut f);
    details_of(&mut f, "registry", "SD-000003");
    snap("details_415", &mut f.app);
}

#[test]
fn details_of_a_missing_destination() {
    let mut f = open();
    report(&mut f);
    details_of(&mut f, "cmdb", "SD-000003");
    let text = screen(&mut f.app, 160, 48);
    assert!(
        text.contains("fetch contract path and serial_field"),
        "{text}"
    );
    assert!(text.contains("run note"), "the run-level hint:\n{text}");
    snap("details_missing_destination", &mut f.app);
    // Its resync is refused (cmdb has no create contract), with the reason.
    key(&mut f.app, KeyCode::Char('R'));
    let text = screen(&mut f.app, 160, 48);
    assert!(
        text.contains("refused: no destination record has this serial"),
        "{text}"
    );
    assert!(f.commands.try_recv().is_err());
}

/// Turns the Failed entry of `serial` on `connection` into one a retry may fix: the
/// destination answered 503 to every attempt.
fn make_fixable(f: &Fixture, connection: &str, serial: &str) {
    let ids = f
        .store
        .report_ids(
            &syncdeck::store::ReportFilter {
                connections: vec![connection.into()],
                statuses: vec![EntryStatus::Failed],
                search: Some(serial.into()),
                ..Default::default()
            },
            Default::default(),
        )
        .unwrap();
    let mut entry = f.store.get_entry(ids[0]).unwrap().unwrap();
    let url = entry
        .error
        .as_ref()
        .and_then(|e| e.url.clone())
        .unwrap_or_default();
    entry = failed_write(entry, 503, None, "Service Unavailable", &url, "maintenance");
    entry.reason = Some("write_failed".into());
    entry.outcome = Outcome::Error;
    let mut batch = WriteBatch::new();
    batch.entries.push(entry);
    f.store.commit(&mut batch).unwrap();
}

#[test]
fn single_resync_from_the_details() {
    let mut f = open();
    report(&mut f);
    // A 400 from bad source data: a retry would send the same, so it is refused, saying why.
    details_of(&mut f, "registry", "SD-000002");
    key(&mut f.app, KeyCode::Char('R'));
    let text = screen(&mut f.app, 160, 48);
    assert!(
        text.contains("refused: a retry cannot fix it (rejected payload (400))"),
        "{text}"
    );
    assert!(f.commands.try_recv().is_err());
    key(&mut f.app, KeyCode::Esc);
    // A 503: the destination was down; a retry may fix it.
    make_fixable(&f, "registry", "SD-000003");
    details_of(&mut f, "registry", "SD-000003");
    let id = details_sync_id(&mut f);
    key(&mut f.app, KeyCode::Char('R'));
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains(&format!("Resync entry #{id}?")), "{text}");
    assert!(f.commands.try_recv().is_err(), "nothing before the yes");
    key(&mut f.app, KeyCode::Char('y'));
    match f.commands.try_recv() {
        Ok(Command::Resync { entries }) => assert_eq!(entries, vec![id]),
        other => panic!("expected a resync, got {other:?}"),
    }
}

fn details_sync_id(f: &mut Fixture) -> SyncId {
    let text = screen(&mut f.app, 160, 48);
    let at = text.find("Entry #").unwrap() + "Entry #".len();
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn mass_resync_confirmation() {
    // A mass resync checks the health of its connections first: the demo systems answer.
    let (_runtime, demo) = common::demo::start_blocking(50, 0);
    let mut f = open_with(config_at(&demo.addr().to_string()));
    // Two of the five failures are a destination that was down; the other three no retry
    // can fix (a 400 from source data, Missing Source, Missing Destination). (The 405's
    // connection stays as it is: its health check fails on the update method.)
    make_fixable(&f, "registry", "SD-000003");
    make_fixable(&f, "mdm", "SD-000005");
    report(&mut f);
    pick(&mut f, 'f', &["✖ failed"]);
    key(&mut f.app, KeyCode::Char('a'));
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("· 5 selected"), "{text}");
    key(&mut f.app, KeyCode::Char('R'));
    snap("mass_resync_confirm", &mut f.app);
    assert!(f.commands.try_recv().is_err(), "nothing before the yes");
    key(&mut f.app, KeyCode::Char('y'));
    let sent = match f.commands.try_recv() {
        Ok(Command::Resync { entries }) => entries,
        other => panic!("expected a resync, got {other:?}"),
    };
    // The two 503s; the 400, the 405 and the Missing Destination without a create contract
    // are left out.
    assert_eq!(sent.len(), 2);
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("· 0 selected"), "{text}");

    // With nothing selected, R takes every failed entry in the filter.
    key(&mut f.app, KeyCode::Char('R'));
    let text = screen(&mut f.app, 80, 24);
    assert!(
        text.contains("Resync the 2 entries failed in this filter?"),
        "{text}"
    );
    key(&mut f.app, KeyCode::Esc);
}

#[test]
fn a_finished_resync_refreshes_the_report() {
    let mut f = open();
    report(&mut f);
    pick(&mut f, 'f', &["✖ failed"]);
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("showing 5 of 12"), "{text}");
    // The engine turns the 405 OK in place (as a resync does) and reports the run finished.
    let ids = f
        .store
        .report_ids(
            &syncdeck::store::ReportFilter {
                connections: vec!["cmdb-wrong-method".into()],
                ..Default::default()
            },
            Default::default(),
        )
        .unwrap();
    let mut fixed = f.store.get_entry(ids[0]).unwrap().unwrap();
    fixed.status = EntryStatus::Ok;
    fixed.outcome = Outcome::Updated;
    fixed.attempts.push(Attempt {
        at: now(),
        http_status: Some(200),
        error: None,
    });
    let mut batch = WriteBatch::new();
    batch.entries.push(fixed);
    f.store.commit(&mut batch).unwrap();
    let mut run = f.store.list_runs(None, 1).unwrap().remove(0);
    run.run_type = RunType::Resync;
    f.app.handle_engine(Event::RunFinished { run });
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("showing 4 of 12"), "{text}");
}

#[test]
fn extra_columns() {
    let mut f = open();
    report(&mut f);
    key(&mut f.app, KeyCode::Char('x'));
    snap("extra_columns", &mut f.app);
}

#[test]
fn sort_by_a_column_both_ways() {
    let mut f = open();
    report(&mut f);
    key(&mut f.app, KeyCode::Char('s'));
    let picker = screen(&mut f.app, 80, 24);
    assert!(picker.contains("Sort by"), "{picker}");
    // time, sync id, status, reference: the fourth line.
    for _ in 0..3 {
        key(&mut f.app, KeyCode::Down);
    }
    key(&mut f.app, KeyCode::Enter);
    let text = screen(&mut f.app, 160, 48);
    assert!(text.contains("sorted by reference ▲"), "{text}");
    assert!(text.contains("REFERENCE▲"), "{text}");
    let first_row = |text: &str| {
        text.lines()
            .find(|l| l.contains("[ ]"))
            .unwrap()
            .to_string()
    };
    assert!(first_row(&text).contains("SD-000001"), "{text}");
    key(&mut f.app, KeyCode::Char('S'));
    let text = screen(&mut f.app, 160, 48);
    assert!(text.contains("sorted by reference ▼"), "{text}");
    assert!(first_row(&text).contains("SD-000005"), "{text}");
}

#[test]
fn export_writes_every_match_to_the_named_file() {
    let mut f = open();
    report(&mut f);
    pick(&mut f, 'f', &["✖ failed"]);
    settle(&mut f.app);
    key(&mut f.app, KeyCode::Char('e'));
    let text = screen(&mut f.app, 100, 30);
    assert!(
        text.contains("Export 5 entries matching status failed"),
        "{text}"
    );
    let path = f.dir.path().join("failed.csv");
    ctrl(&mut f.app, 'u');
    chars(&mut f.app, &path.display().to_string());
    key(&mut f.app, KeyCode::Enter);
    let text = screen(&mut f.app, 200, 30);
    assert!(
        text.contains(&format!("exported 5 entries to {}", path.display())),
        "{text}"
    );
    let csv = std::fs::read_to_string(&path).unwrap();
    assert_eq!(csv.lines().count(), 6, "{csv}");
    assert!(csv.starts_with("sync_id,"));
    // Never over an existing file.
    key(&mut f.app, KeyCode::Char('e'));
    ctrl(&mut f.app, 'u');
    chars(&mut f.app, &path.display().to_string());
    key(&mut f.app, KeyCode::Enter);
    let text = screen(&mut f.app, 200, 30);
    assert!(text.contains("already exists"), "{text}");
}

#[test]
fn entries_of_a_run_from_the_jobs_view() {
    let mut f = open();
    // Newest first: #3 (Full Live), expanded; its first connection row is cmdb.
    key(&mut f.app, KeyCode::Enter);
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('E'));
    let text = screen(&mut f.app, 80, 24);
    assert!(text.contains("run #3 · connection cmdb"), "{text}");
    assert!(text.contains("showing 4 of 12"), "{text}");
}

#[test]
fn small_terminals_and_overlays_never_panic() {
    let mut f = open();
    report(&mut f);
    let sizes = [
        (0, 0),
        (1, 1),
        (20, 5),
        (59, 15),
        (60, 16),
        (61, 17),
        (80, 0),
        (0, 24),
    ];
    let draw_all = |app: &mut App| {
        for (w, h) in sizes {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal.draw(|frame| app.draw(frame)).unwrap();
        }
    };
    draw_all(&mut f.app);
    key(&mut f.app, KeyCode::Char('x'));
    draw_all(&mut f.app);
    key(&mut f.app, KeyCode::Char('/'));
    chars(&mut f.app, "SD-0");
    draw_all(&mut f.app);
    key(&mut f.app, KeyCode::Esc);
    key(&mut f.app, KeyCode::Char('f'));
    draw_all(&mut f.app);
    key(&mut f.app, KeyCode::Esc);
    key(&mut f.app, KeyCode::Char('e'));
    draw_all(&mut f.app);
    key(&mut f.app, KeyCode::Esc);
    key(&mut f.app, KeyCode::Enter);
    draw_all(&mut f.app);
    key(&mut f.app, KeyCode::Char('R'));
    settle(&mut f.app);
    draw_all(&mut f.app);
}

#[test]
fn mono_report_has_no_colour_and_a_reversed_cursor_row() {
    let mut f = open();
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut app = App::new(
        config(),
        f.store.clone(),
        tx,
        AppOptions {
            theme: Theme::Mono,
            banner: None,
            triage: None,
        },
    )
    .unwrap();
    app.freeze_clock(now());
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Char('j'));
    settle(&mut app);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|frame| app.draw(frame)).unwrap();
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
    }
    // The second entry row (the cursor's) is reversed across the table.
    let text = terminal.backend().to_string();
    let row = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("[ ]"))
        .nth(1)
        .map(|(y, _)| y as u16)
        .unwrap();
    for x in 1..79 {
        assert!(
            buffer[(x, row)]
                .modifier
                .contains(ratatui::style::Modifier::REVERSED),
            "column {x} of the cursor's row"
        );
    }
    drop(f.commands.try_recv());
}
