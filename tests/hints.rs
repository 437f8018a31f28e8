//! Every Failed entry carries a hint (SPEC section 4; issue 15, point 6): after a Full Live run
//! on the demo systems — missing source fields, unknown destinations, 400s, 405s, 503s — the
//! report's failed entries each say what to check.

mod common;

use common::cli::DemoFiles;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failed_entry_of_a_demo_live_run_has_a_hint() {
    let setup = DemoFiles::start(600, 81).await;
    let ran = setup
        .syncdeck(&["run", "--full", "--live", "--force", "--json"])
        .await;
    assert!(matches!(ran.code, Some(0 | 1)), "{ran:?}");
    let report = setup
        .syncdeck(&["report", "--status", "failed", "--format", "json"])
        .await;
    assert_eq!(report.code, Some(0), "{report:?}");
    let entries = report.json();
    let entries = entries.as_array().unwrap();
    let outcomes: std::collections::BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    // The demo fails records every way it can: the test covers each.
    for outcome in ["missing_source", "missing_destination", "error"] {
        assert!(outcomes.contains(outcome), "{outcome} in {outcomes:?}");
    }
    let without: Vec<String> = entries
        .iter()
        .filter(|e| e["error"]["hint"].as_str().is_none_or(str::is_empty))
        .map(|e| {
            format!(
                "{} {} {}",
                e["reference"], e["outcome"], e["error"]["message"]
            )
        })
        .collect();
    assert!(
        without.is_empty(),
        "failed entries without a hint: {without:#?}"
    );
    let missing_source = entries
        .iter()
        .find(|e| e["outcome"] == "missing_source")
        .unwrap();
    assert!(
        missing_source["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("fix the source record"),
        "{missing_source}"
    );
}
