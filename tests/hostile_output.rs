//! Text a source or destination chooses never drives the operator's terminal nor a spreadsheet
//! (issue 12, point 2): serials and destination error codes and messages holding escape
//! sequences (a title change, an OSC 52 clipboard write, a cleared screen), C1 controls, a
//! bidirectional override and spreadsheet formula starts are fed through a real Live run, then
//! every output is read byte by byte: the run summary and `run --json`, `report` as a table, CSV
//! and JSON, `contracts` and `contracts --json`, `check` and `check --json`, `resync`, and the
//! console in tmux (the pane, the window title, the OSC 52 copy, the CSV export `e`). JSON output still reads back
//! the original values, and the store keeps them as they came.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use syncdeck::store::{Store, StoreOptions};

mod common;

use common::Terminal;
use common::systems::{SourceAnswer, Systems};

const LIMIT: Duration = Duration::from_secs(120);

/// A serial that sets the window title.
const TITLE: &str = "SN-1\u{1b}]0;pwned-title\u{7}";
/// A serial with a C1 CSI (ESC [ in one byte) and a bidirectional override.
const C1: &str = "SN-2\u{9b}31mred\u{202e}fdp.exe";
/// Serials a spreadsheet would run as formulas.
const FORMULAS: [&str; 4] = [
    "=HYPERLINK(\"http://evil.example\",\"open\")",
    "+SUM(1+1)",
    "-2+3",
    "@cmd",
];
/// The destination's error for the TITLE serial: an OSC 52 clipboard write in the code, a
/// clear-screen, a C1 CSI and a NEL in the message.
const EVIL_CODE: &str = "E\u{1b}]52;c;cHduZWQ=\u{7}";
const EVIL_MESSAGE: &str = "bad \u{1b}[2J\u{9b}31m value\u{85}next";

fn json_text(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

fn serials() -> Vec<String> {
    let mut serials = vec![TITLE.to_string(), C1.to_string()];
    serials.extend(FORMULAS.iter().map(|s| s.to_string()));
    serials
}

/// The destination id of serial `i`: the formula serial's id is a formula too.
fn id_of(i: usize) -> String {
    match i {
        2 => "=1+2".to_string(),
        _ => format!("id-{i}"),
    }
}

/// The source lists each serial (the TITLE one twice: the duplicate is named in the run's
/// note); the destination has each, out of date; the TITLE record's write is refused (409) with
/// the hostile error.
fn hostile_systems(systems: &Systems) {
    let mut items: Vec<String> = serials()
        .iter()
        .enumerate()
        .map(|(i, s)| format!(r#"{{"serial": {}, "name": "new-{i}"}}"#, json_text(s)))
        .collect();
    items.push(format!(
        r#"{{"serial": {}, "name": "again"}}"#,
        json_text(TITLE)
    ));
    systems.set_source(SourceAnswer::json(&format!(
        r#"{{"items": [{}]}}"#,
        items.join(", ")
    )));
    for (i, serial) in serials().iter().enumerate() {
        systems.set_record(
            serial,
            &format!(
                r#"{{"serial": {}, "id": {}, "name": "old"}}"#,
                json_text(serial),
                json_text(&id_of(i))
            ),
        );
    }
    let error = serde_json::json!({"error": {"code": EVIL_CODE, "message": EVIL_MESSAGE}});
    // 409: a conflict a retry may fix, so `resync --failed` sends it again (a 400 it would
    // leave out: no retry changes bad data).
    systems.answer_write("id-0", 409, "application/json", &error.to_string());
}

fn config_text(base: &str) -> String {
    format!(
        r#"
[source]
name = "Hostile source"
base_url = "{base}"
endpoint = "/source"
results_position = "items"
id_field = "serial"

[[connections]]
name = "assets"
system = "Asset API"
base_url = "{base}"
dry_run = false
concurrency = 2
max_retries = 0
timeout_secs = 5
[connections.fetch]
path = "/json/assets"
query = {{ serial = "{{serial}}" }}
results_position = "result"
serial_field = "serial"
id_field = "id"
[connections.update]
method = "PATCH"
path = "/json/assets/{{id}}"
[[connections.mapping]]
source = "name"
target = "name"
format = "string"
"#
    )
}

struct Setup {
    systems: Systems,
    dir: tempfile::TempDir,
    config: PathBuf,
    store: PathBuf,
}

async fn setup() -> Setup {
    let systems = Systems::start().await;
    hostile_systems(&systems);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, config_text(&systems.base_url())).unwrap();
    let store = dir.path().join("s.redb");
    Setup {
        systems,
        dir,
        config,
        store,
    }
}

/// A finished syncdeck's exit code and the exact bytes it wrote.
struct Bytes {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{:?}\n--- stderr\n{:?}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

impl Setup {
    async fn syncdeck(&self, args: &[&str]) -> Bytes {
        let mut command = common::cli::command(self.dir.path());
        command
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .args(args);
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        let out = tokio::time::timeout(LIMIT, command.output())
            .await
            .expect("syncdeck finished in time")
            .expect("spawn syncdeck");
        Bytes {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }
}

/// The byte sequences that must never reach a terminal: ESC, BEL, the C1 controls as UTF-8
/// (CSI U+009B, NEL U+0085, any U+0080..U+009F), and the right-to-left override; and bytes
/// that are not UTF-8.
fn assert_inert(what: &str, bytes: &[u8]) {
    for (at, window) in bytes.windows(2).enumerate() {
        assert!(
            !(window[0] == 0xC2 && (0x80..=0x9F).contains(&window[1])),
            "{what}: a C1 control at byte {at}: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    // Valid UTF-8: a lone 0x9B byte (an 8-bit CSI) cannot hide in it.
    assert!(std::str::from_utf8(bytes).is_ok(), "{what}: not UTF-8");
    for (byte, name) in [(0x1bu8, "ESC"), (0x07, "BEL")] {
        assert!(
            !bytes.contains(&byte),
            "{what}: {name} reached the output: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert!(
        !bytes.windows(3).any(|w| w == "\u{202e}".as_bytes()),
        "{what}: a bidirectional override reached the output"
    );
}

fn assert_all_inert(what: &str, out: &Bytes) {
    assert_inert(&format!("{what} stdout"), &out.stdout);
    assert_inert(&format!("{what} stderr"), &out.stderr);
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("the output is UTF-8")
}

/// CSV rows, parsed the way a spreadsheet import would.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_reaches_no_terminal_no_spreadsheet_and_json_keeps_it_exactly() {
    let setup = setup().await;

    // The run: its summary shows the duplicate TITLE serial in the note.
    let run = setup
        .syncdeck(&["run", "--full", "--live", "--force"])
        .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_all_inert("run", &run);
    let summary = text(&run.stdout);
    assert!(
        summary
            .contains("1 duplicate serial in the source (first copy kept): SN-1␛]0;pwned-title␇"),
        "{summary}"
    );
    let run_json = setup
        .syncdeck(&["run", "--full", "--live", "--force", "--json"])
        .await;
    assert_all_inert("run --json", &run_json);
    let value: Value = serde_json::from_slice(&run_json.stdout).unwrap();
    let note = value["connections"][0]["note"].as_str().unwrap();
    assert!(
        note.contains(&format!("(first copy kept): {TITLE}")),
        "{note}"
    );

    // The store keeps the bytes as they came.
    {
        let store = Store::open(&setup.store, StoreOptions::default()).unwrap();
        let timeline = store.serial_timeline(TITLE).unwrap();
        assert_eq!(timeline.len(), 2, "one entry per run");
        let error = timeline[0].error.as_ref().unwrap();
        assert_eq!(error.code.as_deref(), Some(EVIL_CODE));
        assert!(error.message.ends_with(EVIL_MESSAGE), "{}", error.message);
        assert!(store.serial_timeline(C1).unwrap().len() == 2);
    }

    // report as a table: the serial and nothing else of it shows, every control visible.
    let table = setup.syncdeck(&["report", "--days", "1"]).await;
    assert_eq!(table.code, Some(0), "{table:?}");
    assert_all_inert("report", &table);
    let shown = text(&table.stdout);
    assert!(shown.contains("SN-1␛]0;pwned-title␇"), "{shown}");
    assert!(
        shown.contains("SN-2\u{fffd}31mred\u{fffd}fdp.exe"),
        "{shown}"
    );

    // report --format json: the original values, escaped.
    let json = setup
        .syncdeck(&["report", "--days", "1", "--format", "json"])
        .await;
    assert_all_inert("report --format json", &json);
    let entries: Value = serde_json::from_slice(&json.stdout).unwrap();
    let entries = entries.as_array().unwrap();
    let title = entries
        .iter()
        .find(|e| e["reference"] == TITLE)
        .expect("the TITLE entry reads back exactly");
    assert_eq!(title["error"]["code"], EVIL_CODE);
    let message = title["error"]["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!("[{EVIL_CODE}]: {EVIL_MESSAGE}")),
        "{message}"
    );
    assert!(entries.iter().any(|e| e["reference"] == C1));
    let raw = text(&json.stdout);
    assert!(raw.contains(r"\u009b31mred\u202efdp.exe"), "{raw}");
    assert!(raw.contains(r"E\u001b]52;c;cHduZWQ=\u0007"), "{raw}");
    // The timeline form too.
    let timeline = setup
        .syncdeck(&["report", "--search", TITLE, "--format", "json"])
        .await;
    assert_all_inert("report --search --format json", &timeline);
    let timeline: Value = serde_json::from_slice(&timeline.stdout).unwrap();
    assert_eq!(timeline.as_array().unwrap().len(), 2);
    assert!(
        timeline[0]["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with(EVIL_MESSAGE)
    );

    // report --format csv: every formula start neutralised, in every cell.
    let csv = setup
        .syncdeck(&["report", "--days", "1", "--format", "csv"])
        .await;
    assert_all_inert("report --format csv", &csv);
    let rows = csv_rows(&csv.stdout);
    assert_eq!(rows.len(), 12, "6 serials, 2 runs");
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a cell a spreadsheet would run: {cell:?} in {row:?}"
            );
        }
    }
    let references: Vec<&str> = rows.iter().map(|r| r[4].as_str()).collect();
    for formula in FORMULAS {
        assert!(
            references.contains(&format!("'{formula}").as_str()),
            "{formula} in {references:?}"
        );
    }
    assert!(rows.iter().any(|r| r[6] == "'=1+2"), "the target id cell");
    let title_row = rows.iter().find(|r| r[4].starts_with("SN-1")).unwrap();
    assert_eq!(title_row[4], "SN-1␛]0;pwned-title␇");
    assert_eq!(title_row[12], "E␛]52;c;cHduZWQ=␇");
    assert!(
        title_row[13].ends_with("[E␛]52;c;cHduZWQ=␇]: bad ␛[2J\u{fffd}31m value\u{fffd}next"),
        "{title_row:?}"
    );

    // contracts, as a table and as JSON.
    let contracts = setup.syncdeck(&["contracts"]).await;
    assert_eq!(contracts.code, Some(0), "{contracts:?}");
    assert_all_inert("contracts", &contracts);
    assert!(text(&contracts.stdout).contains("SN-2\u{fffd}31mred\u{fffd}fdp.exe"));
    let contracts = setup.syncdeck(&["contracts", "--json"]).await;
    assert_all_inert("contracts --json", &contracts);
    let contracts: Value = serde_json::from_slice(&contracts.stdout).unwrap();
    assert!(
        contracts
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["origin_id"] == C1),
        "{contracts}"
    );

    // check: its source step names the first serial listed (the TITLE one).
    let check = setup.syncdeck(&["check"]).await;
    assert_all_inert("check", &check);
    assert!(
        text(&check.stdout).contains("first serial SN-1␛]0;pwned-title␇"),
        "{check:?}"
    );
    let check = setup.syncdeck(&["check", "--json"]).await;
    assert_all_inert("check --json", &check);
    let reports: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert!(reports.to_string().contains("pwned-title"), "{reports}");

    // resync: the entries still failing, with the destination's message.
    let resync = setup.syncdeck(&["resync", "--failed", "--yes"]).await;
    assert_eq!(resync.code, Some(1), "{resync:?}");
    assert_all_inert("resync", &resync);
    assert!(
        text(&resync.stdout).contains("bad ␛[2J\u{fffd}31m value\u{fffd}next"),
        "{resync:?}"
    );
    let resync = setup
        .syncdeck(&["resync", "--failed", "--yes", "--json"])
        .await;
    assert_all_inert("resync --json", &resync);

    // A connection error quoting the source: the listing answered 500 with the hostile error.
    setup.systems.set_source(SourceAnswer {
        status: 500,
        content_type: "application/json".into(),
        body: serde_json::json!({"error": {"code": EVIL_CODE, "message": EVIL_MESSAGE}})
            .to_string()
            .into_bytes(),
        delay: Duration::ZERO,
    });
    let failed = setup.syncdeck(&["run", "--full", "--dry-run"]).await;
    assert_eq!(failed.code, Some(1), "{failed:?}");
    assert_all_inert("a failed run", &failed);
    assert!(
        text(&failed.stdout).contains("E␛]52;c;cHduZWQ=␇: bad ␛[2J"),
        "{failed:?}"
    );
    let failed = setup
        .syncdeck(&["run", "--full", "--dry-run", "--json"])
        .await;
    assert_all_inert("a failed run --json", &failed);
    let value: Value = serde_json::from_slice(&failed.stdout).unwrap();
    let message = value["connections"][0]["error"]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains(EVIL_MESSAGE), "{message}");

    // The console: the report and an entry's details in tmux, then `y`.
    console(&setup).await;
}

/// Opens the console on the store, shows the report and the TITLE entry's details, copies them:
/// the pane shows the controls as pictures, the window title is untouched, no clipboard write
/// but syncdeck's own, and the copy carries no control.
async fn console(setup: &Setup) {
    let config = setup.config.display().to_string();
    let store = setup.store.display().to_string();
    let term = tokio::task::spawn_blocking(move || {
        let term =
            Terminal::start_recorded(120, 30, &format!("--config '{config}' --store '{store}'"));
        term.tmux(&["set", "-g", "set-clipboard", "on"]);
        let title_before = term.tmux(&["display-message", "-p", "-t", "e2e", "#{pane_title}"]);
        term.wait_for("Outbound Sync Jobs");
        term.keys(&["3"]);
        term.wait_for("Sync report");
        term.keys(&["/"]);
        term.wait_for("search: ");
        term.type_text("SN-1");
        term.keys(&["Enter"]);
        let screen = term.wait_for("SN-1␛]0;pwned-title␇");
        assert!(!screen.contains("pwned-title\u{7}"), "{screen}");
        term.keys(&["Enter"]);
        let details = term.wait_for("E␛]52;c;cHduZWQ=␇");
        assert!(details.contains("bad ␛[2J"), "{details}");
        // With -e the pane comes with its attributes as escape sequences: only SGR (ESC [ … m)
        // may appear, never an OSC (ESC ]) or another control sequence.
        let pane = term.tmux(&["capture-pane", "-p", "-e", "-t", "e2e"]);
        assert_only_sgr(&pane);
        assert!(
            term.tmux(&["show-buffer"]).is_empty(),
            "no clipboard write reached tmux before the copy"
        );
        term.keys(&["y"]);
        term.wait_for("copied the details");
        let copied = term.tmux(&["show-buffer"]);
        assert_inert("the OSC 52 copy", copied.as_bytes());
        assert!(copied.contains("SN-1␛]0;pwned-title␇"), "{copied}");
        assert!(
            copied.contains("bad ␛[2J\u{fffd}31m value\u{fffd}next"),
            "{copied}"
        );
        let title_after = term.tmux(&["display-message", "-p", "-t", "e2e", "#{pane_title}"]);
        assert_eq!(title_before, title_after, "the window title did not change");
        assert!(!title_after.contains("pwned"));
        // Every byte syncdeck wrote: its own OSC 52 holds the copy, nothing else of the hostile
        // sequences went out.
        let written = term.output();
        let text = String::from_utf8_lossy(&written);
        assert!(
            !text.contains("\u{1b}]0;pwned"),
            "a title change was written"
        );
        assert!(
            !text.contains("\u{1b}]52;c;cHduZWQ="),
            "the hostile clipboard write went out"
        );
        assert_eq!(
            text.matches("\u{1b}]52;").count(),
            1,
            "one clipboard write: syncdeck's own copy"
        );
        assert!(
            !text.contains('\u{9b}') && !text.contains('\u{85}'),
            "a C1 control went out"
        );
        // The console's CSV export (`e`) of every entry: no cell a spreadsheet would run.
        term.keys(&["Escape"]);
        term.wait_for("search \"SN-1\"");
        term.keys(&["Escape"]);
        term.keys(&["e"]);
        term.wait_for("Export to CSV");
        term.keys(&["Enter"]);
        term.wait_for("exported 12 entries to");
        let exports = term.file("data").join("syncdeck").join("exports");
        let file = std::fs::read_dir(&exports)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "csv"))
            .expect("the export's file");
        let bytes = std::fs::read(&file).unwrap();
        assert_inert("the console's CSV export", &bytes);
        let rows = csv_rows(&bytes);
        assert_eq!(rows.len(), 12);
        for cell in rows.iter().flatten() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?}"
            );
        }
        assert!(rows.iter().any(|r| r[4] == format!("'{}", FORMULAS[0])));
        term.keys(&["q"]);
        term
    })
    .await
    .unwrap();
    drop(term);
}

/// `pane` holds no escape sequence but SGR (`ESC [ params m`).
fn assert_only_sgr(pane: &str) {
    let mut rest = pane;
    while let Some(at) = rest.find('\u{1b}') {
        let after = &rest[at + 1..];
        assert!(
            after.starts_with('['),
            "a sequence that is not SGR in the pane: {:?}",
            &rest[at..(at + 12).min(rest.len())]
        );
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';' || c == '['))
            .unwrap_or(after.len());
        assert_eq!(
            after[end..].chars().next(),
            Some('m'),
            "a sequence that is not SGR in the pane: {:?}",
            &after[..(end + 1).min(after.len())]
        );
        rest = &after[end..];
    }
    assert_inert_but_sgr(pane);
}

/// No BEL, C1 or bidirectional override anywhere in the pane.
fn assert_inert_but_sgr(pane: &str) {
    let stripped: String = pane.chars().filter(|c| *c != '\u{1b}').collect();
    assert_inert("the pane", stripped.as_bytes());
}
