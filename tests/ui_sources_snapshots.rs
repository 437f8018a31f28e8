//! Screens of a config with several sources (SPEC section 11): the new-run dialog and the Jobs
//! rows say which source each connection reads, and a running `concurrency = "auto"`
//! connection shows how many requests it allows in flight now. Snapshots at 80x24 and 100x30.

use std::path::Path;
use std::sync::Arc;

use ratatui::crossterm::event::KeyCode;
use syncdeck::config::{self, Environment};
use syncdeck::engine::Event;
use syncdeck::store::{ConnectionRun, Counters, Run, RunMode, RunStatus, RunType, Trigger};

mod common;

use common::screen::{Fixture, at, key, plain, render};

/// The ServiceNow example (Jamf Pro and Intune as two sources), on loopback ports.
fn two_source_config() -> Arc<config::Config> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples/servicenow.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .replace("https://yourcompany.jamfcloud.com", "http://127.0.0.1:7401")
        .replace("https://graph.microsoft.com", "http://127.0.0.1:7402")
        .replace("https://login.microsoftonline.com", "http://127.0.0.1:7402")
        .replace(
            "https://yourcompany.service-now.com",
            "http://127.0.0.1:7403",
        );
    let env = Environment::with_fallbacks([
        ("JAMF_API_PASSWORD", "x-jamf"),
        ("GRAPH_CLIENT_SECRET", "x-graph"),
        ("SERVICENOW_PASSWORD", "x-sn"),
    ]);
    Arc::new(config::parse(&text, &path, &env).unwrap_or_else(|e| panic!("{e}")))
}

fn snap(name: &str, f: &mut Fixture) {
    insta::assert_snapshot!(format!("{name}_80x24"), render(&mut f.app, 80, 24));
    insta::assert_snapshot!(format!("{name}_100x30"), render(&mut f.app, 100, 30));
}

#[test]
fn the_new_run_dialog_shows_the_source_of_each_connection() {
    let mut f = Fixture::open(two_source_config(), plain(), |_, _| {});
    key(&mut f.app, KeyCode::Char('n'));
    let screen = render(&mut f.app, 100, 30);
    assert!(screen.contains("ServiceNow CMDB ← Jamf Pro"), "{screen}");
    assert!(screen.contains("ServiceNow CMDB ← Intune"), "{screen}");
    snap("new_run_two_sources", &mut f);
}

#[test]
fn a_running_auto_connection_shows_its_concurrency_and_its_source() {
    let mut f = Fixture::open(two_source_config(), plain(), |_, _| {});
    let run = Run {
        id: 0,
        run_type: RunType::Full,
        mode: RunMode::Dry,
        status: RunStatus::Running,
        started_at: at(14, 59, 0),
        finished_at: None,
        serial: None,
        connections: vec!["cmdb-macs".into(), "cmdb-pcs".into()],
        credential_contexts: vec!["servicenow".into()],
        note: None,
        owner: Some(common::history::owner_on_jump1("alice", 4242)),
        trigger: Some(Trigger::console()),
    };
    let id = f
        .store
        .create_run(run.clone())
        .unwrap_or_else(|e| panic!("{e}"));
    let run = Run { id, ..run };
    f.app.handle_engine(Event::RunStarted { run: run.clone() });
    let row = ConnectionRun {
        run_id: id,
        position: 0,
        connection: "cmdb-macs".into(),
        system: "ServiceNow CMDB".into(),
        credential: Some("servicenow".into()),
        mode: RunMode::Dry,
        status: RunStatus::Running,
        total: 240,
        processed: 96,
        counters: Counters::default(),
        error: None,
        started_at: Some(at(14, 59, 0)),
        finished_at: None,
        config_hash: String::new(),
        note: None,
    };
    f.app.handle_engine(Event::ConnectionStarted {
        connection_run: row,
    });
    f.app.handle_engine(Event::Concurrency {
        run_id: id,
        position: 0,
        concurrency: 12,
    });
    let screen = render(&mut f.app, 100, 30);
    assert!(screen.contains("auto ×12"), "{screen}");
    assert!(screen.contains("← Jamf Pro"), "{screen}");
    snap("running_auto_two_sources", &mut f);
}
