//! Snapshots of the serial timeline (ratatui's TestBackend) at 100x30 and 80x24: a real store in
//! a temp dir filled with `WriteBatch`, the demo configuration and a frozen clock. One serial
//! across three runs and two connections: a Full Dry plan, a Single Live write (and a 400 on
//! the registry), a Single Live re-run that found nothing to change; plus an old entry from
//! before hashes were kept.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;
use syncdeck::config::{Config, Theme};
use syncdeck::engine::hints;
use syncdeck::store::{
    Attempt, ContractHashes, EntryError, EntryStatus, FieldChange, Outcome, ReportEntry, Run,
    RunMode, RunStatus, RunType, Store, WriteBatch,
};
use syncdeck::ui::app::{App, AppOptions};

mod common;

use common::demo::config_at;
use common::history::{self, attempts_for};
use common::screen::{Fixture, at, chars, key, now, render, settle};

const SERIAL: &str = "SD-000042";

fn open(theme: Theme) -> Fixture {
    let options = AppOptions {
        theme,
        banner: None,
        triage: None,
    };
    Fixture::open(config_at("127.0.0.1:7300"), options, fill)
}

fn record_run(store: &Store, run_type: RunType, mode: RunMode, start: DateTime<Utc>) -> Run {
    let mut run = Run {
        id: 0,
        run_type,
        mode,
        status: RunStatus::Completed,
        started_at: start,
        finished_at: Some(start + TimeDelta::seconds(20)),
        serial: (run_type == RunType::Single).then(|| SERIAL.to_string()),
        connections: vec!["cmdb".into(), "registry".into()],
        credential_contexts: vec!["cmdb-api".into(), "registry-api".into()],
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
    let system = &config.connection(connection).unwrap().system;
    ReportEntry {
        target_id: Some("T-000042".into()),
        status,
        outcome,
        attempts: attempts_for(status, time),
        ..history::entry(run.id, connection, system, serial, time)
    }
}

fn hashes(before: Option<&str>, after: Option<&str>) -> Option<ContractHashes> {
    Some(ContractHashes {
        before: before.map(str::to_string),
        after: after.map(str::to_string),
    })
}

const OLD_HASH: &str = "4f1c2a9be0d7c3a1e5b6";
const NEW_HASH: &str = "9a8b7c6d5e4f3a2b1c0d";

fn fill(config: &Config, store: &Store) {
    let mut batch = WriteBatch::new();
    let diff = vec![
        FieldChange {
            field: "ram_gb".into(),
            old: Some(8.into()),
            new: Some(16.into()),
        },
        FieldChange {
            field: "owner".into(),
            old: Some(serde_json::Value::Null),
            new: Some("ada.lovelace@example.com".into()),
        },
        FieldChange {
            field: "site".into(),
            old: None,
            new: Some("LON-1".into()),
        },
    ];

    // Two days ago, before hashes were kept.
    let old = record_run(
        store,
        RunType::Full,
        RunMode::Live,
        now() - TimeDelta::days(2),
    );
    batch.entries.push(entry(
        config,
        &old,
        "cmdb",
        SERIAL,
        (EntryStatus::Ok, Outcome::Updated),
        old.started_at + TimeDelta::seconds(3),
    ));

    let dry = record_run(store, RunType::Full, RunMode::Dry, at(14, 3, 0));
    let mut plan = entry(
        config,
        &dry,
        "cmdb",
        SERIAL,
        (EntryStatus::Dry, Outcome::WouldUpdate),
        at(14, 3, 10),
    );
    plan.diff = diff.clone();
    plan.hashes = hashes(Some(OLD_HASH), Some(NEW_HASH));
    batch.entries.push(plan);
    let mut plan = entry(
        config,
        &dry,
        "registry",
        SERIAL,
        (EntryStatus::Dry, Outcome::WouldUpdate),
        at(14, 3, 11),
    );
    plan.diff = vec![FieldChange {
        field: "site".into(),
        old: Some("LON-1".into()),
        new: Some("XX-9".into()),
    }];
    plan.hashes = hashes(None, Some("77aa01bc9e3f00d2"));
    batch.entries.push(plan);

    let live = record_run(store, RunType::Single, RunMode::Live, at(14, 31, 0));
    let mut written = entry(
        config,
        &live,
        "cmdb",
        SERIAL,
        (EntryStatus::Ok, Outcome::Updated),
        at(14, 31, 2),
    );
    written.diff = diff;
    written.hashes = hashes(Some(OLD_HASH), Some(NEW_HASH));
    batch.entries.push(written);
    let mut invalid = entry(
        config,
        &live,
        "registry",
        SERIAL,
        (EntryStatus::Failed, Outcome::Error),
        at(14, 31, 3),
    );
    invalid.attempts = vec![Attempt {
        at: at(14, 31, 3),
        http_status: Some(400),
        error: Some("400: site \"XX-9\" is not a known site".into()),
    }];
    invalid.error = Some(EntryError {
        http_status: Some(400),
        code: Some("INVALID_CONTENT".into()),
        message: "site \"XX-9\" is not a known site".into(),
        hint: hints::for_status(400, Some("INVALID_CONTENT")).map(str::to_string),
        method: Some("PUT".into()),
        url: Some("http://127.0.0.1:7300/registry/api/assets/T-000042".into()),
        response_excerpt: None,
    });
    invalid.reason = Some("http_400".into());
    invalid.diff = vec![FieldChange {
        field: "site".into(),
        old: Some("LON-1".into()),
        new: Some("XX-9".into()),
    }];
    invalid.hashes = hashes(None, None);
    batch.entries.push(invalid);

    let again = record_run(store, RunType::Single, RunMode::Live, at(14, 52, 0));
    let mut skipped = entry(
        config,
        &again,
        "cmdb",
        SERIAL,
        (EntryStatus::Ok, Outcome::Skipped),
        at(14, 52, 1),
    );
    skipped.attempts.clear();
    skipped.reason = Some("no_change".into());
    skipped.hashes = hashes(Some(NEW_HASH), Some(NEW_HASH));
    batch.entries.push(skipped);

    // Other serials, one that starts with this one; older, so the report's first row (newest)
    // is this serial's.
    for serial in ["SD-0000421", "SD-000043"] {
        batch.entries.push(entry(
            config,
            &again,
            "cmdb",
            serial,
            (EntryStatus::Ok, Outcome::Updated),
            at(13, 0, 0),
        ));
    }
    store.commit(&mut batch).unwrap();
}

fn screen(app: &mut App, width: u16, height: u16) -> String {
    settle(app, Duration::from_secs(10));
    render(app, width, height)
}

/// The report searched for the serial, the cursor on its newest entry, then `t`.
fn open_from_report(f: &mut Fixture) {
    key(&mut f.app, KeyCode::Char('3'));
    screen(&mut f.app, 100, 30);
    key(&mut f.app, KeyCode::Char('/'));
    chars(&mut f.app, SERIAL);
    key(&mut f.app, KeyCode::Enter);
    screen(&mut f.app, 100, 30);
    key(&mut f.app, KeyCode::Char('t'));
}

const TITLE: &str = "Timeline · SD-000042 · 6 entries across 4 runs, 2 connections";

#[test]
fn t_in_the_report_opens_the_timeline_and_esc_closes_it() {
    let mut f = open(Theme::Default);
    open_from_report(&mut f);
    let text = screen(&mut f.app, 100, 30);
    assert!(text.contains(TITLE), "{text}");
    assert_eq!(f.store.serial_timeline(SERIAL).unwrap().len(), 6);
    insta::assert_snapshot!("timeline_100x30", text);
    // The entry t was pressed on (the report's newest row) is selected, its history above.
    let selected = text.lines().find(|l| l.contains("▶ ")).unwrap();
    assert!(selected.contains("2025-03-14 14:52:01 UTC"), "{text}");
    assert!(text.contains("no_change"), "{text}");
    assert!(text.contains("9a8b7c6d5e4f · unchanged"), "{text}");
    // Oldest first: g shows the entry from before hashes were kept, then the dry plan.
    key(&mut f.app, KeyCode::Char('g'));
    let text = screen(&mut f.app, 100, 30);
    let old = text.find("2025-03-12 15:00:03").expect("the old entry");
    let plan = text.find("2025-03-14 14:03:10").expect("the dry plan");
    assert!(old < plan, "{text}");

    key(&mut f.app, KeyCode::Esc);
    let text = screen(&mut f.app, 100, 30);
    assert!(!text.contains("Timeline ·"), "{text}");
    assert!(
        text.contains("search \"SD-000042\""),
        "back on the report:\n{text}"
    );
}

#[test]
fn the_timeline_at_80x24_from_the_newest_entry_to_the_oldest() {
    let mut f = open(Theme::Default);
    open_from_report(&mut f);
    let text = screen(&mut f.app, 80, 24);
    insta::assert_snapshot!("timeline_80x24", text);
    key(&mut f.app, KeyCode::Char('g'));
    let text = screen(&mut f.app, 80, 24);
    insta::assert_snapshot!("timeline_oldest_80x24", text);
    assert!(text.contains("contract –"), "{text}");
}

#[test]
fn enter_opens_the_selected_entry_and_esc_comes_back() {
    let mut f = open(Theme::Default);
    open_from_report(&mut f);
    screen(&mut f.app, 100, 30);
    // Up one entry to the 400 on the registry, then its details.
    key(&mut f.app, KeyCode::Char('k'));
    let text = screen(&mut f.app, 100, 30);
    let selected = text.lines().find(|l| l.contains("▶ ")).unwrap();
    assert!(selected.contains("registry"), "{text}");
    assert!(text.contains("400 · INVALID_CONTENT · site"), "{text}");
    key(&mut f.app, KeyCode::Enter);
    let text = screen(&mut f.app, 100, 30);
    assert!(
        text.contains(&format!("· {SERIAL} · registry ")) && text.contains("Attempts"),
        "{text}"
    );
    key(&mut f.app, KeyCode::Esc);
    let text = screen(&mut f.app, 100, 30);
    assert!(text.contains(TITLE), "{text}");
    // From the details: t shows the timeline, Esc goes back to those details.
    key(&mut f.app, KeyCode::Esc);
    key(&mut f.app, KeyCode::Enter);
    let details = screen(&mut f.app, 100, 30);
    assert!(
        details.contains(&format!("· {SERIAL} · cmdb ")),
        "{details}"
    );
    key(&mut f.app, KeyCode::Char('t'));
    let text = screen(&mut f.app, 100, 30);
    assert!(text.contains(TITLE), "{text}");
    key(&mut f.app, KeyCode::Esc);
    assert_eq!(screen(&mut f.app, 100, 30), details);
    // The help lists the timeline's keys.
    key(&mut f.app, KeyCode::Char('t'));
    key(&mut f.app, KeyCode::Char('?'));
    let help = screen(&mut f.app, 100, 30);
    assert!(help.contains("Help · Serial timeline"), "{help}");
}

#[test]
fn the_mono_timeline_has_no_colour_and_a_reversed_selected_heading() {
    let mut f = open(Theme::Mono);
    open_from_report(&mut f);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|frame| f.app.draw(frame)).unwrap();
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
    }
    let text = terminal.backend().to_string();
    let row = text
        .lines()
        .position(|l| l.contains("▶ "))
        .expect("the selected block's heading") as u16;
    assert!(
        buffer[(3, row)]
            .modifier
            .contains(ratatui::style::Modifier::REVERSED),
        "{text}"
    );
}

#[test]
fn small_terminals_never_panic() {
    let mut f = open(Theme::Default);
    open_from_report(&mut f);
    for (w, h) in [(60, 16), (61, 17), (80, 24), (200, 60), (20, 5)] {
        screen(&mut f.app, w, h);
        for code in [KeyCode::PageDown, KeyCode::Char('j'), KeyCode::Char('G')] {
            key(&mut f.app, code);
            screen(&mut f.app, w, h);
        }
        key(&mut f.app, KeyCode::Char('g'));
    }
}
