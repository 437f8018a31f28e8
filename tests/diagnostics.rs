//! The diagnostics of a connection run (issue 15 point 5), read from a real redb file and
//! checked against a count made here, entry by entry: reasons, the fields that change, the
//! fields sent with the same value, and only that connection of that run.

use std::collections::BTreeMap;

use chrono::{TimeDelta, TimeZone, Utc};
use syncdeck::store::diagnostics::{MAX_KEYS, Reason};
use syncdeck::store::{
    EntryError, FieldChange, Outcome, ReportEntry, Store, StoreOptions, WriteBatch,
};

mod common;

use common::history;

fn entry(run: u64, connection: &str, i: u32) -> ReportEntry {
    let at = Utc.with_ymd_and_hms(2025, 3, 14, 14, 0, 0).unwrap() + TimeDelta::seconds(i.into());
    history::entry(run, connection, "CMDB", &format!("SD-{i:06}"), at)
}

fn with(
    mut e: ReportEntry,
    outcome: Outcome,
    reason: Option<&str>,
    message: Option<&str>,
) -> ReportEntry {
    e.outcome = outcome;
    e.reason = reason.map(str::to_string);
    e.error = message.map(|m| EntryError {
        message: m.into(),
        ..EntryError::default()
    });
    e
}

fn change(field: &str, old: i64, new: i64) -> FieldChange {
    FieldChange {
        field: field.into(),
        old: Some(old.into()),
        new: Some(new.into()),
    }
}

#[test]
fn one_pass_counts_reasons_and_fields_of_one_connection_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("s.redb"),
        StoreOptions { retention_days: 0 },
    )
    .unwrap();
    let mut batch = WriteBatch::new();
    let mut model: BTreeMap<Reason, u64> = BTreeMap::new();
    let mut fields: BTreeMap<String, u64> = BTreeMap::new();
    let mut same: BTreeMap<String, u64> = BTreeMap::new();
    // 2,500 entries of run 1 on cmdb (more than a page), and noise: run 2, and mdm in run 1.
    for i in 0..2_500u32 {
        let base = entry(1, "cmdb", i);
        let (e, reason) = match i % 7 {
            0 => (
                with(base, Outcome::Skipped, Some("no_change"), None),
                Reason::NoChange,
            ),
            1 => (
                with(base, Outcome::Skipped, Some("rule"), None),
                Reason::Rule,
            ),
            2 => (
                with(
                    base,
                    Outcome::MissingSource,
                    Some("missing_source"),
                    Some("required source field status is absent or null"),
                ),
                Reason::MissingSource(Some("status".into())),
            ),
            3 => (
                with(base, Outcome::MissingDestination, None, None),
                Reason::MissingDestination,
            ),
            4 => (
                with(
                    base,
                    Outcome::Error,
                    Some("format_error"),
                    Some("field ram_gb: cannot convert \"lots\": not a number"),
                ),
                Reason::FormatError(Some("ram_gb".into())),
            ),
            _ => {
                let mut e = with(base, Outcome::WouldUpdate, None, None);
                e.diff = vec![change("ram_gb", 8, 16), change("name", 1, 1)];
                if i % 7 == 6 {
                    e.diff.push(change("site", 1, 2));
                }
                for c in &e.diff {
                    let counts = if c.old == c.new {
                        &mut same
                    } else {
                        &mut fields
                    };
                    *counts.entry(c.field.clone()).or_default() += 1;
                }
                (e, Reason::Written(Outcome::WouldUpdate))
            }
        };
        *model.entry(reason).or_default() += 1;
        batch.entries.push(e);
        batch.entries.push(entry(2, "cmdb", i));
        batch.entries.push(with(
            entry(1, "mdm", i),
            Outcome::Skipped,
            Some("no_change"),
            None,
        ));
    }
    store.commit(&mut batch).unwrap();
    let d = store.connection_run_diagnostics(1, "cmdb").unwrap();
    assert_eq!(d.entries, 2_500);
    let got: BTreeMap<Reason, u64> = d
        .reasons
        .iter()
        .map(|r| (r.reason.clone(), r.count))
        .collect();
    assert_eq!(got, model);
    // Most entries first.
    assert!(d.reasons.windows(2).all(|w| w[0].count >= w[1].count));
    let got_fields: BTreeMap<String, u64> = d.fields.iter().cloned().collect();
    assert_eq!(got_fields, fields);
    assert_eq!(d.fields[0].0, "ram_gb");
    let got_same: BTreeMap<String, u64> = d.same_value.iter().cloned().collect();
    assert_eq!(got_same, same);
    // Each reason keeps the outcome the report filters it by.
    let missing = d
        .reasons
        .iter()
        .find(|r| r.reason == Reason::MissingDestination)
        .unwrap();
    assert_eq!(missing.outcome, Outcome::MissingDestination);
    assert_eq!(
        store.connection_run_diagnostics(3, "cmdb").unwrap().entries,
        0
    );
}

#[test]
fn distinct_reasons_past_the_cap_are_counted_together() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path().join("s.redb"),
        StoreOptions { retention_days: 0 },
    )
    .unwrap();
    let mut batch = WriteBatch::new();
    let n = MAX_KEYS as u32 + 10;
    for i in 0..n {
        let mut e = with(entry(1, "cmdb", i), Outcome::Error, Some("http_4xx"), None);
        e.error = Some(EntryError {
            http_status: Some(400 + i as u16),
            message: "refused".into(),
            ..EntryError::default()
        });
        batch.entries.push(e);
    }
    store.commit(&mut batch).unwrap();
    let d = store.connection_run_diagnostics(1, "cmdb").unwrap();
    assert_eq!(d.entries, u64::from(n));
    assert_eq!(d.reasons.len(), MAX_KEYS + 1);
    let more = d.reasons.last().unwrap();
    assert_eq!(more.reason, Reason::More);
    assert_eq!(more.count, 10);
    assert_eq!(d.reasons.iter().map(|r| r.count).sum::<u64>(), u64::from(n));
}
