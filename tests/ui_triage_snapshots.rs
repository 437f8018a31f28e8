//! Issue 15's screens (ratatui's TestBackend, at 80x24 and 160x48): failures never look like
//! success (point 2), 80x24 fits (point 8). A real store in a temp dir, the demo
//! configuration, a frozen clock.

use chrono::TimeDelta;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::Rect;
use syncdeck::config::{Config, Theme};
use syncdeck::store::{
    ConnectionRun, Counters, EntryStatus, Outcome, ReportEntry, Run, RunMode, RunStatus, RunType,
    Store, WriteBatch,
};
use syncdeck::ui::overlays::confirm::{Confirm, ConfirmedAction};
use syncdeck::ui::widgets::theme;

mod common;

use common::demo::config_at;
use common::history::{self, completed_connection_run};
use common::screen::{Fixture, at, key, now, plain, render, settle};

const ALL: [&str; 4] = ["cmdb", "registry", "mdm", "cmdb-wrong-method"];

fn run(store: &Store, run_type: RunType, mode: RunMode, status: RunStatus, names: &[&str]) -> Run {
    let start = at(14, 0, 0);
    let mut run = Run {
        id: 0,
        run_type,
        mode,
        status,
        started_at: start,
        finished_at: Some(start + TimeDelta::seconds(90)),
        serial: None,
        connections: names.iter().map(|n| n.to_string()).collect(),
        credential_contexts: vec!["cmdb-demo".into()],
        note: None,
        owner: Some(history::owner_on_jump1("alice", 4242)),
        trigger: Some(syncdeck::store::Trigger::console()),
    };
    run.id = store.create_run(run.clone()).unwrap();
    run
}

fn live(updated: u64, fixable: u64, missing_destination: u64, not_syncable: u64) -> Counters {
    let fetched = updated + fixable + not_syncable;
    Counters {
        updated,
        missing_destination,
        failed: fixable + not_syncable - missing_destination,
        fixable,
        not_syncable,
        fetched,
        new: fetched,
        ..Counters::default()
    }
}

/// A Full Live run that completed with failed entries on two of its connections (3 a retry
/// may fix and 9 none can, 7 of them missing a destination, on cmdb; 4 on mdm), and a resync
/// that fixed none of its 8.
fn failures(config: &Config, store: &Store) {
    let full = run(
        store,
        RunType::Full,
        RunMode::Live,
        RunStatus::Completed,
        &ALL[..3],
    );
    let mut batch = WriteBatch::new();
    batch.connection_runs = vec![
        completed_connection_run(&full, 0, live(1_200, 3, 7, 9), config),
        completed_connection_run(&full, 1, live(2_400, 0, 0, 0), config),
        completed_connection_run(&full, 2, live(1_996, 4, 0, 0), config),
    ];
    store.commit(&mut batch).unwrap();
    let resync = run(
        store,
        RunType::Resync,
        RunMode::Live,
        RunStatus::Completed,
        &ALL[..1],
    );
    let mut batch = WriteBatch::new();
    batch.connection_runs = vec![completed_connection_run(
        &resync,
        0,
        live(0, 8, 0, 0),
        config,
    )];
    store.commit(&mut batch).unwrap();
}

fn open(fill: impl FnOnce(&Config, &Store)) -> Fixture {
    Fixture::open(config_at("127.0.0.1:7300"), plain(), fill)
}

fn snap(name: &str, f: &mut Fixture) {
    insta::assert_snapshot!(format!("{name}_80x24"), render(&mut f.app, 80, 24));
    insta::assert_snapshot!(format!("{name}_160x48"), render(&mut f.app, 160, 48));
}

#[test]
fn a_completion_with_failed_entries_is_never_shown_as_success() {
    let mut f = open(failures);
    // The newest run first: the resync that fixed none of its 8.
    let screen = render(&mut f.app, 80, 24);
    assert!(
        screen.contains("Last run #2 · Resync Live · ⚠ completed · 8 failed"),
        "{screen}"
    );
    assert!(screen.contains("E opens the 8 failed"), "{screen}");
    assert!(!screen.contains("✔ completed"), "{screen}");
    // The Full run expanded: its row and its connections.
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Enter);
    snap("completed_with_failures", &mut f);
    let wide = render(&mut f.app, 160, 48);
    assert!(wide.contains("⚠ completed · 16 failed"), "{wide}");
    assert!(wide.contains("⚠ completed · 12 failed"), "{wide}");
    assert!(wide.contains("→ E opens the 12 failed"), "{wide}");
    assert!(wide.contains("⚠ completed · 4 failed"), "{wide}");
    // The connection without failures stays plain success.
    assert!(wide.contains("✔ completed"), "{wide}");
    // Connections: each connection's last run says the same.
    key(&mut f.app, KeyCode::Char('5'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    snap("connections_last_run_failed", &mut f);
    let screen = render(&mut f.app, 160, 48);
    assert!(
        screen.contains("last run #2 ⚠ completed · 8 failed"),
        "{screen}"
    );
}

/// A Live run canceled after 120 of 2,400 records: 2,280 never tried, counted and shown.
#[test]
fn records_never_tried_are_counted() {
    let mut f = open(|config, store| {
        let canceled = run(
            store,
            RunType::Full,
            RunMode::Live,
            RunStatus::Canceled,
            &ALL[..1],
        );
        let mut row: ConnectionRun =
            completed_connection_run(&canceled, 0, live(120, 0, 0, 0), config);
        row.status = RunStatus::Canceled;
        row.total = 2_400;
        let mut batch = WriteBatch::new();
        batch.connection_runs = vec![row];
        store.commit(&mut batch).unwrap();
    });
    key(&mut f.app, KeyCode::Enter);
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("2,280 never tried"), "{screen}");
    assert!(
        screen.contains("120 of 2,400 · 2,280 never tried"),
        "{screen}"
    );
}

/// 30 entries of one run: the report shows at least 14 of them at 80x24, the banner and the
/// card taking a line each.
#[test]
fn the_report_shows_fourteen_entries_at_80x24() {
    let mut f = Fixture::open(
        config_at("127.0.0.1:7300"),
        syncdeck::ui::app::AppOptions {
            theme: Theme::Default,
            banner: Some(
                "DEMO · built-in demo systems on http://127.0.0.1:7300 · scratch store · to \
                 leave the demo, write ~/.config/syncdeck/config.toml (see config.example.toml)"
                    .into(),
            ),
            triage: None,
        },
        |config, store| {
            failures(config, store);
            let mut batch = WriteBatch::new();
            for i in 0..30u32 {
                batch.entries.push(ReportEntry {
                    status: EntryStatus::Failed,
                    outcome: Outcome::Error,
                    ..history::entry(
                        1,
                        "cmdb",
                        "ServiceNow CMDB (demo)",
                        &format!("SD-{:06}", i + 1),
                        at(14, 0, i),
                    )
                });
            }
            store.commit(&mut batch).unwrap();
        },
    );
    key(&mut f.app, KeyCode::Char('3'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    let rows = screen.lines().filter(|l| l.contains("SD-0000")).count();
    assert!(rows >= 14, "{rows} entries on screen:\n{screen}");
    // The banner and the card take one line each, cut with an ellipsis.
    let lines: Vec<&str> = screen.lines().collect();
    assert!(
        lines[1].contains("DEMO") && lines[1].contains('…'),
        "{screen}"
    );
    assert!(lines[2].contains("Last run #2"), "{screen}");
    snap("report_at_80x24", &mut f);
    let _ = now();
}

/// A confirmation taller than the screen keeps its own key line: the text is cut instead.
#[test]
fn a_tall_confirmation_keeps_its_key_line() {
    let confirm = Confirm {
        action: ConfirmedAction::Quit,
        title: "Resync 48 entries?".into(),
        lines: (1..=40)
            .map(|i| format!("  • line {i} of what the confirmation says"))
            .collect(),
        yes: "resync",
    };
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|frame| {
            let area = Rect::new(0, 1, 80, 22);
            confirm.draw(frame, area, theme::Theme::new(Theme::Default, false));
        })
        .unwrap();
    let screen = terminal.backend().to_string();
    assert!(screen.contains("y resync   n/Esc back"), "{screen}");
    assert!(screen.contains("… (more than the screen holds"), "{screen}");
    insta::assert_snapshot!("tall_confirmation_80x24", screen);
}

/// A Dry entry whose rule sends `name` with the value the destination holds, beside a real
/// change: the details and the timeline say "same value, sent", never `x → x`.
#[test]
fn a_field_sent_with_the_same_value_is_not_shown_as_a_change() {
    let mut f = open(|_, store| {
        let dry = run(
            store,
            RunType::Single,
            RunMode::Dry,
            RunStatus::Completed,
            &ALL[..1],
        );
        let mut batch = WriteBatch::new();
        batch.entries.push(ReportEntry {
            diff: vec![
                syncdeck::store::FieldChange {
                    field: "name".into(),
                    old: Some("lt-par1-00042".into()),
                    new: Some("lt-par1-00042".into()),
                },
                syncdeck::store::FieldChange {
                    field: "ram_gb".into(),
                    old: Some(8.into()),
                    new: Some(16.into()),
                },
            ],
            ..history::entry(
                dry.id,
                "cmdb",
                "ServiceNow CMDB (demo)",
                "SD-000042",
                at(14, 0, 1),
            )
        });
        store.commit(&mut batch).unwrap();
    });
    key(&mut f.app, KeyCode::Char('3'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    key(&mut f.app, KeyCode::Enter);
    settle(&mut f.app, std::time::Duration::from_secs(10));
    snap("same_value_details", &mut f);
    let screen = render(&mut f.app, 160, 48);
    assert!(
        screen.contains("\"lt-par1-00042\" (same value, sent: on_same is not skip)"),
        "{screen}"
    );
    assert!(
        !screen.contains("\"lt-par1-00042\" → \"lt-par1-00042\""),
        "{screen}"
    );
    assert!(screen.contains("ram_gb  8 → 16"), "{screen}");
    assert!(
        screen.contains("1 changed, 1 sent with the same value"),
        "{screen}"
    );
    key(&mut f.app, KeyCode::Char('t'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 160, 48);
    assert!(
        screen.contains("name: \"lt-par1-00042\" (same value, sent: on_same is not skip)"),
        "{screen}"
    );
    insta::assert_snapshot!("same_value_timeline_80x24", render(&mut f.app, 80, 24));
}

/// `D` on a Dry connection row: the panel counts its entries by reason and lists the fields
/// that would change most; Enter on a line opens the report filtered to those entries.
#[test]
fn the_diagnostics_panel_counts_by_reason_and_opens_the_report() {
    let mut f = open(|config, store| {
        let dry = run(
            store,
            RunType::Full,
            RunMode::Dry,
            RunStatus::Completed,
            &ALL[..2],
        );
        let mut batch = WriteBatch::new();
        let counters = Counters {
            would_update: 3,
            skipped: 3,
            missing_source: 2,
            fetched: 8,
            ..Counters::default()
        };
        batch.connection_runs = vec![
            completed_connection_run(&dry, 0, counters, config),
            completed_connection_run(&dry, 1, Counters::default(), config),
        ];
        let entry = |i: u32, outcome: Outcome, reason: Option<&str>| ReportEntry {
            outcome,
            reason: reason.map(str::to_string),
            ..history::entry(
                dry.id,
                "cmdb",
                "ServiceNow CMDB (demo)",
                &format!("SD-{i:06}"),
                at(14, 0, i),
            )
        };
        for i in 0..3 {
            let mut e = entry(i, Outcome::WouldUpdate, None);
            e.diff = vec![
                syncdeck::store::FieldChange {
                    field: "ram_gb".into(),
                    old: Some(8.into()),
                    new: Some(16.into()),
                },
                syncdeck::store::FieldChange {
                    field: "name".into(),
                    old: Some("lt-1".into()),
                    new: Some("lt-1".into()),
                },
            ];
            batch.entries.push(e);
        }
        batch
            .entries
            .push(entry(3, Outcome::Skipped, Some("no_change")));
        batch
            .entries
            .push(entry(4, Outcome::Skipped, Some("no_change")));
        batch.entries.push(entry(5, Outcome::Skipped, Some("rule")));
        for i in 6..8 {
            let mut e = entry(i, Outcome::MissingSource, Some("missing_source"));
            e.error = Some(syncdeck::store::EntryError {
                message: "required source field status is absent or null".into(),
                ..syncdeck::store::EntryError::default()
            });
            batch.entries.push(e);
        }
        store.commit(&mut batch).unwrap();
    });
    // Expand the run, down to cmdb's row, D.
    key(&mut f.app, KeyCode::Enter);
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('D'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    snap("diagnostics_panel", &mut f);
    let screen = render(&mut f.app, 80, 24);
    for line in [
        "3  would update",
        "2  skipped: no change",
        "2  missing source field status",
        "1  skipped: rule (null source",
        "Fields that would change most",
        "3  ram_gb",
        "Fields sent with the same value",
        "3  name",
    ] {
        assert!(screen.contains(line), "{line}:\n{screen}");
    }
    // The missing-source line opens the report on those two entries.
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('j'));
    let screen = render(&mut f.app, 80, 24);
    assert!(
        screen.contains("▸ 2  missing source field status"),
        "{screen}"
    );
    key(&mut f.app, KeyCode::Enter);
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("Sync report · showing 2 of"), "{screen}");
    assert!(
        screen.contains("run #1 · connection cmdb · outcome missing source"),
        "{screen}"
    );
    insta::assert_snapshot!("diagnostics_into_report_80x24", screen);
}

/// Quitting the demo with history in its scratch store asks first, and says how to keep it.
#[test]
fn quitting_the_demo_asks_before_dropping_its_history() {
    for (width, height) in [(80, 24), (160, 48)] {
        let confirm = Confirm::quit_demo(12, false);
        assert_eq!(confirm.action, ConfirmedAction::Quit);
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| {
                let area = Rect::new(0, 1, width, height - 2);
                confirm.draw(frame, area, theme::Theme::new(Theme::Default, false));
            })
            .unwrap();
        let screen = terminal.backend().to_string();
        assert!(
            screen.contains("12 runs and their report entries"),
            "{screen}"
        );
        assert!(screen.contains("y quit and drop the history"), "{screen}");
        insta::assert_snapshot!(format!("quit_demo_{width}x{height}"), screen);
    }
}

/// The help scrolls with every move key: j/k, arrows, PgUp/PgDn (and Space), g/G, Home/End.
#[test]
fn the_help_scrolls_with_every_move_key() {
    let mut f = open(failures);
    key(&mut f.app, KeyCode::Char('?'));
    let range = |f: &mut Fixture| -> String {
        let screen = render(&mut f.app, 80, 24);
        let line = screen
            .lines()
            .find(|l| l.contains(" of ") && l.contains("Esc close"))
            .unwrap_or_else(|| panic!("no range:\n{screen}"))
            .to_string();
        let start = line.find(|c: char| c.is_ascii_digit()).unwrap();
        line[start..].split("  ").next().unwrap().trim().to_string()
    };
    let first = range(&mut f);
    assert!(first.starts_with("1-"), "{first}");
    let total = first.rsplit(' ').next().unwrap().to_string();
    key(&mut f.app, KeyCode::Char('j'));
    assert!(range(&mut f).starts_with("2-"));
    key(&mut f.app, KeyCode::Down);
    assert!(range(&mut f).starts_with("3-"));
    key(&mut f.app, KeyCode::Up);
    key(&mut f.app, KeyCode::Char('k'));
    assert_eq!(range(&mut f), first);
    key(&mut f.app, KeyCode::PageDown);
    let paged = range(&mut f);
    assert_ne!(paged, first);
    key(&mut f.app, KeyCode::PageUp);
    assert_eq!(range(&mut f), first);
    key(&mut f.app, KeyCode::Char('G'));
    let last = range(&mut f);
    assert!(last.ends_with(&format!("{total} of {total}")), "{last}");
    key(&mut f.app, KeyCode::Char('g'));
    assert_eq!(range(&mut f), first);
    key(&mut f.app, KeyCode::End);
    assert_eq!(range(&mut f), last);
    key(&mut f.app, KeyCode::Home);
    assert_eq!(range(&mut f), first);
    key(&mut f.app, KeyCode::Char(' '));
    assert_eq!(range(&mut f), paged);
    key(&mut f.app, KeyCode::Char('G'));
    snap("help_at_its_end", &mut f);
}

/// A filter picker shows how many entries each choice gives (the other filters kept) and
/// moves to the choice whose first letters are typed.
#[test]
fn pickers_count_each_choice_and_take_type_ahead() {
    let mut f = open(|_, store| {
        let mut batch = WriteBatch::new();
        let mut push = |connection: &str, i: u32, status: EntryStatus| {
            batch.entries.push(ReportEntry {
                status,
                outcome: if status == EntryStatus::Failed {
                    Outcome::Error
                } else {
                    Outcome::Updated
                },
                ..history::entry(1, connection, "demo", &format!("SD-{i:06}"), at(14, 0, i))
            });
        };
        for i in 0..3 {
            push("cmdb", i, EntryStatus::Failed);
        }
        for i in 3..5 {
            push("cmdb", i, EntryStatus::Ok);
        }
        for i in 5..9 {
            push("mdm", i, EntryStatus::Ok);
        }
        store.commit(&mut batch).unwrap();
    });
    key(&mut f.app, KeyCode::Char('3'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    key(&mut f.app, KeyCode::Char('C'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    let count_of = |screen: &str, label: &str| -> String {
        let line = screen
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("{label}:\n{screen}"));
        // The count ends the choice's line, before the picker's border.
        let after = &line[line.find(label).unwrap() + label.len()..];
        let inside = after.split('│').next().unwrap_or_default();
        inside
            .split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(count_of(&screen, "any connection"), "9", "{screen}");
    assert_eq!(count_of(&screen, "] cmdb ·"), "5", "{screen}");
    assert_eq!(count_of(&screen, "] mdm ·"), "4", "{screen}");
    assert_eq!(count_of(&screen, "] registry ·"), "0", "{screen}");
    // Type-ahead: "md" lands on mdm; Enter filters by it.
    key(&mut f.app, KeyCode::Char('m'));
    key(&mut f.app, KeyCode::Char('d'));
    snap("connection_picker", &mut f);
    key(&mut f.app, KeyCode::Enter);
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("connection mdm"), "{screen}");
    // With the connection set, the status picker counts within it.
    key(&mut f.app, KeyCode::Char('f'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    assert_eq!(count_of(&screen, "│ [ ] ✔ ok"), "4", "{screen}");
    assert_eq!(count_of(&screen, "│ [ ] ✖ failed"), "0", "{screen}");
}

/// Run #1 of [`failures`] with its cmdb entries: 3 failed with a 503 (a retry may fix them),
/// 2 missing their destination (none can), 2 updated.
fn failures_with_entries(config: &Config, store: &Store) {
    failures(config, store);
    let mut batch = WriteBatch::new();
    let entry = |i: u32, status, outcome, http: Option<u16>| {
        let mut e = ReportEntry {
            status,
            outcome,
            ..history::entry(
                1,
                "cmdb",
                "ServiceNow CMDB (demo)",
                &format!("SD-{:06}", i),
                at(14, 0, i),
            )
        };
        if let Some(code) = http {
            e.error = Some(syncdeck::store::EntryError {
                http_status: Some(code),
                code: None,
                message: format!("HTTP {code}"),
                hint: Some("destination down: run the health check, then resync".into()),
                method: None,
                url: None,
                response_excerpt: None,
            });
        }
        e
    };
    for i in 1..=3 {
        batch
            .entries
            .push(entry(i, EntryStatus::Failed, Outcome::Error, Some(503)));
    }
    for i in 4..=5 {
        batch.entries.push(entry(
            i,
            EntryStatus::Failed,
            Outcome::MissingDestination,
            None,
        ));
    }
    for i in 6..=7 {
        batch
            .entries
            .push(entry(i, EntryStatus::Ok, Outcome::Updated, None));
    }
    store.commit(&mut batch).unwrap();
}

/// `E` from any view opens the failed entries of the card's run; in Jobs, of the selected run
/// (the connection's, on its row; Enter on a failed connection row too); `F` narrows to the
/// ones a retry may fix; both are in the 80-column key bar.
#[test]
fn e_opens_the_failed_and_f_the_fixable() {
    let mut f = open(failures_with_entries);
    // Jobs: run #1 (the second row), E.
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('E'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("run #1 · status failed"), "{screen}");
    assert!(screen.contains("showing 5 of 7"), "{screen}");
    let bar = screen.lines().last().unwrap();
    assert!(
        bar.contains("F fixable") && bar.contains("E failed"),
        "{bar}"
    );
    snap("report_failed_of_run", &mut f);
    key(&mut f.app, KeyCode::Char('F'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    assert!(
        screen.contains("status failed · failed, fixable"),
        "{screen}"
    );
    assert!(screen.contains("showing 3 of 7"), "{screen}");
    snap("report_fixable", &mut f);
    // F again: the ones no retry can fix (the two missing destinations); again: off. Then E
    // from the report: the card's run (#2, the resync).
    key(&mut f.app, KeyCode::Char('F'));
    render(&mut f.app, 80, 24);
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("status failed · not syncable"), "{screen}");
    assert!(screen.contains("showing 2 of 7"), "{screen}");
    key(&mut f.app, KeyCode::Char('F'));
    let screen = render(&mut f.app, 80, 24);
    assert!(
        screen.contains("the failure class filter is off"),
        "{screen}"
    );
    key(&mut f.app, KeyCode::Char('E'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    // A resync changes the original entries in place: its failures are the Failed entries
    // changed since it started, in the runs they came from (here all of run #1's, recorded
    // at the same minute).
    assert!(
        screen.contains("the 8 still failed after resync run #2"),
        "{screen}"
    );
    assert!(
        screen.contains("status failed · changed since 03-14 14:00:00"),
        "{screen}"
    );
    let filters = screen.lines().find(|l| l.contains("filters:")).unwrap();
    assert!(!filters.contains("run #"), "{filters}");

    // Jobs: Enter on the failed cmdb row of run #1 opens its failures.
    key(&mut f.app, KeyCode::Char('1'));
    key(&mut f.app, KeyCode::Enter);
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Enter);
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    assert!(
        screen.contains("status failed · run #1 · connection cmdb"),
        "{screen}"
    );
    assert!(
        screen.contains("the 12 failed of cmdb in run #1"),
        "{screen}"
    );
}

/// A run's warning and error lines kept in the store: `L` (and Logs opened with no line this
/// session, as after a restart) shows them; Esc goes back to this session's lines.
#[test]
fn a_runs_kept_log_lines_show_after_a_restart() {
    let mut f = open(|config, store| {
        failures(config, store);
        let line =
            |s: u32, severity, connection: Option<&str>, message: &str| syncdeck::store::LogLine {
                at: at(14, 0, s),
                severity,
                connection: connection.map(str::to_string),
                message: message.into(),
            };
        use syncdeck::store::LogSeverity::{Error, Warn};
        store
            .append_run_log(
                1,
                &[
                    line(
                        3,
                        Warn,
                        Some("mdm"),
                        "SD-000042: HTTP 429, retrying in 2s (1 of 5)",
                    ),
                    line(
                        9,
                        Error,
                        Some("mdm"),
                        "SD-000042: HTTP 503 Service Unavailable; gave up after 5 attempts · \
                         hint: destination down: run the connection's health check, then resync",
                    ),
                    line(
                        12,
                        Error,
                        Some("cmdb"),
                        "cmdb: stopped: 5 consecutive contract errors",
                    ),
                ],
            )
            .unwrap();
    });
    // Run #1 selected, L: its kept lines.
    key(&mut f.app, KeyCode::Char('j'));
    key(&mut f.app, KeyCode::Char('L'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("run #1, kept with the run"), "{screen}");
    assert!(screen.contains("mdm: SD-000042: HTTP 429"), "{screen}");
    assert!(screen.contains("5 consecutive contract errors"), "{screen}");
    snap("run_log_kept", &mut f);
    // Esc: this session's lines (none: the console just started).
    key(&mut f.app, KeyCode::Esc);
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("Logs · this session · 0 lines"), "{screen}");
    // Back to Jobs, the newest run selected (it kept none), then 2: no line this session, so
    // the selected run's.
    key(&mut f.app, KeyCode::Char('1'));
    key(&mut f.app, KeyCode::Char('g'));
    key(&mut f.app, KeyCode::Char('2'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    assert!(
        screen.contains("Run #2 kept no warning or error line"),
        "{screen}"
    );
}

/// `f` and `s` open pickers wherever they are bound (the jobs' status filter, the contracts'
/// sort, as in the report); a key bound to nothing says so.
#[test]
fn f_and_s_open_pickers_everywhere_and_unbound_keys_speak() {
    let mut f = open(failures);
    key(&mut f.app, KeyCode::Char('z'));
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("z does nothing here · ? help"), "{screen}");
    key(&mut f.app, KeyCode::Char('f'));
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("Filter runs: status"), "{screen}");
    snap("jobs_status_picker", &mut f);
    // "ca" types ahead to canceled; Enter picks it: no run is canceled.
    key(&mut f.app, KeyCode::Char('c'));
    key(&mut f.app, KeyCode::Char('a'));
    key(&mut f.app, KeyCode::Enter);
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("runs ⊘ canceled only"), "{screen}");
    key(&mut f.app, KeyCode::Esc);
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("#1 Full"), "{screen}");
    key(&mut f.app, KeyCode::Char('4'));
    key(&mut f.app, KeyCode::Char('s'));
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("Sort contracts by"), "{screen}");
    snap("contracts_sort_picker", &mut f);
}

/// The report's search filters as it is typed; Esc puts back the search there was.
#[test]
fn search_filters_as_you_type() {
    let mut f = open(failures_with_entries);
    key(&mut f.app, KeyCode::Char('3'));
    settle(&mut f.app, std::time::Duration::from_secs(10));
    key(&mut f.app, KeyCode::Char('/'));
    common::screen::chars(&mut f.app, "SD-000004");
    // The frame's update step applies what was typed; its count comes in the background.
    render(&mut f.app, 80, 24);
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("showing 1 of 7"), "{screen}");
    assert!(screen.contains("Enter keeps · Esc puts back"), "{screen}");
    snap("search_as_you_type", &mut f);
    key(&mut f.app, KeyCode::Esc);
    render(&mut f.app, 80, 24);
    settle(&mut f.app, std::time::Duration::from_secs(10));
    let screen = render(&mut f.app, 80, 24);
    assert!(screen.contains("showing 7 of 7"), "{screen}");
    assert!(screen.contains("filters: none"), "{screen}");
}
