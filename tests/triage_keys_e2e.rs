//! Issue 15's "done when": from a store with failures, the keys on-call presses after
//! `syncdeck triage RUN_ID` (the real binary, a real terminal in tmux, 80x24) to
//! (a) a failed record's hint on screen, (b) that record resynced and confirmed, (c) every
//! fixable failure of one connection resynced, (d) the failed entries of the run exported.
//! The aims are at most 2, 4, 5 and 4 keys; each count is asserted and printed with its keys.
//! Each measure starts a fresh console, so one does not lean on another's state.

mod common;

use std::collections::BTreeMap;

use common::Terminal;
use common::cli::DemoFiles;
use syncdeck::store::{EntryStatus, FailureClass, ReportFilter, Store, StoreOptions};

/// The keys pressed for one measure, checked against its aim and printed.
struct Count {
    what: &'static str,
    keys: Vec<&'static str>,
    aim: usize,
}

impl Count {
    fn press(&mut self, term: &Terminal, keys: &[&'static str]) {
        term.keys(keys);
        self.keys.extend_from_slice(keys);
    }

    fn check(&self) {
        println!(
            "({}) {} keys [{}] (aim at most {})",
            self.what,
            self.keys.len(),
            self.keys.join(" "),
            self.aim
        );
        assert!(
            self.keys.len() <= self.aim,
            "({}) took {} keys: {:?}",
            self.what,
            self.keys.len(),
            self.keys
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_reaches_a_hint_a_resync_a_connection_and_an_export_in_few_keys() {
    let setup = DemoFiles::start(300, 33).await;
    let live = setup
        .syncdeck(&["run", "--full", "--live", "--force", "--json"])
        .await;
    assert!(matches!(live.code, Some(0 | 1)), "{live:?}");
    let run_id = live.json()["run_id"].as_u64().unwrap();

    // What the store says: the run's failed entries, and the fixable ones by connection.
    let (failed, fixable_by_connection) = {
        let store = Store::open(&setup.store, StoreOptions { retention_days: 0 }).unwrap();
        let filter = ReportFilter {
            run: Some(run_id),
            statuses: vec![EntryStatus::Failed],
            ..ReportFilter::default()
        };
        let page = store
            .report_page(&filter, Default::default(), 0, 10_000)
            .unwrap();
        let mut fixable: BTreeMap<String, usize> = BTreeMap::new();
        for entry in &page {
            if entry.failure_class() == Some(FailureClass::Fixable) {
                *fixable.entry(entry.connection.clone()).or_default() += 1;
            }
        }
        (page, fixable)
    };
    assert!(
        !fixable_by_connection.is_empty(),
        "the demo's live run leaves failures a retry may fix"
    );

    let secrets = syncdeck::demo::demo_secrets();
    let args = format!(
        "--config '{}' --store '{}' triage {run_id}",
        setup.config.display(),
        setup.store.display()
    );
    let open = || {
        let term = Terminal::start_with_env(80, 24, secrets, &args);
        term.wait_for("Entry #");
        // The hint's row, below the title (a capture may land inside one frame).
        let details = term.wait_for("hint  ");
        (term, details)
    };

    // (a) The hint is on screen as the console opens: the first failure a retry may fix.
    let (term, details) = open();
    let a = Count {
        what: "a: a failed record's hint",
        keys: Vec::new(),
        aim: 2,
    };
    assert!(details.contains("hint"), "{details}");
    let first = failed
        .iter()
        .find(|e| details.contains(&format!("Entry #{} ", e.sync_id)))
        .unwrap_or_else(|| panic!("an entry of run #{run_id} in the details: {details}"));
    assert_eq!(
        first.failure_class(),
        Some(FailureClass::Fixable),
        "triage opens on a failure a retry may fix: {details}"
    );
    a.check();

    // (b) That record resynced: R asks, y confirms; the Resync run ends.
    let mut b = Count {
        what: "b: that record resynced and confirmed",
        keys: Vec::new(),
        aim: 4,
    };
    b.press(&term, &["R"]);
    term.wait_for(&format!("Resync entry #{}?", first.sync_id));
    term.wait_for(&format!("on {} live", first.connection));
    b.press(&term, &["y"]);
    // "resync run #2: 1 of 1 entry now OK" (or still failed: the count is of keys).
    let done = term.wait_for_within(&format!("resync run #{}:", run_id + 1), 60);
    assert!(done.contains("of 1 entry"), "{done}");
    b.check();
    term.keys(&["Escape"]);
    term.wait_for("Sync report");
    term.keys(&["q"]);
    assert_eq!(term.exit_code(), 0, "{}", term.screen());
    term.assert_restored();

    // (c) Every fixable failure of the opened entry's connection: out of the details, the
    // connection picker (its cursor already on that connection), R over the filter, y.
    let (term, _) = open();
    let mut c = Count {
        what: "c: every fixable failure of one connection resynced",
        keys: Vec::new(),
        aim: 5,
    };
    c.press(&term, &["Escape", "C"]);
    term.wait_for("Filter: connection");
    c.press(&term, &["Enter"]);
    term.wait_for(&format!("run #{run_id} · status failed · connection"));
    c.press(&term, &["R"]);
    // What a retry cannot fix stays out, said in the confirmation.
    term.wait_for("left out");
    term.wait_for("y resync");
    c.press(&term, &["y"]);
    term.wait_for_within(&format!("resync run #{}:", run_id + 2), 60);
    c.check();
    term.keys(&["q"]);
    assert_eq!(term.exit_code(), 0, "{}", term.screen());

    // (d) The run's failed entries exported: out of the details, e, Enter on the default file.
    let (term, _) = open();
    let mut d = Count {
        what: "d: the failed entries of the run exported",
        keys: Vec::new(),
        aim: 4,
    };
    d.press(&term, &["Escape", "e"]);
    term.wait_for("Export");
    d.press(&term, &["Enter"]);
    let exported = term.wait_for_within("exported", 60);
    d.check();
    let exports = term.file("data").join("syncdeck").join("exports");
    let csv = std::fs::read_dir(&exports)
        .unwrap_or_else(|e| panic!("{}: {e}; {exported}", exports.display()))
        .next()
        .expect("one export")
        .unwrap()
        .path();
    let rows = std::fs::read_to_string(&csv).unwrap().lines().count() - 1;
    term.keys(&["q"]);
    assert_eq!(term.exit_code(), 0, "{}", term.screen());
    term.assert_restored();
    // Every failed entry of the run as the store holds it now (the resyncs above turned some
    // OK in place), one row each.
    let store = Store::open(&setup.store, StoreOptions { retention_days: 0 }).unwrap();
    let now_failed = store
        .report_count(&ReportFilter {
            run: Some(run_id),
            statuses: vec![EntryStatus::Failed],
            ..ReportFilter::default()
        })
        .unwrap();
    assert_eq!(rows as u64, now_failed, "{exported}");
    assert!(now_failed <= failed.len() as u64);
}
