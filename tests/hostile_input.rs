//! Data a source or destination chooses, and a store or a secret that is not what it seems
//! (issue 12, points 3 to 5), each with the message an operator can act on: characters XML 1.0
//! forbids, numeric serials and ids beyond a float's precision, `.` and `..` as a serial in a
//! lookup path, a 100 KB serial, listing failures of every cause, secrets a header cannot carry,
//! one- and two-line secret files, and a zero-byte store file. Each runs the real binary against
//! the stand-in systems of `tests/common/systems.rs` on 127.0.0.1.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use syncdeck::store::{EntryStatus, Outcome, ReportEntry, Store, StoreOptions};

mod common;

use common::cli::{self, Output};
use common::systems::{SourceAnswer, Systems};

const LIMIT: Duration = Duration::from_secs(120);

/// The token variable of the credential tests; never set in the test process itself.
const TOKEN_VAR: &str = "SYNCDECK_TEST_HOSTILE_TOKEN";

/// A source at `/source` listing `items`, one connection: a JSON destination (PATCH
/// `/json/assets/{id}`, looked up at `fetch_path`) or the XML registry.
struct Setup {
    systems: Systems,
    dir: tempfile::TempDir,
    config: PathBuf,
    store: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Destination {
    Json,
    /// The JSON destination, looked up by a path holding the serial.
    JsonByPath,
    Xml,
}

fn config_text(base: &str, destination: Destination, credential: &str) -> String {
    let (fetch, update) = match destination {
        Destination::Json => (
            r#"path = "/json/assets"
query = { serial = "{serial}" }
results_position = "result""#,
            r#"method = "PATCH"
path = "/json/assets/{id}""#,
        ),
        Destination::JsonByPath => (
            r#"path = "/json/by-serial/{serial}"
results_position = "_root""#,
            r#"method = "PATCH"
path = "/json/assets/{id}""#,
        ),
        Destination::Xml => (
            r#"path = "/xml/devices"
query = { serial = "{serial}" }
results_position = "devices""#,
            r#"method = "PUT"
path = "/xml/devices/{id}"
formatter = "xml"
xml_root = "device""#,
        ),
    };
    let credential_line = if credential.is_empty() {
        String::new()
    } else {
        "credential = \"api\"".to_string()
    };
    format!(
        r#"
[source]
name = "Test source"
base_url = "{base}"
endpoint = "/source"
results_position = "items"
id_field = "serial"
timeout_secs = 1

{credential}

[[connections]]
name = "assets"
system = "Asset API"
base_url = "{base}"
{credential_line}
dry_run = false
concurrency = 2
max_retries = 0
timeout_secs = 5
[connections.fetch]
{fetch}
serial_field = "serial"
id_field = "id"
[connections.update]
{update}
[[connections.mapping]]
source = "name"
target = "name"
format = "string"
[[connections.mapping]]
source = "owner"
target = "user.email"
format = "string"
on_null = "skip"
"#
    )
}

impl Setup {
    async fn start(destination: Destination) -> Setup {
        Setup::with_credential(destination, "").await
    }

    async fn with_credential(destination: Destination, credential: &str) -> Setup {
        let systems = Systems::start().await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            config_text(&systems.base_url(), destination, credential),
        )
        .unwrap();
        let store = dir.path().join("s.redb");
        Setup {
            systems,
            dir,
            config,
            store,
        }
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = cli::command(self.dir.path());
        command
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env_remove(TOKEN_VAR);
        command
    }

    async fn syncdeck(&self, args: &[&str]) -> Output {
        cli::output(self.command(args), LIMIT).await
    }

    /// The source lists these records (raw JSON objects).
    fn list(&self, records: &[String]) {
        self.systems.set_source(SourceAnswer::json(&format!(
            r#"{{"items": [{}]}}"#,
            records.join(", ")
        )));
    }

    fn entries(&self) -> Vec<ReportEntry> {
        let store = Store::open(&self.store, StoreOptions::default()).unwrap();
        let mut entries = Vec::new();
        for run in 1..=10 {
            entries.extend(common::history::entries_of_run(&store, run));
        }
        entries
    }

    fn entry(&self, run_id: u64, reference: &str) -> ReportEntry {
        self.entries()
            .into_iter()
            .find(|e| e.run_id == run_id && e.reference == reference)
            .unwrap_or_else(|| panic!("no entry of {reference:?} in run {run_id}"))
    }
}

fn json_text(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// A destination record: `serial` and `id` as raw JSON, an out-of-date name.
fn record(serial_json: &str, id_json: &str) -> String {
    format!(r#"{{"serial": {serial_json}, "id": {id_json}, "name": "old"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn characters_xml_forbids_are_a_record_error_naming_the_field_and_never_sent() {
    let setup = Setup::start(Destination::Xml).await;
    setup.list(&[
        r#"{"serial": "S-1", "name": "fine\tname", "owner": "a@example.com"}"#.to_string(),
        r#"{"serial": "S-2", "name": "bad\u0001name"}"#.to_string(),
        r#"{"serial": "S-3", "name": "ok", "owner": "x\uffff@example.com"}"#.to_string(),
    ]);
    for (serial, id) in [("S-1", "r1"), ("S-2", "r2"), ("S-3", "r3")] {
        setup
            .systems
            .set_record(serial, &record(&json_text(serial), &json_text(id)));
    }
    let name_error = "field name holds U+0001 (character 4), which XML 1.0 does not allow: the \
                      record is not sent";
    let owner_error = "field user.email holds U+FFFF (character 2), which XML 1.0 does not \
                       allow: the record is not sent";
    let hint = "the source value holds a character the destination's format cannot carry: \
                correct it at the source";

    // A Dry run says so: its plan does not promise a write that cannot be sent.
    let dry = setup.syncdeck(&["run", "--full", "--dry-run"]).await;
    assert_eq!(dry.code, Some(1), "{dry:?}");
    let entry = setup.entry(1, "S-2");
    assert_eq!(
        (entry.status, entry.outcome),
        (EntryStatus::Dry, Outcome::Error)
    );
    assert_eq!(entry.reason.as_deref(), Some("unsendable_value"));
    assert_eq!(entry.error.as_ref().unwrap().message, name_error);
    assert_eq!(setup.entry(1, "S-1").outcome, Outcome::WouldUpdate);

    let live = setup
        .syncdeck(&["run", "--full", "--live", "--force"])
        .await;
    assert_eq!(live.code, Some(1), "{live:?}");
    for (serial, message) in [("S-2", name_error), ("S-3", owner_error)] {
        let entry = setup.entry(2, serial);
        assert_eq!(entry.status, EntryStatus::Failed, "{entry:?}");
        assert_eq!(entry.outcome, Outcome::Error);
        let error = entry.error.unwrap();
        assert_eq!(error.message, message);
        assert_eq!(error.hint.as_deref(), Some(hint));
        assert!(entry.attempts.is_empty(), "not sent");
    }
    // One write, S-1's, valid XML the strict registry took.
    let writes = setup.systems.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].uri, "/xml/devices/r1");
    assert_eq!(setup.entry(2, "S-1").status, EntryStatus::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_serials_and_ids_keep_their_exact_text() {
    let setup = Setup::start(Destination::Json).await;
    // Two serials a float cannot tell apart, minus zero, an exponent; ids past u64.
    let serials = [
        "12345678901234567890123",
        "12345678901234567890124",
        "-0",
        "1E3",
    ];
    let ids = [
        "98765432109876543210001",
        "98765432109876543210002",
        "-0.0",
        "2E5",
    ];
    setup.list(
        &serials
            .iter()
            .enumerate()
            .map(|(i, s)| format!(r#"{{"serial": {s}, "name": "n-{i}"}}"#))
            .collect::<Vec<_>>(),
    );
    for (serial, id) in serials.iter().zip(ids) {
        setup.systems.set_record(serial, &record(serial, id));
    }
    let live = setup
        .syncdeck(&["run", "--full", "--live", "--force"])
        .await;
    assert_eq!(live.code, Some(0), "{live:?}");
    let entries = setup.entries();
    let mut references: Vec<&str> = entries.iter().map(|e| e.reference.as_str()).collect();
    references.sort_unstable();
    let mut expected = serials.to_vec();
    expected.sort_unstable();
    assert_eq!(references, expected, "four distinct serials, as written");
    for (serial, id) in serials.iter().zip(ids) {
        let entry = setup.entry(1, serial);
        assert_eq!(entry.outcome, Outcome::Updated, "{entry:?}");
        assert_eq!(entry.target_id.as_deref(), Some(id));
    }
    // Looked up by the exact serial, written under the exact id.
    let seen: Vec<String> = setup.systems.seen().into_iter().map(|s| s.uri).collect();
    for serial in serials {
        assert!(
            seen.contains(&format!("/json/assets?serial={serial}")),
            "{serial} in {seen:?}"
        );
    }
    let writes: Vec<String> = setup.systems.writes().into_iter().map(|s| s.uri).collect();
    let mut wanted: Vec<String> = ids.iter().map(|id| format!("/json/assets/{id}")).collect();
    let mut writes_sorted = writes.clone();
    writes_sorted.sort();
    wanted.sort();
    assert_eq!(writes_sorted, wanted);
    // The report gives them back as text; the contracts hold them.
    let report = setup
        .syncdeck(&["report", "--days", "1", "--format", "json"])
        .await;
    let report: Value = report.json();
    assert!(
        report
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reference"] == "-0")
    );
    let contracts = setup.syncdeck(&["contracts", "--json"]).await.json();
    assert!(
        contracts
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["origin_id"] == "12345678901234567890124"
                && c["target_id"] == "98765432109876543210002"),
        "{contracts}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_and_dot_dot_never_reach_a_lookup_path() {
    let setup = Setup::start(Destination::JsonByPath).await;
    setup.list(&[
        r#"{"serial": "..", "name": "up"}"#.to_string(),
        r#"{"serial": ".", "name": "here"}"#.to_string(),
        r#"{"serial": "ok-1", "name": "fine"}"#.to_string(),
    ]);
    setup
        .systems
        .set_record("ok-1", &record("\"ok-1\"", "\"id-ok\""));
    let live = setup
        .syncdeck(&["run", "--full", "--live", "--force"])
        .await;
    assert_eq!(live.code, Some(1), "{live:?}");
    for serial in ["..", "."] {
        let entry = setup.entry(1, serial);
        assert_eq!(entry.status, EntryStatus::Failed);
        assert_eq!(entry.reason.as_deref(), Some("lookup_failed"));
        let error = entry.error.unwrap();
        assert_eq!(
            error.message,
            format!(
                "serial \"{serial}\" cannot be a URL path segment: \".\" and \"..\" would name \
                 the parent path, not the record"
            )
        );
        assert_eq!(
            error.hint.as_deref(),
            Some(
                "the serial cannot name a record in the fetch contract path: put {serial} in the \
                 fetch contract's query instead, or check the source's id_field"
            )
        );
    }
    let destination: Vec<String> = setup
        .systems
        .seen()
        .into_iter()
        .map(|s| s.uri)
        .filter(|uri| uri != "/source")
        .collect();
    assert_eq!(
        destination,
        vec!["/json/by-serial/ok-1", "/json/assets/id-ok"],
        "only the real serial's lookup and write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_over_a_kibibyte_is_a_record_error_saying_how_long_it_is() {
    let setup = Setup::start(Destination::Json).await;
    let huge = "S".repeat(102_400);
    setup.list(&[
        format!(r#"{{"serial": "{huge}", "name": "x"}}"#),
        r#"{"serial": "S-ok", "name": "y"}"#.to_string(),
    ]);
    setup
        .systems
        .set_record("S-ok", &record("\"S-ok\"", "\"id-ok\""));
    let live = setup
        .syncdeck(&["run", "--full", "--live", "--force"])
        .await;
    assert_eq!(live.code, Some(1), "{live:?}");
    let shortened = format!("{}…", "S".repeat(64));
    let entry = setup.entry(1, &shortened);
    assert_eq!(entry.status, EntryStatus::Failed);
    assert_eq!(entry.reason.as_deref(), Some("serial_too_long"));
    let error = entry.error.unwrap();
    assert_eq!(
        error.message,
        "the serial is 102400 bytes long, more than the 1024 a serial may have: not looked up or \
         written"
    );
    assert_eq!(
        error.hint.as_deref(),
        Some("what the source holds at id_field is not a serial: check [source] id_field")
    );
    let destination: Vec<String> = setup
        .systems
        .seen()
        .into_iter()
        .map(|s| s.uri)
        .filter(|uri| uri != "/source")
        .collect();
    assert_eq!(
        destination,
        vec!["/json/assets?serial=S-ok", "/json/assets/id-ok"]
    );
}

/// The connection error a Full Dry run ends with while the source answers `answer`.
async fn listing_error(answer: SourceAnswer) -> (String, String) {
    let setup = Setup::start(Destination::Json).await;
    setup.systems.set_source(answer);
    let run = setup
        .syncdeck(&["run", "--full", "--dry-run", "--json"])
        .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let summary = run.json();
    let error = &summary["connections"][0]["error"];
    (
        error["message"].as_str().unwrap().to_string(),
        error["hint"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_failures_get_the_hint_of_their_cause() {
    // Slower than [source] timeout_secs = 1.
    let (message, hint) = listing_error(SourceAnswer {
        delay: Duration::from_secs(3),
        ..SourceAnswer::json("{\"items\": []}")
    })
    .await;
    assert!(
        message.starts_with("source listing failed: GET http://127.0.0.1:"),
        "{message}"
    );
    assert!(message.contains("/source: "), "{message}");
    assert_eq!(
        hint,
        "the source did not answer in time: check that it is up (syncdeck check), or raise \
         [source] timeout_secs"
    );

    // Larger than a page may be.
    let mut body = b"{\"items\": [\"".to_vec();
    body.resize(33 << 20, b'x');
    let (message, hint) = listing_error(SourceAnswer {
        body,
        ..SourceAnswer::json("")
    })
    .await;
    assert!(
        message.ends_with("/source: the body is larger than 33554432 bytes; lower the page size"),
        "{message}"
    );
    assert_eq!(
        hint,
        "a page of the listing is larger than syncdeck reads: lower [source.pagination] size"
    );

    // Not JSON: where the parser stopped.
    let (message, hint) = listing_error(SourceAnswer {
        content_type: "text/html".into(),
        ..SourceAnswer::json("\n<html>Sign in</html>")
    })
    .await;
    assert!(
        message.ends_with(
            "/source: the body is not JSON (expected value at line 2 column 1; content type \
             text/html): <html>Sign in</html>"
        ),
        "{message}"
    );
    assert_eq!(
        hint,
        "the source answered something that is not JSON (a login page, a proxy?): check [source] \
         base_url, endpoint and credential"
    );

    // Nested deeper than any listing.
    let nested = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let (message, hint) = listing_error(SourceAnswer::json(&nested)).await;
    assert!(
        message.ends_with(
            "/source: the JSON nests more than 128 levels deep (at line 1, column 128); \
             syncdeck reads no deeper"
        ),
        "{message}"
    );
    assert_eq!(
        hint,
        "the source's answer is not a listing of records: check [source] endpoint"
    );

    // The list is elsewhere.
    let (message, hint) = listing_error(SourceAnswer::json("{\"data\": [], \"meta\": {}}")).await;
    assert!(
        message.ends_with(
            "/source: results_position \"items\" matched nothing; top-level keys seen: data, meta"
        ),
        "{message}"
    );
    assert_eq!(
        hint,
        "wrong results position: check the real envelope (the top-level keys seen are listed)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_a_header_cannot_carry_is_refused_naming_the_credential() {
    let credential =
        format!("[[credentials]]\nname = \"api\"\nkind = \"bearer\"\ntoken = \"env:{TOKEN_VAR}\"");
    let setup = Setup::with_credential(Destination::Json, &credential).await;
    setup.list(&[r#"{"serial": "S-1", "name": "x"}"#.to_string()]);
    let expected = format!(
        "credentials[0].token: credential \"api\": the value of env:{TOKEN_VAR} holds a line \
         break (CR or LF), which an HTTP header cannot carry (the value is not shown)"
    );
    for value in ["tok-abc\r\nX-Injected: 1", "tok-abc\n"] {
        let mut check = cli::command(setup.dir.path());
        check
            .arg("check-config")
            .arg(&setup.config)
            .env(TOKEN_VAR, value);
        let out = cli::output(check, LIMIT).await;
        assert_eq!(out.code, Some(2), "{out:?}");
        assert!(
            out.stderr.contains(&expected) || out.stdout.contains(&expected),
            "{out:?}"
        );
        assert!(
            !format!("{out:?}").contains("tok-abc"),
            "the value is never shown"
        );
    }
    let mut run = setup.command(&["run", "--full", "--live", "--force"]);
    run.env(TOKEN_VAR, "tok-abc\r\nX-Injected: 1");
    let out = cli::output(run, LIMIT).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains(&expected), "{out:?}");
    assert!(setup.systems.seen().is_empty(), "nothing was sent");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_file_is_its_one_line_and_a_two_line_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let credential =
        "[[credentials]]\nname = \"api\"\nkind = \"bearer\"\ntoken = \"file:token.txt\"";
    let setup = Setup::with_credential(Destination::Json, credential).await;
    setup.list(&[r#"{"serial": "S-1", "name": "x"}"#.to_string()]);
    setup
        .systems
        .set_record("S-1", &record("\"S-1\"", "\"id-1\""));
    let file = setup.dir.path().join("token.txt");
    let write_private = |text: &str| {
        std::fs::write(&file, text).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let check_config = || {
        let mut check = cli::command(setup.dir.path());
        check.arg("check-config").arg(&setup.config);
        check
    };

    // One line, with its line break: the value is the line.
    write_private("tok-one-line\n");
    let out = cli::output(check_config(), LIMIT).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let run = setup
        .syncdeck(&["run", "--full", "--live", "--force"])
        .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let seen = setup.systems.seen();
    let lookup = seen
        .iter()
        .find(|s| s.uri.starts_with("/json/assets?"))
        .unwrap();
    assert_eq!(lookup.authorization.as_deref(), Some("Bearer tok-one-line"));

    // Two lines: refused, as the README says, with the file named and no line shown.
    write_private("tok-one-line\nsecond-line\n");
    let out = cli::output(check_config(), LIMIT).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    let expected = format!(
        "credentials[0].token: secret file {} holds 2 lines: a secret file holds the value alone \
         on one line (a final line break is fine)",
        file.display()
    );
    assert!(
        out.stderr.contains(&expected) || out.stdout.contains(&expected),
        "{out:?}"
    );
    assert!(!format!("{out:?}").contains("second-line"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_byte_store_file_is_refused_and_a_missing_one_is_made() {
    let setup = Setup::start(Destination::Json).await;
    std::fs::write(&setup.store, b"").unwrap();
    let out = setup.syncdeck(&["report"]).await;
    assert_eq!(out.code, Some(3), "{out:?}");
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "syncdeck: store {} is unreadable: the file is empty (0 bytes), so it is not a \
             syncdeck store; remove it to start a new store there, or pass the right --store",
            setup.store.display()
        )
    );
    assert_eq!(
        std::fs::metadata(&setup.store).unwrap().len(),
        0,
        "left as it was"
    );

    // Removed, the next command makes a new store there.
    std::fs::remove_file(&setup.store).unwrap();
    let out = setup.syncdeck(&["report"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(std::fs::metadata(&setup.store).unwrap().len() > 0);
    let again = setup.syncdeck(&["report"]).await;
    assert_eq!(again.code, Some(0), "{again:?}");
}
