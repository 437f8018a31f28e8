//! Failed entries sorted into those a retry may fix and those no retry can (issue 15, point 2):
//! the class of each kind of failure, and the report's `failure` filter on every query path
//! (page, count, ids, the walk) against a simple model, over real store files.

use std::ops::ControlFlow;

use chrono::{DateTime, Duration, TimeZone, Utc};
use syncdeck::store::*;

/// One kind of Failed entry and the class it must get.
struct Kind {
    outcome: Outcome,
    reason: Option<&'static str>,
    http_status: Option<u16>,
    class: FailureClass,
}

const fn kind(
    outcome: Outcome,
    reason: Option<&'static str>,
    http_status: Option<u16>,
    class: FailureClass,
) -> Kind {
    Kind {
        outcome,
        reason,
        http_status,
        class,
    }
}

use FailureClass::{Fixable, NotSyncable};

/// Every kind of failure the engine records, with the class the documentation promises.
const KINDS: [Kind; 24] = [
    kind(Outcome::Error, Some("write_failed"), Some(503), Fixable),
    kind(Outcome::Error, Some("write_failed"), Some(500), Fixable),
    kind(Outcome::Error, Some("write_failed"), Some(429), Fixable),
    kind(Outcome::Error, Some("write_failed"), None, Fixable),
    kind(Outcome::Error, Some("write_failed"), Some(401), Fixable),
    kind(Outcome::Error, Some("write_failed"), Some(403), Fixable),
    kind(Outcome::Error, Some("write_failed"), Some(409), Fixable),
    kind(Outcome::Error, Some("outcome_unknown"), None, Fixable),
    kind(Outcome::Error, Some("lookup_failed"), Some(502), Fixable),
    kind(Outcome::Error, Some("lookup_failed"), None, Fixable),
    kind(Outcome::Error, Some("source_failed"), None, Fixable),
    kind(Outcome::Error, Some("not_written"), None, Fixable),
    kind(Outcome::Error, Some("write_failed"), Some(400), NotSyncable),
    kind(Outcome::Error, Some("write_failed"), Some(404), NotSyncable),
    kind(Outcome::Error, Some("write_failed"), Some(405), NotSyncable),
    kind(Outcome::Error, Some("write_failed"), Some(415), NotSyncable),
    kind(Outcome::Error, Some("write_failed"), Some(422), NotSyncable),
    kind(
        Outcome::MissingSource,
        Some("missing_source"),
        None,
        NotSyncable,
    ),
    kind(
        Outcome::MissingDestination,
        Some("missing_destination"),
        None,
        NotSyncable,
    ),
    kind(Outcome::Skipped, Some("drifted"), None, NotSyncable),
    kind(Outcome::Error, Some("format_error"), None, NotSyncable),
    kind(
        Outcome::Error,
        Some("ambiguous_destination"),
        None,
        NotSyncable,
    ),
    kind(Outcome::Error, Some("not_in_source"), None, NotSyncable),
    kind(Outcome::Error, Some("unsendable_value"), None, NotSyncable),
];

#[test]
fn each_kind_of_failure_has_its_class_and_only_failed_entries_have_one() {
    for kind in &KINDS {
        assert_eq!(
            FailureClass::of(
                EntryStatus::Failed,
                kind.outcome,
                kind.reason,
                kind.http_status
            ),
            Some(kind.class),
            "{:?} {:?} {:?}",
            kind.outcome,
            kind.reason,
            kind.http_status
        );
        for status in [
            EntryStatus::Ok,
            EntryStatus::Sent,
            EntryStatus::Pending,
            EntryStatus::Dry,
        ] {
            assert_eq!(
                FailureClass::of(status, kind.outcome, kind.reason, kind.http_status),
                None
            );
        }
    }
    assert_eq!(FailureClass::Fixable.as_str(), "fixable");
    assert_eq!(FailureClass::NotSyncable.label(), "not syncable");
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap()
}

/// Entries of every status over 10 days, a third of them Failed of every kind; with the class
/// each one must have (None unless Failed).
fn generate(count: usize, seed: u64) -> Vec<(ReportEntry, Option<FailureClass>)> {
    let mut dice = Dice(seed);
    let connections = [("cmdb", "ServiceNow CMDB"), ("mdm", "Jamf MDM")];
    (0..count)
        .map(|i| {
            let (connection, system) = connections[dice.below(2) as usize];
            let time = base_time() + Duration::minutes(dice.below(10 * 24 * 12) as i64 * 5);
            let failed = dice.below(3) == 0;
            let status = if failed {
                EntryStatus::Failed
            } else {
                [EntryStatus::Ok, EntryStatus::Sent, EntryStatus::Dry][dice.below(3) as usize]
            };
            let kind = &KINDS[dice.below(KINDS.len() as u64) as usize];
            let entry = ReportEntry {
                sync_id: 0,
                run_id: 1 + (i as u64 * 3) / count as u64,
                connection: connection.into(),
                system: system.into(),
                reference: format!("SN-{:04}", dice.below(500)),
                source_id: None,
                target_id: None,
                status,
                outcome: if failed {
                    kind.outcome
                } else {
                    Outcome::Updated
                },
                reason: kind.reason.map(str::to_string),
                time,
                attempts: Vec::new(),
                error: kind.http_status.map(|status| EntryError {
                    http_status: Some(status),
                    message: format!("HTTP {status}"),
                    ..EntryError::default()
                }),
                diff: Vec::new(),
                hashes: None,
            };
            (entry, failed.then_some(kind.class))
        })
        .collect()
}

fn record(
    store: &Store,
    generated: Vec<(ReportEntry, Option<FailureClass>)>,
) -> Vec<(ReportEntry, Option<FailureClass>)> {
    let mut out = Vec::with_capacity(generated.len());
    for chunk in generated.chunks(400) {
        let mut batch = WriteBatch::new();
        batch.entries = chunk.iter().map(|(e, _)| e.clone()).collect();
        let ids = store.commit(&mut batch).unwrap();
        for ((entry, class), id) in chunk.iter().zip(ids) {
            let mut entry = entry.clone();
            entry.sync_id = id;
            out.push((entry, *class));
        }
    }
    out
}

/// The model: the filter's other conditions as the report documents them, and the class the
/// generator gave each entry.
fn model_ids(
    entries: &[(ReportEntry, Option<FailureClass>)],
    filter: &ReportFilter,
    by_time_descending: bool,
) -> Vec<SyncId> {
    let mut matching: Vec<&ReportEntry> = entries
        .iter()
        .filter(|(e, class)| {
            (filter.statuses.is_empty() || filter.statuses.contains(&e.status))
                && (filter.outcomes.is_empty() || filter.outcomes.contains(&e.outcome))
                && (filter.connections.is_empty() || filter.connections.contains(&e.connection))
                && filter.run.is_none_or(|run| run == e.run_id)
                && filter.since.is_none_or(|since| e.time >= since)
                && filter
                    .search
                    .as_deref()
                    .is_none_or(|text| e.reference.starts_with(text))
                && filter.failure.is_none_or(|wanted| *class == Some(wanted))
        })
        .map(|(e, _)| e)
        .collect();
    matching.sort_by_key(|e| std::cmp::Reverse((e.time, e.sync_id)));
    if !by_time_descending {
        matching.reverse();
    }
    matching.iter().map(|e| e.sync_id).collect()
}

fn check(store: &Store, entries: &[(ReportEntry, Option<FailureClass>)], filter: &ReportFilter) {
    let newest = ReportSort::default();
    let expected = model_ids(entries, filter, true);
    assert_eq!(
        store.report_count(filter).unwrap(),
        expected.len() as u64,
        "count of {filter:?}"
    );
    assert_eq!(
        store.report_ids(filter, newest).unwrap(),
        expected,
        "ids of {filter:?}"
    );
    let oldest = ReportSort {
        column: SortColumn::Time,
        descending: false,
    };
    assert_eq!(
        store.report_ids(filter, oldest).unwrap(),
        model_ids(entries, filter, false),
        "oldest first, {filter:?}"
    );
    // A column the indexes do not order by: every match read and sorted.
    let by_reference = ReportSort {
        column: SortColumn::Reference,
        descending: false,
    };
    let mut sorted = store.report_ids(filter, by_reference).unwrap();
    sorted.sort_unstable();
    let mut wanted = expected.clone();
    wanted.sort_unstable();
    assert_eq!(sorted, wanted, "by reference, {filter:?}");
    for (offset, limit) in [(0, 25), (9, 10), (expected.len().saturating_sub(4), 10)] {
        let page = store.report_page(filter, newest, offset, limit).unwrap();
        let end = (offset + limit).min(expected.len());
        let ids: Vec<SyncId> = page.iter().map(|e| e.sync_id).collect();
        assert_eq!(ids, expected[offset.min(end)..end], "page of {filter:?}");
        assert!(page.iter().all(|e| filter.matches(e)), "{filter:?}");
    }
    let mut walked = Vec::new();
    store
        .for_each_report_entry(filter, newest, &mut |entry| {
            walked.push(entry.sync_id);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(walked, expected, "walk of {filter:?}");
}

#[test]
fn the_failure_filter_holds_on_every_query_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("r.redb"),
        StoreOptions { retention_days: 0 },
    )
    .unwrap();
    let entries = record(&store, generate(2_400, 0xfa11));
    let fixable = entries.iter().filter(|(_, c)| *c == Some(Fixable)).count();
    let not_syncable = entries
        .iter()
        .filter(|(_, c)| *c == Some(NotSyncable))
        .count();
    assert!(
        fixable > 100 && not_syncable > 100,
        "{fixable} {not_syncable}"
    );
    let failed = ReportFilter {
        statuses: vec![EntryStatus::Failed],
        ..ReportFilter::default()
    };
    assert_eq!(
        store.report_count(&failed).unwrap(),
        (fixable + not_syncable) as u64,
        "every Failed entry is of one class"
    );
    let since = Some(base_time() + Duration::days(6));
    for class in [Fixable, NotSyncable] {
        let failure = Some(class);
        for filter in [
            ReportFilter {
                failure,
                ..ReportFilter::default()
            },
            ReportFilter {
                failure,
                statuses: vec![EntryStatus::Failed],
                ..ReportFilter::default()
            },
            // A status filter without Failed leaves nothing to match.
            ReportFilter {
                failure,
                statuses: vec![EntryStatus::Ok, EntryStatus::Dry],
                ..ReportFilter::default()
            },
            ReportFilter {
                failure,
                statuses: vec![EntryStatus::Ok, EntryStatus::Failed],
                ..ReportFilter::default()
            },
            ReportFilter {
                failure,
                connections: vec!["mdm".into()],
                since,
                ..ReportFilter::default()
            },
            ReportFilter {
                failure,
                outcomes: vec![Outcome::Error],
                ..ReportFilter::default()
            },
            // A run: its entries are gathered and read one by one.
            ReportFilter {
                failure,
                run: Some(2),
                connections: vec!["cmdb".into()],
                ..ReportFilter::default()
            },
            // A serial prefix: gathered from the reference index.
            ReportFilter {
                failure,
                search: Some("SN-01".into()),
                ..ReportFilter::default()
            },
        ] {
            check(&store, &entries, &filter);
        }
    }
    // The filter survives a reopen of the file (nothing of it lives in memory).
    drop(store);
    let store = Store::open(
        dir.path().join("r.redb"),
        StoreOptions { retention_days: 0 },
    )
    .unwrap();
    let filter = ReportFilter {
        failure: Some(Fixable),
        ..ReportFilter::default()
    };
    assert_eq!(store.report_count(&filter).unwrap(), fixable as u64);
}

#[test]
fn counters_of_older_stores_read_with_zero_fixable_and_not_syncable() {
    let old = r#"{"would_update":0,"updated":3,"created":0,"skipped":1,"missing_source":2,
        "missing_destination":0,"failed":4,"pending":0,"errors":0,"fetched":10,"new":0,
        "changed":10,"unchanged":0}"#;
    let counters: Counters = serde_json::from_str(old).unwrap();
    assert_eq!(
        (counters.failed, counters.fixable, counters.not_syncable),
        (4, 0, 0)
    );
}
