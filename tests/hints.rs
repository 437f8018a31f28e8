//! Every Failed entry carries a hint (SPEC section 4; issue 15, point 6): after a Full Live run
//! on the demo systems — missing source fields, unknown destinations, 400s, 405s, 503s — the
//! report's failed entries each say what to check; a missing source names its field, and a 400
//! naming a field the mapping fills from the source blames the source data.

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
    let hint = missing_source["error"]["hint"].as_str().unwrap();
    assert!(hint.contains("fix the source record"), "{missing_source}");
    // It names the field its message names.
    let message = missing_source["error"]["message"].as_str().unwrap();
    let field = message
        .strip_prefix("required source field ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{message}"));
    assert!(
        hint.contains(&format!("no value for {field},")),
        "{hint} / {message}"
    );
    // The registry's 400s name the site the mapping takes from the source: bad source data,
    // not the mapping.
    let refused: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["connection"] == "registry" && e["error"]["http_status"] == 400)
        .collect();
    assert!(
        !refused.is_empty(),
        "the demo registry refuses unknown sites"
    );
    for entry in refused {
        let hint = entry["error"]["hint"].as_str().unwrap();
        assert!(hint.starts_with("bad source data"), "{entry}");
    }
}
