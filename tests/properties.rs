//! Property tests: the mapping pipeline and the store's sync contracts, each checked against a
//! simple model of what SPEC section 3 says over thousands of generated cases.
//!
//! - mapping: generated source records, rule sets (direct, integer, float, string, boolean,
//!   upper, trim and value-map formatters; `required`; `on_null`; `on_same`) and destination
//!   records → `map_record` gives the model's payload, diff, skip reason or failure, and the
//!   desired hash changes exactly when the model's formatted fields do;
//! - contracts: sequences of batch upserts/deletes, single deletes, gets, pages and queries on a
//!   real redb file → the store answers what a `BTreeMap` answers.
//!
//! A failing case is shrunk and saved under `tests/proptest-regressions/` (commit that file: it
//! is replayed first on every later run).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use syncdeck::config::{Format, MappingRule, OnNull, OnSame};
use syncdeck::engine::mapping::{Mapped, SkipReason, map_record};
use syncdeck::store::{
    ContractAction, ContractQuery, ContractSort, FieldChange, Store, StoreOptions, SyncContract,
    WriteBatch,
};

const MAPPING_CASES: u32 = 4_000;
const CONTRACT_CASES: u32 = 2_000;

/// The case count: `PROPTEST_CASES` when set (a longer hunt), else the suite's default.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// The mapping model
// ---------------------------------------------------------------------------------------------

/// Texts a source field may hold: numeric, boolean words, value-table keys, padded, other.
const TEXTS: &[&str] = &[
    "16",
    " 7 ",
    "-2",
    "2.5",
    "0",
    "1",
    "yes",
    "NO",
    " true ",
    "false",
    "abc",
    "",
    "in_use",
    "retired",
    "Mixed Case",
    "  padded  ",
    "ß",
];
/// Source paths a rule reads; `gone` never exists, `h.*` is absent when `h` is not an object.
const SOURCES: &[&str] = &["a", "b", "c", "h.x", "h.y", "gone"];
/// Paths in a generated record, for edits (`zz` is never mapped).
const RECORD_PATHS: &[&str] = &["a", "b", "c", "h.x", "h.y", "zz"];
/// Target paths: never a prefix of one another, some nested.
const TARGETS: &[&str] = &["t0", "t1", "t2", "t3", "n.t4", "n.t5", "n.m.t6"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..=20).prop_map(Value::from),
        (-3i64..=20).prop_map(|i| json!(i as f64)),
        (-3i64..=20).prop_map(|i| json!(i as f64 + 0.5)),
        prop::sample::select(TEXTS).prop_map(Value::from),
    ]
}

fn record() -> impl Strategy<Value = Value> {
    let field = || prop::option::weighted(0.8, scalar());
    let h = prop_oneof![
        3 => (field(), field()).prop_map(|(x, y)| {
            let mut h = Map::new();
            x.map(|x| h.insert("x".into(), x));
            y.map(|y| h.insert("y".into(), y));
            Some(Value::Object(h))
        }),
        1 => scalar().prop_map(Some),
        1 => Just(None),
    ];
    (field(), field(), field(), h, field()).prop_map(|(a, b, c, h, zz)| {
        let mut record = Map::new();
        for (key, value) in [("a", a), ("b", b), ("c", c), ("h", h), ("zz", zz)] {
            if let Some(value) = value {
                record.insert(key.into(), value);
            }
        }
        Value::Object(record)
    })
}

fn value_table() -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("in_use".to_string(), json!("In Use")),
        ("retired".to_string(), json!("Retired")),
        ("16".to_string(), json!(16)),
        ("true".to_string(), json!(true)),
        ("2.5".to_string(), json!("two and a half")),
    ])
}

fn format() -> impl Strategy<Value = Option<Format>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(Format::Integer)),
        1 => Just(Some(Format::Float)),
        1 => Just(Some(Format::String)),
        1 => Just(Some(Format::Boolean)),
        1 => Just(Some(Format::Upper)),
        1 => Just(Some(Format::Trim)),
        1 => Just(Some(Format::Map(value_table()))),
    ]
}

fn rule_for(target: &'static str) -> impl Strategy<Value = MappingRule> {
    let on_null = prop_oneof![Just(OnNull::Skip), Just(OnNull::Clear)];
    let on_same = prop_oneof![3 => Just(OnSame::Skip), 1 => Just(OnSame::Write)];
    (
        prop::sample::select(SOURCES),
        format(),
        prop::bool::weighted(0.15),
        on_null,
        on_same,
    )
        .prop_map(
            move |(source, format, required, on_null, on_same)| MappingRule {
                source: source.to_string(),
                value: None,
                target: target.to_string(),
                compare: None,
                lookup: None,
                format,
                required,
                on_null,
                on_same,
            },
        )
}

fn rules() -> impl Strategy<Value = Vec<MappingRule>> {
    prop::sample::subsequence(TARGETS, 0..=TARGETS.len())
        .prop_shuffle()
        .prop_flat_map(|targets| targets.into_iter().map(rule_for).collect::<Vec<_>>())
}

/// What the model says one record maps to: the formatted fields in rule order, or why not.
#[derive(Debug, PartialEq)]
enum ModelFormatted {
    Fields(Vec<(String, Value, OnSame)>),
    MissingSource(String),
    Error(String),
}

fn model_get<'a>(record: &'a Value, dotted: &str) -> Option<&'a Value> {
    let mut current = record;
    for segment in dotted.split('.') {
        current = current.as_object()?.get(segment)?;
    }
    Some(current)
}

fn model_set(target: &mut Value, dotted: &str, value: Value) {
    let (parent, last) = match dotted.rsplit_once('.') {
        Some((parent, last)) => (Some(parent), last),
        None => (None, dotted),
    };
    let mut current = target;
    for segment in parent.into_iter().flat_map(|p| p.split('.')) {
        current = current
            .as_object_mut()
            .expect("the model only nests objects")
            .entry(segment)
            .or_insert_with(|| json!({}));
    }
    current
        .as_object_mut()
        .expect("the model only nests objects")
        .insert(last.to_string(), value);
}

/// A generated float is k or k + 0.5 for a small integer k.
fn float_text(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{}.0", f as i64)
    } else {
        format!("{f}")
    }
}

/// A string, number or boolean as text; None for anything else.
fn model_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) if n.is_f64() => Some(float_text(n.as_f64()?)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn model_integer(value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) if n.is_i64() => Some(value.clone()),
        Value::Number(n) => {
            let f = n.as_f64()?;
            (f.fract() == 0.0).then(|| json!(f as i64))
        }
        Value::String(s) => match s.trim() {
            "16" => Some(json!(16)),
            "7" => Some(json!(7)),
            "-2" => Some(json!(-2)),
            "0" => Some(json!(0)),
            "1" => Some(json!(1)),
            _ => None,
        },
        _ => None,
    }
}

fn model_float(value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) => Some(json!(n.as_f64()?)),
        Value::String(s) => match s.trim() {
            "16" => Some(json!(16.0)),
            "7" => Some(json!(7.0)),
            "-2" => Some(json!(-2.0)),
            "2.5" => Some(json!(2.5)),
            "0" => Some(json!(0.0)),
            "1" => Some(json!(1.0)),
            _ => None,
        },
        _ => None,
    }
}

fn model_boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) if n.as_f64() == Some(0.0) => Some(false),
        Value::Number(n) if n.as_f64() == Some(1.0) => Some(true),
        Value::String(s) => match s.trim().to_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn model_format(format: &Option<Format>, value: &Value) -> Option<Value> {
    match format {
        None => Some(value.clone()),
        Some(Format::Integer) => model_integer(value),
        Some(Format::Float) => model_float(value),
        Some(Format::String) => model_text(value).map(Value::from),
        Some(Format::Boolean) => model_boolean(value).map(Value::from),
        Some(Format::Upper) => model_text(value).map(|t| Value::from(t.to_uppercase())),
        Some(Format::Trim) => model_text(value).map(|t| Value::from(t.trim())),
        Some(Format::Map(table)) => table.get(&model_text(value)?).cloned(),
        Some(other) => panic!("the model does not know {other:?}"),
    }
}

/// SPEC section 3 step 3, rule by rule in order: the first failure wins.
fn model_formatted(rules: &[MappingRule], record: &Value) -> ModelFormatted {
    let mut fields = Vec::new();
    for rule in rules {
        let new = match model_get(record, &rule.source) {
            Some(value) if !value.is_null() => match model_format(&rule.format, value) {
                Some(formatted) => formatted,
                None => return ModelFormatted::Error(rule.target.clone()),
            },
            _ if rule.required => return ModelFormatted::MissingSource(rule.source.clone()),
            _ if rule.on_null == OnNull::Skip => continue,
            _ => Value::Null,
        };
        fields.push((rule.target.clone(), new, rule.on_same));
    }
    ModelFormatted::Fields(fields)
}

/// Numbers by value, everything else exactly (the generated values are scalars).
fn model_same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// SPEC section 3 step 4 on the model's fields.
fn model_mapped(rules: &[MappingRule], record: &Value, destination: Option<&Value>) -> Mapped {
    let fields = match model_formatted(rules, record) {
        ModelFormatted::Fields(fields) => fields,
        ModelFormatted::MissingSource(field) => return Mapped::MissingSource { field },
        ModelFormatted::Error(field) => {
            return Mapped::Error {
                field,
                value: String::new(),
                message: String::new(),
            };
        }
    };
    if fields.is_empty() {
        return Mapped::Skipped {
            reason: SkipReason::Rule,
            desired_hash: String::new(),
        };
    }
    let mut payload = json!({});
    let mut diff = Vec::new();
    for (target, new, on_same) in fields {
        let old = destination.and_then(|d| model_get(d, &target));
        if on_same == OnSame::Skip && old.is_some_and(|old| model_same(old, &new)) {
            continue;
        }
        diff.push(FieldChange {
            field: target.clone(),
            old: old.cloned(),
            new: Some(new.clone()),
        });
        model_set(&mut payload, &target, new);
    }
    if diff.is_empty() {
        Mapped::Skipped {
            reason: SkipReason::NoChange,
            desired_hash: String::new(),
        }
    } else {
        Mapped::Write {
            payload,
            diff,
            desired_hash: String::new(),
        }
    }
}

/// The mapped result with the hash blanked, and failures reduced to the field they name.
fn comparable(mapped: &Mapped) -> Mapped {
    match mapped.clone() {
        Mapped::Write { payload, diff, .. } => Mapped::Write {
            payload,
            diff,
            desired_hash: String::new(),
        },
        Mapped::Skipped { reason, .. } => Mapped::Skipped {
            reason,
            desired_hash: String::new(),
        },
        Mapped::MissingSource { field } => Mapped::MissingSource { field },
        Mapped::Error { field, .. } => Mapped::Error {
            field,
            value: String::new(),
            message: String::new(),
        },
    }
}

fn hash_of(mapped: &Mapped) -> Option<&str> {
    match mapped {
        Mapped::Write { desired_hash, .. } | Mapped::Skipped { desired_hash, .. } => {
            Some(desired_hash)
        }
        _ => None,
    }
}

/// How the generated destination holds one target.
#[derive(Clone, Debug)]
enum Held {
    Absent,
    /// What the model says the mapping writes.
    Same,
    /// The same number in the other JSON type (16 ↔ 16.0); Same for non-numbers.
    SameRetyped,
    Other(Value),
}

fn held() -> impl Strategy<Value = Held> {
    prop_oneof![
        1 => Just(Held::Absent),
        4 => Just(Held::Same),
        1 => Just(Held::SameRetyped),
        1 => scalar().prop_map(Held::Other),
    ]
}

fn retyped(value: &Value) -> Value {
    match value {
        Value::Number(n) if n.is_i64() => json!(n.as_i64().unwrap_or_default() as f64),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 => json!(f as i64),
            _ => value.clone(),
        },
        _ => value.clone(),
    }
}

/// A destination built from what the model would write, field by field as `held` says.
fn destination(rules: &[MappingRule], record: &Value, held: &[Held]) -> Value {
    let mut destination = json!({"untouched": "kept"});
    let ModelFormatted::Fields(fields) = model_formatted(rules, record) else {
        return destination;
    };
    for ((target, new, _), held) in fields.iter().zip(held.iter().cycle()) {
        let value = match held {
            Held::Absent => continue,
            Held::Same => new.clone(),
            Held::SameRetyped => retyped(new),
            Held::Other(value) => value.clone(),
        };
        model_set(&mut destination, target, value);
    }
    destination
}

/// One change to a record, for a second record close to the first.
#[derive(Clone, Debug)]
enum Edit {
    Retype,
    Replace(Value),
    Remove,
}

fn edit() -> impl Strategy<Value = (&'static str, Edit)> {
    let kind = prop_oneof![
        3 => Just(Edit::Retype),
        2 => scalar().prop_map(Edit::Replace),
        1 => Just(Edit::Remove),
    ];
    (prop::sample::select(RECORD_PATHS), kind)
}

fn edited(record: &Value, edits: &[(&str, Edit)]) -> Value {
    let mut record = record.clone();
    for (path, edit) in edits {
        let (parent, key) = match path.split_once('.') {
            Some((parent, key)) => (record.get_mut(parent), key),
            None => (Some(&mut record), *path),
        };
        let Some(Value::Object(map)) = parent else {
            continue;
        };
        match edit {
            Edit::Retype => {
                if let Some(value) = map.get_mut(key) {
                    *value = retyped(value);
                }
            }
            Edit::Replace(value) => {
                map.insert(key.to_string(), value.clone());
            }
            Edit::Remove => {
                map.remove(key);
            }
        }
    }
    record
}

/// The formatted fields as the hash sees them: by target, numbers by value.
fn hash_view(formatted: &ModelFormatted) -> Option<BTreeMap<String, String>> {
    let ModelFormatted::Fields(fields) = formatted else {
        return None;
    };
    let canonical = |value: &Value| match value {
        Value::Number(n) => format!("n{}", n.as_f64().unwrap_or_default()),
        other => other.to_string(),
    };
    Some(
        fields
            .iter()
            .map(|(target, value, _)| (target.clone(), canonical(value)))
            .collect(),
    )
}

#[test]
fn mapping_agrees_with_the_model() {
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(MAPPING_CASES),
        ..RunnerConfig::default()
    });
    let case = (
        rules(),
        record(),
        prop::option::weighted(0.8, prop::collection::vec(held(), 1..8)),
        prop::collection::vec(edit(), 0..4),
        prop::bool::weighted(0.3),
        record(),
    );
    let seen = RefCell::new(Seen::default());
    let result = runner.run(&case, |(rules, record, held, edits, unrelated, other)| {
        let destination = held.map(|held| destination(&rules, &record, &held));
        let mapped = map_record(&rules, &record, destination.as_ref());
        let model = model_mapped(&rules, &record, destination.as_ref());
        seen.borrow_mut().count(&mapped);
        prop_assert_eq!(comparable(&mapped), model.clone(), "record {}", record);
        if let Mapped::Error { value, message, .. } = &mapped {
            prop_assert!(!value.is_empty() && !message.is_empty());
        }
        // The diff is empty exactly when the model says the destination already agrees:
        // a write always carries a change, and no change is always a NoChange skip.
        let unchanged = matches!(
            model,
            Mapped::Skipped {
                reason: SkipReason::NoChange,
                ..
            }
        );
        match &mapped {
            Mapped::Write { diff, .. } => prop_assert!(!diff.is_empty() && !unchanged),
            Mapped::Skipped { reason, .. } => {
                prop_assert_eq!(*reason == SkipReason::NoChange, unchanged)
            }
            _ => prop_assert!(!unchanged),
        }

        // The desired hash depends on the formatted source fields only.
        let alone = map_record(&rules, &record, None);
        prop_assert_eq!(hash_of(&alone), hash_of(&mapped));
        let second = if unrelated {
            other
        } else {
            edited(&record, &edits)
        };
        let second_mapped = map_record(&rules, &second, None);
        let (first_view, second_view) = (
            hash_view(&model_formatted(&rules, &record)),
            hash_view(&model_formatted(&rules, &second)),
        );
        if let (Some(a), Some(b), Some(x), Some(y)) = (
            hash_of(&alone),
            hash_of(&second_mapped),
            &first_view,
            &second_view,
        ) {
            prop_assert_eq!(a == b, x == y, "{} vs {}", record, second);
            if a == b && record != second {
                seen.borrow_mut().same_hash_other_record += 1;
            }
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    // The generators reach every outcome (each in well over 1% of cases), so a passing run
    // means something.
    let seen = seen.into_inner();
    eprintln!("{seen:?}");
    let total = cases(MAPPING_CASES);
    let floor = total as usize / 100;
    for (what, count) in [
        ("writes", seen.writes),
        ("no-change skips", seen.no_change),
        ("rule skips", seen.rule),
        ("missing sources", seen.missing_source),
        ("formatter errors", seen.errors),
        (
            "equal hashes of different records",
            seen.same_hash_other_record,
        ),
    ] {
        assert!(count >= floor, "only {count} {what} in {total} cases");
    }
}

/// How often each outcome came up.
#[derive(Debug, Default)]
struct Seen {
    writes: usize,
    no_change: usize,
    rule: usize,
    missing_source: usize,
    errors: usize,
    same_hash_other_record: usize,
}

impl Seen {
    fn count(&mut self, mapped: &Mapped) {
        match mapped {
            Mapped::Write { .. } => self.writes += 1,
            Mapped::Skipped {
                reason: SkipReason::NoChange,
                ..
            } => self.no_change += 1,
            Mapped::Skipped { .. } => self.rule += 1,
            Mapped::MissingSource { .. } => self.missing_source += 1,
            Mapped::Error { .. } => self.errors += 1,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The contracts model
// ---------------------------------------------------------------------------------------------

/// Serials chosen to collide, differ in case or a trailing space, and sort unusually.
const ORIGINS: &[&str] = &["", "S-1", "S-10", "S-2", "s-1", "S-1 ", "Ä-7", "a/b c"];
const TARGET_IDS: &[&str] = &["T1", "t1-x", "S-1", "ä-1"];
const HASHES: &[&str] = &["h-a", "h-b", "h-c"];
const SEARCHES: &[&str] = &["", "s-1", "T", "ä", " S-2 ", "zzz"];

fn moment(index: u8) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(index.into())
}

#[derive(Clone, Debug)]
struct Written {
    connection: usize,
    origin: &'static str,
    target: Option<&'static str>,
    hash: &'static str,
    seen: u8,
    synced: Option<u8>,
    action: ContractAction,
}

#[derive(Clone, Debug)]
enum Op {
    /// One commit: deletes first, then the contracts in order (a later one replaces).
    Commit {
        deletes: Vec<(usize, &'static str)>,
        contracts: Vec<Written>,
    },
    Delete(usize, &'static str),
    Get(usize, &'static str),
    Page {
        connection: usize,
        after: Option<&'static str>,
        limit: usize,
    },
    Query {
        connection: usize,
        search: Option<&'static str>,
        sort: ContractSort,
        descending: bool,
        offset: usize,
        limit: usize,
    },
}

/// Two connections per case, the second named with the first as a prefix.
const CONNECTIONS: usize = 2;

fn written() -> impl Strategy<Value = Written> {
    (
        0..CONNECTIONS,
        prop::sample::select(ORIGINS),
        prop::option::of(prop::sample::select(TARGET_IDS)),
        prop::sample::select(HASHES),
        0u8..4,
        prop::option::of(0u8..4),
        prop_oneof![
            Just(ContractAction::Created),
            Just(ContractAction::Updated),
            Just(ContractAction::Unchanged)
        ],
    )
        .prop_map(
            |(connection, origin, target, hash, seen, synced, action)| Written {
                connection,
                origin,
                target,
                hash,
                seen,
                synced,
                action,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let key = || (0..CONNECTIONS, prop::sample::select(ORIGINS));
    let sort = prop_oneof![
        Just(ContractSort::Origin),
        Just(ContractSort::Target),
        Just(ContractSort::Hash),
        Just(ContractSort::LastSeen),
        Just(ContractSort::LastSynced),
        Just(ContractSort::Action),
    ];
    prop_oneof![
        3 => (
            prop::collection::vec(key(), 0..3),
            prop::collection::vec(written(), 0..6)
        )
            .prop_map(|(deletes, contracts)| Op::Commit { deletes, contracts }),
        1 => key().prop_map(|(c, o)| Op::Delete(c, o)),
        2 => key().prop_map(|(c, o)| Op::Get(c, o)),
        1 => (0..CONNECTIONS, prop::option::of(prop::sample::select(ORIGINS)), 0usize..5)
            .prop_map(|(connection, after, limit)| Op::Page { connection, after, limit }),
        2 => (
            0..CONNECTIONS,
            prop::option::of(prop::sample::select(SEARCHES)),
            sort,
            any::<bool>(),
            0usize..4,
            1usize..6
        )
            .prop_map(|(connection, search, sort, descending, offset, limit)| Op::Query {
                connection,
                search,
                sort,
                descending,
                offset,
                limit,
            }),
    ]
}

/// What the store should hold: (connection, origin id) → contract.
type ContractModel = BTreeMap<(String, String), SyncContract>;

fn contracts_of(model: &ContractModel, connection: &str) -> Vec<SyncContract> {
    model
        .iter()
        .filter(|((c, _), _)| c == connection)
        .map(|(_, contract)| contract.clone())
        .collect()
}

fn model_query(
    model: &ContractModel,
    query: &ContractQuery,
    offset: usize,
    limit: usize,
) -> (Vec<SyncContract>, u64) {
    let needle = query
        .search
        .as_deref()
        .map(|s| s.trim().to_lowercase())
        .unwrap_or_default();
    let mut all: Vec<SyncContract> = contracts_of(model, &query.connection)
        .into_iter()
        .filter(|c| {
            needle.is_empty()
                || c.origin_id.to_lowercase().contains(&needle)
                || c.target_id
                    .as_ref()
                    .is_some_and(|t| t.to_lowercase().contains(&needle))
        })
        .collect();
    let action_name = |c: &SyncContract| match c.last_action {
        ContractAction::Created => "Created",
        ContractAction::Updated => "Updated",
        ContractAction::Unchanged => "Unchanged",
    };
    match query.sort {
        ContractSort::Origin => {}
        ContractSort::Target => all.sort_by(|a, b| a.target_id.cmp(&b.target_id)),
        ContractSort::Hash => all.sort_by(|a, b| a.last_hash.cmp(&b.last_hash)),
        ContractSort::LastSeen => all.sort_by_key(|c| c.last_seen),
        ContractSort::LastSynced => all.sort_by_key(|c| c.last_synced),
        ContractSort::Action => all.sort_by_key(|c| action_name(c)),
    }
    if query.descending {
        all.reverse();
    }
    let total = all.len() as u64;
    (all.into_iter().skip(offset).take(limit).collect(), total)
}

fn check_ops(
    store: &Store,
    names: &[String; CONNECTIONS],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut model = ContractModel::new();
    let key = |c: usize, o: &str| (names[c].clone(), o.to_string());
    for op in ops {
        match op {
            Op::Commit { deletes, contracts } => {
                let mut batch = WriteBatch::new();
                for &(c, o) in deletes {
                    batch.contract_deletes.push(key(c, o));
                    model.remove(&key(c, o));
                }
                for w in contracts {
                    let contract = SyncContract {
                        connection: names[w.connection].clone(),
                        origin_id: w.origin.to_string(),
                        target_id: w.target.map(str::to_string),
                        last_hash: w.hash.to_string(),
                        last_seen: moment(w.seen),
                        last_synced: w.synced.map(moment),
                        last_action: w.action,
                    };
                    model.insert(key(w.connection, w.origin), contract.clone());
                    batch.contracts.push(contract);
                }
                store.commit(&mut batch).expect("commit");
            }
            Op::Delete(c, o) => {
                let existed = store.delete_contract(&names[*c], o).expect("delete");
                prop_assert_eq!(existed, model.remove(&key(*c, o)).is_some(), "delete {}", o);
            }
            Op::Get(c, o) => {
                let got = store.get_contract(&names[*c], o).expect("get");
                prop_assert_eq!(got.as_ref(), model.get(&key(*c, o)), "get {:?}", o);
            }
            Op::Page {
                connection,
                after,
                limit,
            } => {
                let got = store
                    .contracts_page(&names[*connection], *after, *limit)
                    .expect("page");
                let want: Vec<SyncContract> = contracts_of(&model, &names[*connection])
                    .into_iter()
                    .filter(|c| after.is_none_or(|after| c.origin_id.as_str() > after))
                    .take(*limit)
                    .collect();
                prop_assert_eq!(got, want, "page after {:?}", after);
            }
            Op::Query {
                connection,
                search,
                sort,
                descending,
                offset,
                limit,
            } => {
                let query = ContractQuery {
                    connection: names[*connection].clone(),
                    search: search.map(str::to_string),
                    sort: *sort,
                    descending: *descending,
                };
                let got = store
                    .query_contracts(&query, *offset, *limit)
                    .expect("query");
                let (want, total) = model_query(&model, &query, *offset, *limit);
                prop_assert_eq!(got.total, total, "{:?}", query);
                prop_assert_eq!(got.contracts, want, "{:?}", query);
            }
        }
    }
    for name in names {
        let count = store.count_contracts(name).expect("count");
        prop_assert_eq!(
            count,
            contracts_of(&model, name).len() as u64,
            "count {}",
            name
        );
        let all = store.contracts_page(name, None, usize::MAX).expect("page");
        prop_assert_eq!(all, contracts_of(&model, name), "all of {}", name);
    }
    Ok(())
}

#[test]
fn contracts_agree_with_a_btreemap() {
    // In memory where the system has it (/dev/shm is tmpfs on Linux): a durable commit there
    // costs no disk flush, so thousands of cases stay quick. Same file format, same code path.
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    // One store for every case: each case has connections of its own, so the contracts left by
    // earlier cases (under names that share a prefix: c1, c10, c1-b…) are neighbours that every
    // range read must stop before.
    let store = Store::open(dir.path().join("contracts.redb"), StoreOptions::default()).unwrap();
    let case = Cell::new(0u64);
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(CONTRACT_CASES),
        ..RunnerConfig::default()
    });
    let result = runner.run(&prop::collection::vec(op(), 1..16), |ops| {
        let n = case.get();
        case.set(n + 1);
        let names = [format!("c{n}"), format!("c{n}-b")];
        check_ops(&store, &names, &ops)
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
