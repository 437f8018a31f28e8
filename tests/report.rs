//! The sync report: its queries against a simple in-memory model over generated entries in a
//! real store file, the CSV and JSON exports, `syncdeck report`, and that no secret reaches an
//! export.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::Command;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use syncdeck::export::{self, CSV_HEADER, CsvExport, ExportError};
use syncdeck::store::*;

mod common;

use common::cli::Output;

// ---------------------------------------------------------------------------------------------
// Generated entries and the model.

const CONNECTIONS: [(&str, &str); 4] = [
    ("cmdb", "ServiceNow CMDB"),
    ("registry", "Device Registry"),
    ("mdm", "Jamf MDM"),
    ("odd,one", "Asset \"DB\", EU"),
];

const OUTCOMES: [Outcome; 8] = [
    Outcome::Updated,
    Outcome::Created,
    Outcome::WouldUpdate,
    Outcome::WouldCreate,
    Outcome::Skipped,
    Outcome::MissingSource,
    Outcome::MissingDestination,
    Outcome::Error,
];

/// A small deterministic generator (xorshift), so failures reproduce.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap()
}

/// Varied entries over 15 days: repeated times (ties), serials in several cases and shapes,
/// every status, outcome and connection, 0 to 4 attempts, a few runs.
fn generate(count: usize, seed: u64) -> Vec<ReportEntry> {
    let mut dice = Dice(seed);
    let prefixes = ["SN-", "sn-", "C02", "FVFX", "Ab"];
    (0..count)
        .map(|i| {
            let (connection, system) = CONNECTIONS[dice.below(4) as usize];
            let status = EntryStatus::ALL[dice.below(5) as usize];
            // Coarse times so that many entries share one.
            let time = base_time() + Duration::minutes(dice.below(15 * 24 * 12) as i64 * 5);
            let attempts = dice.below(5) as usize;
            let failed = status == EntryStatus::Failed;
            ReportEntry {
                sync_id: 0,
                run_id: 1 + (i as u64 * 4) / count as u64,
                connection: connection.to_string(),
                system: system.to_string(),
                reference: format!("{}{:04}", prefixes[dice.below(5) as usize], dice.below(400)),
                source_id: Some(format!("src-{i}")),
                target_id: (i % 3 != 0).then(|| format!("t-{i}")),
                status,
                outcome: OUTCOMES[dice.below(8) as usize],
                reason: None,
                time,
                attempts: (0..attempts)
                    .map(|a| Attempt {
                        at: time + Duration::seconds(a as i64),
                        http_status: Some(if failed { 503 } else { 200 }),
                        error: None,
                    })
                    .collect(),
                error: failed.then(|| EntryError {
                    http_status: Some(400),
                    code: Some("INVALID_CONTENT".into()),
                    message: "Field ram_gb: expected a number, got \"16 GB\"\nsecond line".into(),
                    hint: Some("check mapping target names and formatters".into()),
                    ..EntryError::default()
                }),
                diff: Vec::new(),
                hashes: None,
            }
        })
        .collect()
}

/// Writes `entries` in batches and returns them with their sync ids.
fn record(store: &Store, mut entries: Vec<ReportEntry>) -> Vec<ReportEntry> {
    for chunk in entries.chunks_mut(500) {
        let mut batch = WriteBatch::new();
        batch.entries = chunk.to_vec();
        let ids = store.commit(&mut batch).unwrap();
        for (entry, id) in chunk.iter_mut().zip(ids) {
            entry.sync_id = id;
        }
    }
    entries
}

fn open(dir: &Path) -> Store {
    Store::open(dir.join("report.redb"), StoreOptions { retention_days: 0 }).unwrap()
}

/// The model's reading of the search: exact sync id, serial prefix (ASCII case-insensitive),
/// system substring (case-insensitive).
fn model_search(text: &str, entry: &ReportEntry) -> bool {
    let text = text.trim();
    if text.is_empty() {
        return true;
    }
    let id = text.strip_prefix('#').unwrap_or(text).parse::<u64>().ok();
    id == Some(entry.sync_id)
        || entry
            .reference
            .to_ascii_lowercase()
            .starts_with(&text.to_ascii_lowercase())
        || entry.system.to_lowercase().contains(&text.to_lowercase())
}

fn model_matches(filter: &ReportFilter, entry: &ReportEntry) -> bool {
    (filter.statuses.is_empty() || filter.statuses.contains(&entry.status))
        && (filter.outcomes.is_empty() || filter.outcomes.contains(&entry.outcome))
        && (filter.connections.is_empty() || filter.connections.contains(&entry.connection))
        && filter.run.is_none_or(|run| run == entry.run_id)
        && filter.since.is_none_or(|since| entry.time >= since)
        && filter
            .search
            .as_deref()
            .is_none_or(|text| model_search(text, entry))
}

fn outcome_rank(outcome: Outcome) -> usize {
    OUTCOMES.iter().position(|&o| o == outcome).unwrap()
}

fn model_order(sort: ReportSort, a: &ReportEntry, b: &ReportEntry) -> Ordering {
    let newest_first = (b.time, b.sync_id).cmp(&(a.time, a.sync_id));
    let column = match sort.column {
        SortColumn::Time => {
            return if sort.descending {
                newest_first
            } else {
                newest_first.reverse()
            };
        }
        SortColumn::SyncId => a.sync_id.cmp(&b.sync_id),
        SortColumn::Status => a.status.code().cmp(&b.status.code()),
        SortColumn::Reference => a.reference.cmp(&b.reference),
        SortColumn::System => a.system.cmp(&b.system),
        SortColumn::Connection => a.connection.cmp(&b.connection),
        SortColumn::Outcome => outcome_rank(a.outcome).cmp(&outcome_rank(b.outcome)),
        SortColumn::Attempts => a.attempts.len().cmp(&b.attempts.len()),
    };
    let column = if sort.descending {
        column.reverse()
    } else {
        column
    };
    column.then(newest_first)
}

fn model_ids(entries: &[ReportEntry], filter: &ReportFilter, sort: ReportSort) -> Vec<SyncId> {
    let mut matching: Vec<&ReportEntry> = entries
        .iter()
        .filter(|e| model_matches(filter, e))
        .collect();
    matching.sort_by(|a, b| model_order(sort, a, b));
    matching.iter().map(|e| e.sync_id).collect()
}

const COLUMNS: [SortColumn; 8] = [
    SortColumn::Time,
    SortColumn::SyncId,
    SortColumn::Status,
    SortColumn::Reference,
    SortColumn::System,
    SortColumn::Connection,
    SortColumn::Outcome,
    SortColumn::Attempts,
];

fn every_sort() -> impl Iterator<Item = ReportSort> {
    COLUMNS
        .into_iter()
        .flat_map(|column| [false, true].map(|descending| ReportSort { column, descending }))
}

fn search(text: &str) -> ReportFilter {
    ReportFilter {
        search: Some(text.to_string()),
        ..ReportFilter::default()
    }
}

/// Every query of `filter` against the model: count, ids in every order, pages, the walk.
fn check(store: &Store, entries: &[ReportEntry], filter: &ReportFilter) {
    let by_id: HashMap<SyncId, &ReportEntry> = entries.iter().map(|e| (e.sync_id, e)).collect();
    let expected_count = entries.iter().filter(|e| model_matches(filter, e)).count();
    assert_eq!(
        store.report_count(filter).unwrap(),
        expected_count as u64,
        "count of {filter:?}"
    );
    for sort in every_sort() {
        let expected = model_ids(entries, filter, sort);
        let ids = store.report_ids(filter, sort).unwrap();
        assert_eq!(ids, expected, "ids of {filter:?} by {sort:?}");
        for (offset, limit) in [(0, 25), (7, 10), (expected.len().saturating_sub(3), 10)] {
            let page = store.report_page(filter, sort, offset, limit).unwrap();
            let page_ids: Vec<SyncId> = page.iter().map(|e| e.sync_id).collect();
            let end = (offset + limit).min(expected.len());
            assert_eq!(
                page_ids,
                expected[offset.min(end)..end],
                "page {offset}+{limit} of {filter:?} by {sort:?}"
            );
            for entry in &page {
                assert_eq!(entry, by_id[&entry.sync_id]);
            }
        }
    }
    let sort = ReportSort::default();
    let mut walked = Vec::new();
    store
        .for_each_report_entry(filter, sort, &mut |entry| {
            walked.push(entry.sync_id);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(
        walked,
        model_ids(entries, filter, sort),
        "walk of {filter:?}"
    );
    let by_system = ReportSort {
        column: SortColumn::System,
        descending: true,
    };
    let mut walked = Vec::new();
    store
        .for_each_report_entry(filter, by_system, &mut |entry| {
            walked.push(entry.sync_id);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(walked, model_ids(entries, filter, by_system));
}

fn filters(entries: &[ReportEntry]) -> Vec<ReportFilter> {
    let five_days = Some(base_time() + Duration::days(10));
    let some_id = entries[entries.len() / 2].sync_id;
    vec![
        ReportFilter::default(),
        ReportFilter {
            statuses: vec![EntryStatus::Failed],
            ..ReportFilter::default()
        },
        ReportFilter {
            statuses: vec![EntryStatus::Dry, EntryStatus::Ok, EntryStatus::Dry],
            ..ReportFilter::default()
        },
        ReportFilter {
            outcomes: vec![Outcome::Error],
            ..ReportFilter::default()
        },
        ReportFilter {
            outcomes: vec![Outcome::Updated, Outcome::MissingDestination],
            ..ReportFilter::default()
        },
        ReportFilter {
            connections: vec!["mdm".into()],
            ..ReportFilter::default()
        },
        ReportFilter {
            connections: vec!["cmdb".into(), "odd,one".into()],
            ..ReportFilter::default()
        },
        ReportFilter {
            run: Some(2),
            ..ReportFilter::default()
        },
        ReportFilter {
            since: five_days,
            ..ReportFilter::default()
        },
        // Search: exact sync id, with and without '#'.
        search(&some_id.to_string()),
        search(&format!("#{some_id}")),
        // A serial prefix, in its own case and in another.
        search("SN-01"),
        search("sn-01"),
        search("fvfx0"),
        search("c02"),
        search("Ab00"),
        // A system substring, any case; one that is also a serial prefix ("ab").
        search("jamf"),
        search("REGISTRY"),
        search("ab"),
        // Numbers are ids and serial prefixes at once.
        search("12"),
        search("nothing like it"),
        search("   "),
        ReportFilter {
            statuses: vec![EntryStatus::Failed, EntryStatus::Pending],
            connections: vec!["mdm".into()],
            since: five_days,
            ..ReportFilter::default()
        },
        ReportFilter {
            statuses: vec![EntryStatus::Ok],
            search: Some("sn-0".into()),
            since: five_days,
            ..ReportFilter::default()
        },
        ReportFilter {
            run: Some(3),
            outcomes: vec![Outcome::Skipped, Outcome::Error],
            since: five_days,
            ..ReportFilter::default()
        },
        ReportFilter {
            run: Some(1),
            search: Some("device".into()),
            statuses: vec![EntryStatus::Sent],
            ..ReportFilter::default()
        },
        ReportFilter {
            run: Some(4),
            search: Some("C02".into()),
            connections: vec!["registry".into(), "cmdb".into()],
            ..ReportFilter::default()
        },
        ReportFilter {
            since: Some(base_time() + Duration::days(30)),
            ..ReportFilter::default()
        },
    ]
}

#[test]
fn every_filter_and_order_matches_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let entries = record(&store, generate(3_000, 0x5eed));
    for filter in filters(&entries) {
        check(&store, &entries, &filter);
    }
}

#[test]
fn updates_move_entries_between_statuses_and_the_report_follows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut entries = record(&store, generate(600, 77));
    // A resync turns some Failed entries OK with one more attempt, as the engine would.
    let mut batch = WriteBatch::new();
    for entry in entries
        .iter_mut()
        .filter(|e| e.status == EntryStatus::Failed)
        .step_by(2)
    {
        entry.status = EntryStatus::Ok;
        entry.outcome = Outcome::Updated;
        entry.attempts.push(Attempt {
            at: entry.time,
            http_status: Some(200),
            error: None,
        });
        batch.entries.push(entry.clone());
    }
    store.commit(&mut batch).unwrap();
    for filter in [
        ReportFilter {
            statuses: vec![EntryStatus::Failed],
            ..ReportFilter::default()
        },
        ReportFilter {
            statuses: vec![EntryStatus::Ok],
            ..ReportFilter::default()
        },
        search("sn"),
    ] {
        check(&store, &entries, &filter);
    }
    // Entries by id keep the given order and skip unknown ids.
    let wanted = [entries[5].sync_id, 999_999, entries[1].sync_id];
    let found = store.entries_by_ids(&wanted).unwrap();
    assert_eq!(found, vec![entries[5].clone(), entries[1].clone()]);
}

/// Past a few thousand candidates a search or a run is walked in time order instead of being
/// gathered; the answers must not change.
#[test]
fn broad_searches_and_large_runs_match_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut generated = generate(24_000, 4242);
    for (i, entry) in generated.iter_mut().enumerate() {
        entry.run_id = if i < 22_000 { 1 } else { 2 };
        entry.reference = format!("SN-{:05}", i % 9_000);
    }
    let entries = record(&store, generated);
    let filters = [
        search("sn-"),
        search("SN-0"),
        ReportFilter {
            run: Some(1),
            ..ReportFilter::default()
        },
        ReportFilter {
            run: Some(1),
            search: Some("sn-001".into()),
            statuses: vec![EntryStatus::Failed, EntryStatus::Ok],
            ..ReportFilter::default()
        },
        ReportFilter {
            run: Some(1),
            connections: vec!["mdm".into()],
            since: Some(base_time() + Duration::days(7)),
            ..ReportFilter::default()
        },
    ];
    for filter in &filters {
        let expected_count = entries.iter().filter(|e| model_matches(filter, e)).count();
        assert_eq!(store.report_count(filter).unwrap(), expected_count as u64);
        for sort in [
            ReportSort::default(),
            ReportSort {
                column: SortColumn::Time,
                descending: false,
            },
            ReportSort {
                column: SortColumn::Status,
                descending: true,
            },
            ReportSort {
                column: SortColumn::Reference,
                descending: false,
            },
            ReportSort {
                column: SortColumn::Connection,
                descending: true,
            },
        ] {
            assert_eq!(
                store.report_ids(filter, sort).unwrap(),
                model_ids(&entries, filter, sort),
                "{filter:?} by {sort:?}"
            );
        }
    }
}

#[test]
fn an_empty_store_has_an_empty_report() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for filter in [ReportFilter::default(), search("sn"), search("#1")] {
        assert_eq!(store.report_count(&filter).unwrap(), 0);
        for sort in every_sort() {
            assert!(store.report_page(&filter, sort, 0, 50).unwrap().is_empty());
        }
    }
    assert!(
        store
            .report_page(&ReportFilter::default(), ReportSort::default(), 0, 0)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_report_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let entries = {
        let store = open(dir.path());
        record(&store, generate(500, 9))
    };
    let store = open(dir.path());
    // The reopen settled the Pending entries as Failed; the model takes the store's word.
    let ids: Vec<SyncId> = entries.iter().map(|e| e.sync_id).collect();
    let entries = store.entries_by_ids(&ids).unwrap();
    assert_eq!(entries.len(), ids.len());
    assert!(entries.iter().all(|e| e.status != EntryStatus::Pending));
    check(&store, &entries, &search("jamf"));
    check(
        &store,
        &entries,
        &ReportFilter {
            statuses: vec![EntryStatus::Failed],
            ..ReportFilter::default()
        },
    );
    check(&store, &entries, &search("fvfx"));
}

/// A store written before the table of systems existed: searches still find systems, by
/// walking, and the first commit of entries fills the table from what is stored.
#[test]
fn a_store_without_the_systems_table_still_finds_systems() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.redb");
    let mut entries = {
        let store = open(dir.path());
        let mut generated = generate(800, 21);
        for entry in &mut generated {
            entry.status = EntryStatus::Sent;
        }
        record(&store, generated)
    };
    {
        let database = redb::Database::open(&path).unwrap();
        let txn = database.begin_write().unwrap();
        let dropped = txn
            .delete_table(redb::TableDefinition::<&str, ()>::new("entry_systems"))
            .unwrap();
        assert!(dropped, "the store keeps the systems its entries name");
        txn.commit().unwrap();
    }
    let store = open(dir.path());
    for text in ["jamf", "registry", "sn-0", "asset \"db\""] {
        check(&store, &entries, &search(text));
    }
    let mut newer = generate(1, 99);
    newer[0].system = "Brand New System".into();
    newer[0].status = EntryStatus::Ok;
    entries.extend(record(&store, newer));
    for text in ["jamf", "brand new", "sn-0", "asset \"db\""] {
        check(&store, &entries, &search(text));
    }
}

// ---------------------------------------------------------------------------------------------
// CSV and JSON.

/// Entries whose values need quoting: commas, quotes, newlines, a carriage return.
fn awkward_entries() -> Vec<ReportEntry> {
    let mut entries = generate(40, 3);
    // A store opened by a new process turns Pending entries Failed ("interrupted"); these are
    // read by `syncdeck report` too.
    for entry in &mut entries {
        if entry.status == EntryStatus::Pending {
            entry.status = EntryStatus::Sent;
        }
    }
    entries[0].connection = "odd,one".into();
    entries[0].system = "Asset \"DB\", EU".into();
    entries[1].reference = "SN-\"quoted\",\r\nnext".into();
    entries[2].status = EntryStatus::Failed;
    entries[2].error = Some(EntryError {
        http_status: Some(400),
        code: Some("INVALID,CONTENT".into()),
        message: "line one\nline \"two\", three".into(),
        hint: Some("check, then \"retry\"".into()),
        ..EntryError::default()
    });
    entries
}

fn read_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn expected_row(entry: &ReportEntry) -> Vec<String> {
    let error = entry.error.as_ref();
    vec![
        entry.sync_id.to_string(),
        entry.run_id.to_string(),
        entry.connection.clone(),
        entry.system.clone(),
        entry.reference.clone(),
        entry.source_id.clone().unwrap_or_default(),
        entry.target_id.clone().unwrap_or_default(),
        entry.status.as_str().to_string(),
        entry.outcome.as_str().to_string(),
        entry.attempts.len().to_string(),
        entry
            .time
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        error
            .and_then(|e| e.http_status)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        error.and_then(|e| e.code.clone()).unwrap_or_default(),
        error.map(|e| e.message.clone()).unwrap_or_default(),
        error.and_then(|e| e.hint.clone()).unwrap_or_default(),
    ]
}

#[test]
fn csv_quotes_values_and_round_trips() {
    let entries = awkward_entries();
    let mut out = Vec::new();
    let mut csv = CsvExport::to_writer(&mut out).unwrap();
    for entry in &entries {
        csv.write(entry).unwrap();
    }
    assert_eq!(csv.finish().unwrap(), entries.len() as u64);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("sync_id,run_id,connection,system,reference,source_id,target_id,status,outcome,attempts,time,error_http_status,error_code,error_message,error_hint\r\n"));
    assert!(text.contains("\"Asset \"\"DB\"\", EU\""), "{text}");
    let (header, rows) = read_csv(&text);
    assert_eq!(header, CSV_HEADER);
    let expected: Vec<Vec<String>> = entries.iter().map(expected_row).collect();
    assert_eq!(rows, expected);
    for row in &rows {
        let time = DateTime::parse_from_rfc3339(&row[10]).unwrap();
        assert_eq!(time.offset().local_minus_utc(), 0);
        assert!(row[10].ends_with('Z'));
    }
}

#[test]
fn json_has_the_spec_shape() {
    let entries = awkward_entries();
    let failed = export::entry_json(&entries[2]);
    let keys: Vec<&str> = failed
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "sync_id",
        "run_id",
        "connection",
        "system",
        "reference",
        "source_id",
        "target_id",
        "status",
        "outcome",
        "attempts",
        "time",
        "error",
    ];
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    expected.sort();
    assert_eq!(keys_sorted, expected);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempts"], entries[2].attempts.len());
    assert_eq!(
        failed["error"],
        json!({"http_status": 400, "code": "INVALID,CONTENT",
               "message": "line one\nline \"two\", three", "hint": "check, then \"retry\""})
    );
    let ok = export::entry_json(&entries[3]);
    assert!(entries[3].error.is_none() && ok["error"].is_null());
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn export_writes_a_private_new_file_and_overwrites_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let entries = record(&store, awkward_entries());
    let path = dir.path().join("exports").join("report.csv");
    let mut progress = Vec::new();
    let rows = export::export_csv(
        &store,
        &ReportFilter::default(),
        ReportSort::default(),
        &path,
        &mut |done, total| progress.push((done, total)),
    )
    .unwrap();
    assert_eq!(rows, entries.len() as u64);
    assert_eq!(progress.last(), Some(&(rows, rows)));
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    let (_, rows) = read_csv(&text);
    let expected: Vec<Vec<String>> =
        model_ids(&entries, &ReportFilter::default(), ReportSort::default())
            .iter()
            .map(|id| expected_row(entries.iter().find(|e| e.sync_id == *id).unwrap()))
            .collect();
    assert_eq!(rows, expected);

    // A second export to the same name is refused and leaves the file alone.
    let again = export::export_csv(
        &store,
        &ReportFilter::default(),
        ReportSort::default(),
        &path,
        &mut |_, _| {},
    );
    assert!(matches!(again, Err(ExportError::Exists(_))), "{again:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert!(CsvExport::create(&path).is_err());

    // A symlink planted at the name is not followed.
    #[cfg(unix)]
    {
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let through_link = export::export_csv(
            &store,
            &ReportFilter::default(),
            ReportSort::default(),
            &link,
            &mut |_, _| {},
        );
        assert!(matches!(through_link, Err(ExportError::Exists(_))));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }

    // Asked to, an export replaces the file, and replaces a symlink rather than following it.
    let replaced = export::export_csv_with(
        &store,
        &ReportFilter {
            statuses: vec![EntryStatus::Failed],
            ..ReportFilter::default()
        },
        ReportSort::default(),
        &path,
        true,
        &mut |_, _| {},
    )
    .unwrap();
    let (_, rows) = read_csv(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(rows.len() as u64, replaced);
    assert!(replaced < entries.len() as u64);
    #[cfg(unix)]
    {
        assert_eq!(mode(&path), 0o600);
        let victim = dir.path().join("victim.txt");
        let link = dir.path().join("link.csv");
        export::export_csv_with(
            &store,
            &ReportFilter::default(),
            ReportSort::default(),
            &link,
            true,
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(mode(&link), 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("report.csv")]);

    // Filters apply to the export: only the Failed.
    let failed_path = dir.path().join("failed.csv");
    let failed = ReportFilter {
        statuses: vec![EntryStatus::Failed],
        ..ReportFilter::default()
    };
    let rows = export::export_csv(
        &store,
        &failed,
        ReportSort::default(),
        &failed_path,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(rows, store.report_count(&failed).unwrap());
    let (_, csv_rows) = read_csv(&std::fs::read_to_string(&failed_path).unwrap());
    assert!(csv_rows.iter().all(|row| row[7] == "failed"));
}

#[test]
fn the_default_export_path_is_under_the_data_dir() {
    let now = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap();
    let path = export::default_export_path(now);
    assert!(path.ends_with("exports/syncdeck-report-20250304-050607.csv"));
    assert!(path.starts_with(syncdeck::paths::data_dir()));
}

// ---------------------------------------------------------------------------------------------
// `syncdeck report` and secrets.

/// A source of a few devices and a destination that refuses every write with a 401 whose body
/// echoes the credential it was sent, as careless real systems do.
async fn start_echoing_server() -> SocketAddr {
    async fn devices() -> Json<Value> {
        let items: Vec<Value> = (0..8)
            .map(|i| json!({"serial": format!("SN-{i:04}"), "hostname": format!("Host-{i}")}))
            .collect();
        Json(json!({"data": {"items": items}}))
    }
    async fn lookup(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
        let serial = query.get("serial_number").cloned().unwrap_or_default();
        Json(
            json!({"result": [{"sys_id": format!("id-{serial}"), "serial_number": serial, "name": "old"}]}),
        )
    }
    async fn write(State(()): State<()>, headers: HeaderMap) -> Response {
        let sent = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": "BAD_TOKEN", "message": format!("token rejected: {sent}"), "detail": sent}})),
        )
            .into_response()
    }
    let app = Router::new()
        .route("/api/devices", get(devices))
        .route("/api/assets", get(lookup))
        .route("/api/assets/{id}", patch(write))
        .with_state(());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

const CANARY_VAR: &str = "SYNCDECK_TEST_REPORT_CANARY";
const CANARY: &str = "canary-Zq7vT3xK9pL2-secret";

fn canary_config(addr: SocketAddr) -> String {
    format!(
        r#"
[source]
name = "Fleet"
base_url = "http://{addr}"
endpoint = "/api/devices"
results_position = "data.items"
id_field = "serial"

[source.pagination]
style = "none"

[[credentials]]
name = "cmdb-prod"
kind = "bearer"
token = "env:{CANARY_VAR}"

[[connections]]
name = "cmdb"
system = "Canary CMDB"
credential = "cmdb-prod"
base_url = "http://{addr}"
dry_run = false
max_retries = 0
abort_after = 50

[connections.fetch]
path = "/api/assets"
query = {{ serial_number = "{{serial}}" }}
results_position = "result"
serial_field = "serial_number"
id_field = "sys_id"
bulk = false

[connections.update]
method = "PATCH"
path = "/api/assets/{{id}}"
formatter = "json"

[[connections.mapping]]
source = "hostname"
target = "name"
format = "string"
"#
    )
}

fn syncdeck(home: &Path, config: &Path, store: &Path) -> Command {
    let mut command = common::cli::command(home);
    command
        .env(CANARY_VAR, CANARY)
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store);
    command
}

fn output(mut command: Command) -> Output {
    command.output().expect("spawn syncdeck").into()
}

fn report(home: &Path, config: &Path, store: &Path, args: &[&str]) -> Output {
    let mut command = syncdeck(home, config, store);
    command.arg("report").args(args);
    let out = output(command);
    assert_eq!(
        out.code,
        Some(0),
        "report {args:?}: {}\n{}",
        out.stdout,
        out.stderr
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn no_export_shows_a_secret_the_destination_echoed() {
    let addr = start_echoing_server().await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let config = home.join("config.toml");
    std::fs::write(&config, canary_config(addr)).unwrap();
    let store_path = home.join("s.redb");

    let run = tokio::task::spawn_blocking({
        let (config, store_path, home) = (config.clone(), store_path.clone(), home.to_path_buf());
        move || {
            let mut command = syncdeck(&home, &config, &store_path);
            command.args(["run", "--full", "--live", "--force", "--json"]);
            output(command)
        }
    })
    .await
    .unwrap();
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);

    let json = report(home, &config, &store_path, &["--format", "json"]);
    let csv = report(home, &config, &store_path, &["--format", "csv"]);
    let table = report(home, &config, &store_path, &[]);
    let failed = report(
        home,
        &config,
        &store_path,
        &["--status", "failed", "--format", "json"],
    );
    let entries: Vec<Value> = serde_json::from_str(&json.stdout).unwrap();
    assert!(!entries.is_empty(), "{}", json.stdout);
    assert!(entries.iter().any(|e| e["status"] == "failed"));
    assert!(entries.iter().all(|e| e["connection"] == "cmdb"));

    let store = Store::open(&store_path, StoreOptions::default()).unwrap();
    let export_path = home.join("export.csv");
    export::export_csv(
        &store,
        &ReportFilter::default(),
        ReportSort::default(),
        &export_path,
        &mut |_, _| {},
    )
    .unwrap();
    let exported = std::fs::read_to_string(&export_path).unwrap();
    assert!(exported.lines().count() > 1);
    // What the engine kept of the error is there, redacted; the canary nowhere.
    let stored = store
        .report_page(&ReportFilter::default(), ReportSort::default(), 0, 100)
        .unwrap();
    assert!(stored.iter().any(|e| e.error.is_some()));
    // The destination's echo reached the report (so the check below means something) ...
    assert!(json.stdout.contains("token rejected"), "{}", json.stdout);
    assert!(exported.contains("token rejected"), "{exported}");
    // ... without the secret, anywhere.
    for (what, text) in [
        ("report --format json", &json.stdout),
        ("report --format csv", &csv.stdout),
        ("report (table)", &table.stdout),
        ("report stderr", &table.stderr),
        ("report --status failed", &failed.stdout),
        ("export_csv", &exported),
    ] {
        assert!(!text.contains(CANARY), "{what} shows the secret:\n{text}");
        assert!(
            !text.contains("Zq7vT3xK9pL2"),
            "{what} shows part of the secret"
        );
    }
}

#[test]
fn report_prints_the_same_rows_as_the_export_and_checks_its_usage() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let config = home.join("config.toml");
    std::fs::write(&config, canary_config("127.0.0.1:9".parse().unwrap())).unwrap();
    let store_path = home.join("s.redb");
    let now = Utc::now();
    let entries = {
        let store = Store::open(&store_path, StoreOptions::default()).unwrap();
        let mut generated = awkward_entries();
        for (i, entry) in generated.iter_mut().enumerate() {
            // Within the last 9 days, so the 5-day window holds some and not others.
            entry.time = now - Duration::hours(5 * i as i64 + 1);
        }
        record(&store, generated)
    };

    let csv = report(
        home,
        &config,
        &store_path,
        &["--format", "csv", "--days", "15"],
    );
    let store = Store::open(&store_path, StoreOptions::default()).unwrap();
    let export_path = home.join("e.csv");
    let since = Some(now - Duration::days(15));
    export::export_csv(
        &store,
        &ReportFilter {
            since,
            ..ReportFilter::default()
        },
        ReportSort::default(),
        &export_path,
        &mut |_, _| {},
    )
    .unwrap();
    drop(store);
    assert_eq!(csv.stdout, std::fs::read_to_string(&export_path).unwrap());
    let (_, rows) = read_csv(&csv.stdout);
    assert_eq!(rows.len(), entries.len());

    // The default window is 5 days.
    let json = report(home, &config, &store_path, &["--format", "json"]);
    let listed: Vec<Value> = serde_json::from_str(&json.stdout).unwrap();
    let in_window = entries
        .iter()
        .filter(|e| e.time >= now - Duration::days(5))
        .count();
    assert_eq!(listed.len(), in_window);
    let first = &listed[0];
    for key in [
        "sync_id",
        "run_id",
        "connection",
        "system",
        "reference",
        "source_id",
        "target_id",
        "status",
        "outcome",
        "attempts",
        "time",
        "error",
    ] {
        assert!(first.get(key).is_some(), "{key} missing from {first}");
    }
    assert!(first["attempts"].is_u64());

    // Filters, search, sort and direction on the command line.
    let json = report(
        home,
        &config,
        &store_path,
        &[
            "--format",
            "json",
            "--days",
            "15",
            "--status",
            "FAILED",
            "--status",
            "ok",
            "--sort",
            "reference",
            "--desc",
        ],
    );
    let listed: Vec<Value> = serde_json::from_str(&json.stdout).unwrap();
    let filter = ReportFilter {
        statuses: vec![EntryStatus::Failed, EntryStatus::Ok],
        since,
        ..ReportFilter::default()
    };
    let sort = ReportSort {
        column: SortColumn::Reference,
        descending: true,
    };
    let ids: Vec<u64> = listed
        .iter()
        .map(|e| e["sync_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, model_ids(&entries, &filter, sort));
    let serial = &entries[4].reference;
    let json = report(
        home,
        &config,
        &store_path,
        &[
            "--format",
            "json",
            "--days",
            "15",
            "--search",
            &serial.to_lowercase(),
        ],
    );
    let listed: Vec<Value> = serde_json::from_str(&json.stdout).unwrap();
    assert!(listed.iter().any(|e| e["reference"] == serial.as_str()));
    let table = report(
        home,
        &config,
        &store_path,
        &["--days", "15", "--connection", "mdm"],
    );
    assert!(table.stdout.starts_with("STATUS"), "{}", table.stdout);
    let mdm = entries.iter().filter(|e| e.connection == "mdm").count();
    assert_eq!(table.stdout.lines().count(), 1 + mdm, "{}", table.stdout);
    assert!(
        table.stderr.contains(&format!("{mdm} entr")),
        "{}",
        table.stderr
    );

    // Bad usage exits 2 and says why.
    for args in [
        &["--days", "16"][..],
        &["--days", "0"],
        &["--status", "broken"],
        &["--format", "xml"],
        &["--sort", "colour"],
        &["--asc", "--desc"],
    ] {
        let mut command = syncdeck(home, &config, &store_path);
        command.arg("report").args(args);
        let out = output(command);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty());
    }
}
