//! `syncdeck triage [RUN_ID]` (SPEC sections 6 and 10; issue 15, point 3): the console opened
//! on a run's failed entries with the first one's details on screen, reading the store without
//! a config or its secrets; a clear message and exit code when there is nothing to open.

use std::path::Path;

mod common;

use common::Terminal;
use common::cli::{CHILD_LIMIT, DemoFiles, Output, command, output};
use syncdeck::store::{EntryStatus, ReportFilter, Store, StoreOptions};

/// `syncdeck ARGS` with a private environment, no config and no secrets.
async fn bare(home: &Path, args: &[&str]) -> Output {
    let mut command = command(home);
    command.args(args);
    output(command, CHILD_LIMIT).await
}

#[tokio::test]
async fn nothing_to_triage_says_so_and_a_missing_run_is_bad_usage() {
    let home = tempfile::tempdir().unwrap();
    let store = home.path().join("empty.redb");
    drop(Store::open(&store, StoreOptions::default()).unwrap());
    let store = store.to_str().unwrap();

    let none = bare(home.path(), &["--store", store, "triage"]).await;
    assert_eq!(none.code, Some(0), "{none:?}");
    assert!(
        none.stderr.contains("no run in") && none.stderr.contains("nothing to triage"),
        "{none:?}"
    );
    let missing = bare(home.path(), &["--store", store, "triage", "7"]).await;
    assert_eq!(missing.code, Some(2), "{missing:?}");
    assert!(missing.stderr.contains("no run 7"), "{missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_opens_the_newest_run_with_failures_on_its_first_failed_entry() {
    let setup = DemoFiles::start(300, 33).await;
    let live = setup
        .syncdeck(&["run", "--full", "--live", "--force", "--json"])
        .await;
    assert!(matches!(live.code, Some(0 | 1)), "{live:?}");
    let live_id = live.json()["run_id"].as_u64().unwrap();
    // A newer run without a Failed entry: triage passes it over.
    let dry = setup
        .syncdeck(&["run", "--full", "--dry-run", "--json"])
        .await;
    assert!(matches!(dry.code, Some(0 | 1)), "{dry:?}");
    let dry_id = dry.json()["run_id"].as_u64().unwrap();
    assert!(dry_id > live_id);

    let store_path = setup.store.to_str().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let nothing = bare(
        home.path(),
        &["--store", &store_path, "triage", &dry_id.to_string()],
    )
    .await;
    assert_eq!(nothing.code, Some(0), "{nothing:?}");
    assert!(
        nothing
            .stderr
            .contains(&format!("run {dry_id} has no failed entries")),
        "{nothing:?}"
    );

    // The first Failed entry of the live run a retry may fix, newest first, as the report
    // lists them (on-call lands on what it can act on).
    let first = {
        let store = Store::open(&setup.store, StoreOptions { retention_days: 0 }).unwrap();
        let filter = ReportFilter {
            run: Some(live_id),
            statuses: vec![EntryStatus::Failed],
            ..ReportFilter::default()
        };
        let page = store
            .report_page(&filter, Default::default(), 0, 200)
            .unwrap();
        assert!(!page.is_empty(), "the demo's live run fails some records");
        let fixable = page
            .iter()
            .position(|e| e.failure_class() == Some(syncdeck::store::FailureClass::Fixable))
            .unwrap_or(0);
        page.into_iter().nth(fixable).unwrap()
    };

    // No config, no secrets: the console on the store alone, at 80x24.
    let term = Terminal::start(80, 24, &format!("--store '{store_path}' triage"));
    let screen = term.wait_for(&format!("Entry #{}", first.sync_id));
    assert!(screen.contains(&first.reference), "{screen}");
    assert!(screen.contains(&format!("#{live_id}")), "{screen}");
    assert!(screen.contains("hint"), "{screen}");
    // Esc backs out to the report, filtered to the run's failed entries, under a banner that
    // says the console reads the store alone.
    term.keys(&["Escape"]);
    let report = term.wait_for("TRIAGE");
    assert!(report.contains("no config"), "{report}");
    assert!(
        report.contains(&format!("run #{live_id} · status failed")),
        "{report}"
    );
    term.keys(&["q"]);
    assert_eq!(term.exit_code(), 0, "{}", term.screen());
    term.assert_restored();
}
