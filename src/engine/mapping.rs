//! Map and compare (SPEC section 3, steps 3–4): formatters, field rules, the field-level diff and
//! the hash of what a record should look like. Pure functions: no I/O, no clock.

use std::borrow::{Borrow, Cow};
use std::fmt::Write as _;
use std::io::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::{Map, Value};

use super::values::show;
use crate::config::{Format, MappingRule, OnNull, OnSame};
use crate::store::types::FieldChange;

/// How many known keys a `map` error lists.
const KNOWN_KEYS_SHOWN: usize = 5;

/// What mapping one source record for one connection gives.
#[derive(Clone, Debug, PartialEq)]
pub enum Mapped {
    /// Something to write: only the fields to send, nested by target path, and one change per
    /// sent field (old = the destination's current value, None when absent or no destination).
    Write {
        payload: Value,
        diff: Vec<FieldChange>,
        desired_hash: String,
    },
    /// Nothing left to write.
    Skipped {
        reason: SkipReason,
        desired_hash: String,
    },
    /// A `required` rule's source value is absent or null; names the source path.
    MissingSource { field: String },
    /// A formatter could not convert a value: the target field, the value (shortened) and why.
    Error {
        field: String,
        value: String,
        message: String,
    },
}

/// Why a record has nothing left to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Every field equals the destination's and was dropped by `on_same = "skip"`.
    NoChange,
    /// No rule produced a field (e.g. all dropped by `on_null = "skip"`).
    Rule,
}

impl SkipReason {
    /// Stable reason code, as stored and filtered on.
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::NoChange => "no_change",
            SkipReason::Rule => "rule",
        }
    }
}

/// The value at a dotted path ("hardware.memory_gb", "tags.0"); None when any segment is absent.
pub fn get_path<'a>(value: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(value, step)
}

/// [`get_path`] on a path already split at its dots (once per run, not once per record).
fn get_segments<'a>(value: &'a Value, segments: &[String]) -> Option<&'a Value> {
    segments
        .iter()
        .try_fold(value, |current, segment| step(current, segment))
}

fn step<'a>(current: &'a Value, segment: &str) -> Option<&'a Value> {
    match current {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
        _ => None,
    }
}

/// Sets a dotted path, creating objects on the way and replacing non-objects in the way.
pub fn set_path(target: &mut Value, dotted: &str, value: Value) {
    let mut current = target;
    let mut segments = dotted.split('.').peekable();
    while let Some(segment) = segments.next() {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        let Value::Object(map) = current else {
            unreachable!("made an object above")
        };
        if segments.peek().is_none() {
            map.insert(segment.to_string(), value);
            return;
        }
        current = map
            .entry(segment)
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Applies one formatter; Err says what could not be converted, e.g. `"abc" is not an integer`.
pub fn apply_format(format: &Format, value: &Value) -> Result<Value, String> {
    match format {
        Format::String => scalar_text(value)
            .map(|text| Value::String(text.into_owned()))
            .ok_or_else(|| format!("{} cannot be turned into a string", show(value))),
        Format::Integer => {
            to_integer(value).ok_or_else(|| format!("{} is not an integer", show(value)))
        }
        Format::Float => to_float(value).ok_or_else(|| format!("{} is not a number", show(value))),
        Format::Boolean => to_boolean(value)
            .map(Value::Bool)
            .ok_or_else(|| format!("{} is not a boolean", show(value))),
        Format::Upper => text_op(value, str::to_uppercase),
        Format::Lower => text_op(value, str::to_lowercase),
        Format::Trim => text_op(value, |text| text.trim().to_string()),
        Format::Date(pattern) => format_date(pattern, value),
        Format::Map(table) => {
            let text = scalar_text(value)
                .ok_or_else(|| format!("{} cannot be looked up in a values table", show(value)))?;
            table.get(text.as_ref()).cloned().ok_or_else(|| {
                let mut known: Vec<String> = table
                    .keys()
                    .take(KNOWN_KEYS_SHOWN)
                    .map(|k| format!("{k:?}"))
                    .collect();
                if table.len() > KNOWN_KEYS_SHOWN {
                    known.push("…".to_string());
                }
                format!(
                    "{} is not in the values table (known: {})",
                    show(value),
                    known.join(", ")
                )
            })
        }
    }
}

/// Maps one source record for one connection, comparing with the destination record when there
/// is one (None: the record does not exist there yet, so every field is sent).
pub fn map_record(rules: &[MappingRule], source: &Value, destination: Option<&Value>) -> Mapped {
    match Mapping::new(rules).format(source) {
        Ok(formatted) => formatted.compare(destination).into(),
        Err(problem) => problem.into(),
    }
}

/// A connection's mapping rules made ready for many records: each `date` pattern parsed once,
/// the order in which the hash writes the targets worked out once.
#[derive(Clone, Debug)]
pub struct Mapping {
    rules: Vec<MappingRule>,
    /// Per rule, the parsed items of a `date` pattern; None for other formats (and for a
    /// pattern chrono cannot parse, which then fails per record as [`apply_format`] says).
    dates: Vec<Option<Vec<Item<'static>>>>,
    /// Rule indexes sorted by target (ties in rule order): the canonical hash's key order.
    hash_order: Vec<usize>,
    /// Per rule, its source path split at the dots.
    sources: Vec<Vec<String>>,
    /// The name → id tables the rules' `lookup`s read, loaded for the run.
    lookups: std::sync::Arc<super::lookup_tables::LookupTables>,
}

/// Why a source record cannot be mapped, whatever the destination holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Unmappable {
    /// A `required` rule's source value is absent or null; names the source path.
    MissingSource { field: String },
    /// A formatter could not convert a value: the target field, the value (shortened) and why.
    Error {
        field: String,
        value: String,
        message: String,
    },
}

impl From<Unmappable> for Mapped {
    fn from(problem: Unmappable) -> Mapped {
        match problem {
            Unmappable::MissingSource { field } => Mapped::MissingSource { field },
            Unmappable::Error {
                field,
                value,
                message,
            } => Mapped::Error {
                field,
                value,
                message,
            },
        }
    }
}

/// What comparing a formatted record with the destination gives: [`Mapped`] without the
/// failures, which formatting already caught.
#[derive(Clone, Debug, PartialEq)]
pub enum Comparison {
    Write {
        payload: Value,
        diff: Vec<FieldChange>,
        desired_hash: String,
    },
    Skipped {
        reason: SkipReason,
        desired_hash: String,
    },
}

impl From<Comparison> for Mapped {
    fn from(comparison: Comparison) -> Mapped {
        match comparison {
            Comparison::Write {
                payload,
                diff,
                desired_hash,
            } => Mapped::Write {
                payload,
                diff,
                desired_hash,
            },
            Comparison::Skipped {
                reason,
                desired_hash,
            } => Mapped::Skipped {
                reason,
                desired_hash,
            },
        }
    }
}

/// A source record formatted by every rule, before any lookup: its hash decides new, changed
/// or unchanged; [`Formatted::compare`] then diffs it with the destination.
#[derive(Clone, Debug)]
pub struct Formatted<'m> {
    rules: &'m [MappingRule],
    /// (rule index, formatted value) in rule order; rules skipped on null are absent.
    fields: Vec<(usize, Value)>,
    desired_hash: String,
}

/// A destination record read by dotted path, whatever form it is kept in.
pub trait Fields {
    /// The value at a dotted path, as [`get_path`] reads it.
    fn field(&self, dotted: &str) -> Option<&Value>;
}

impl Fields for Value {
    fn field(&self, dotted: &str) -> Option<&Value> {
        get_path(self, dotted)
    }
}

impl Mapping {
    pub fn new(rules: &[MappingRule]) -> Mapping {
        let dates = rules
            .iter()
            .map(|rule| match &rule.format {
                Some(Format::Date(pattern)) => StrftimeItems::new(pattern).parse_to_owned().ok(),
                _ => None,
            })
            .collect();
        let mut hash_order: Vec<usize> = (0..rules.len()).collect();
        hash_order.sort_by(|&a, &b| rules[a].target.cmp(&rules[b].target));
        let sources = rules
            .iter()
            .map(|rule| rule.source.split('.').map(str::to_string).collect())
            .collect();
        Mapping {
            rules: rules.to_vec(),
            dates,
            hash_order,
            sources,
            lookups: Default::default(),
        }
    }

    /// The rules with the name → id tables their `lookup`s read.
    pub fn with_lookups(
        rules: &[MappingRule],
        lookups: std::sync::Arc<super::lookup_tables::LookupTables>,
    ) -> Mapping {
        Mapping {
            lookups,
            ..Mapping::new(rules)
        }
    }

    pub fn rules(&self) -> &[MappingRule] {
        &self.rules
    }

    /// Formats every field of a source record and hashes the result; Err when a required
    /// field is missing or a value cannot be converted (the first such rule says which).
    pub fn format(&self, source: &Value) -> Result<Formatted<'_>, Unmappable> {
        let mut fields: Vec<(usize, Value)> = Vec::with_capacity(self.rules.len());
        for (index, rule) in self.rules.iter().enumerate() {
            let found = match &rule.value {
                Some(constant) => Some(constant),
                None => get_segments(source, &self.sources[index]),
            };
            let value = match found {
                Some(found) if !found.is_null() => {
                    let formatted = match &rule.format {
                        None => found.clone(),
                        Some(format) => match self.apply(index, format, found) {
                            Ok(formatted) => formatted,
                            Err(message) => {
                                return Err(Unmappable::Error {
                                    field: rule.target.clone(),
                                    value: show(found),
                                    message,
                                });
                            }
                        },
                    };
                    match &rule.lookup {
                        None => formatted,
                        Some(table) => match self.lookups.find(table, &formatted) {
                            Ok(id) => id.clone(),
                            Err(message) => {
                                return Err(Unmappable::Error {
                                    field: rule.target.clone(),
                                    value: show(&formatted),
                                    message,
                                });
                            }
                        },
                    }
                }
                _ if rule.required => {
                    return Err(Unmappable::MissingSource {
                        field: rule.source.clone(),
                    });
                }
                _ => match rule.on_null {
                    OnNull::Skip => continue,
                    OnNull::Clear => Value::Null,
                },
            };
            fields.push((index, value));
        }
        let desired_hash = self.desired_hash(&fields);
        Ok(Formatted {
            rules: &self.rules,
            fields,
            desired_hash,
        })
    }

    /// [`apply_format`], with a `date` pattern parsed ahead when it could be.
    fn apply(&self, index: usize, format: &Format, value: &Value) -> Result<Value, String> {
        match (format, &self.dates[index]) {
            (Format::Date(pattern), Some(items)) => format_date_with(pattern, items.iter(), value),
            _ => apply_format(format, value),
        }
    }

    /// blake3 of the canonical JSON object `{target: value}` of every formatted field: keys
    /// sorted at every level and integral floats written as integers, so it depends only on the
    /// source record. The JSON goes into one buffer, hashed at once.
    fn desired_hash(&self, fields: &[(usize, Value)]) -> String {
        let mut json = Vec::with_capacity(64 * fields.len() + 2);
        json.push(b'{');
        let mut first = true;
        for &index in &self.hash_order {
            // `fields` is in rule order.
            let Ok(at) = fields.binary_search_by_key(&index, |(i, _)| *i) else {
                continue;
            };
            if !first {
                json.push(b',');
            }
            first = false;
            write_key(&mut json, &self.rules[index].target);
            write_canonical(&mut json, &fields[at].1);
        }
        json.push(b'}');
        blake3::hash(&json).to_hex()[..32].to_string()
    }
}

impl Formatted<'_> {
    /// The hash of what the mapping wants the destination to hold.
    pub fn desired_hash(&self) -> &str {
        &self.desired_hash
    }

    /// Compares with the destination record when there is one (None: the record does not exist
    /// there yet, so every field is sent).
    pub fn compare<D: Fields + ?Sized>(self, destination: Option<&D>) -> Comparison {
        let Formatted {
            rules,
            fields,
            desired_hash,
        } = self;
        if fields.is_empty() {
            return Comparison::Skipped {
                reason: SkipReason::Rule,
                desired_hash,
            };
        }
        let mut payload = Value::Object(Map::new());
        let mut diff = Vec::new();
        for (index, new) in fields {
            let rule = &rules[index];
            let compared = rule.compare.as_deref().unwrap_or(&rule.target);
            let old = destination.and_then(|d| d.field(compared));
            if rule.on_same == OnSame::Skip && old.is_some_and(|old| same_value(old, &new)) {
                continue;
            }
            diff.push(FieldChange {
                field: rule.target.clone(),
                old: old.cloned(),
                new: Some(new.clone()),
            });
            set_path(&mut payload, &rule.target, new);
        }
        if diff.is_empty() {
            return Comparison::Skipped {
                reason: SkipReason::NoChange,
                desired_hash,
            };
        }
        Comparison::Write {
            payload,
            diff,
            desired_hash,
        }
    }
}

/// Equality as the destination sees it: numbers by value (16 == 16.0), everything else exactly.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

// Writing to a Vec cannot fail, so the io results below are ignored.
fn write_key(json: &mut Vec<u8>, key: &str) {
    let _ = serde_json::to_writer(&mut *json, key);
    json.push(b':');
}

fn write_object<'v>(json: &mut Vec<u8>, map: &'v Map<String, Value>) {
    json.push(b'{');
    // Sorted here, not trusted to the map, in case a dependency turns on preserve_order.
    if map.keys().is_sorted() {
        write_entries(json, map.iter());
    } else {
        let mut entries: Vec<(&'v String, &'v Value)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        write_entries(json, entries.into_iter());
    }
    json.push(b'}');
}

fn write_entries<'v>(json: &mut Vec<u8>, entries: impl Iterator<Item = (&'v String, &'v Value)>) {
    for (i, (key, value)) in entries.enumerate() {
        if i > 0 {
            json.push(b',');
        }
        write_key(json, key);
        write_canonical(json, value);
    }
}

fn write_canonical(json: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                let _ = write!(json, "{}", f as i64);
            }
            _ => {
                let _ = write!(json, "{n}");
            }
        },
        Value::Array(items) => {
            json.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    json.push(b',');
                }
                write_canonical(json, item);
            }
            json.push(b']');
        }
        Value::Object(map) => write_object(json, map),
        scalar => {
            let _ = serde_json::to_writer(&mut *json, scalar);
        }
    }
}

/// The text of a string, number or boolean; None for null, arrays and objects.
fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

fn text_op(value: &Value, op: impl Fn(&str) -> String) -> Result<Value, String> {
    scalar_text(value)
        .map(|text| Value::String(op(&text)))
        .ok_or_else(|| format!("{} is not text", show(value)))
}

fn to_integer(value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(value.clone()),
        Value::Number(n) => integral(n.as_f64()?),
        Value::String(text) => {
            let text = text.trim();
            if let Ok(i) = text.parse::<i64>() {
                Some(Value::from(i))
            } else if let Ok(u) = text.parse::<u64>() {
                Some(Value::from(u))
            } else {
                integral(text.parse::<f64>().ok()?)
            }
        }
        _ => None,
    }
}

/// A float with no fraction, as an i64 (16.0 → 16); None for 16.5 or out of range.
fn integral(f: f64) -> Option<Value> {
    // i64::MIN is exactly -2^63; 2^63 itself is out of range.
    let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f);
    (f.fract() == 0.0 && in_range).then(|| Value::from(f as i64))
}

fn to_float(value: &Value) -> Option<Value> {
    let f = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    // NaN and infinities have no JSON form.
    serde_json::Number::from_f64(f).map(Value::Number)
}

fn to_boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64()? {
            0.0 => Some(false),
            1.0 => Some(true),
            _ => None,
        },
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Reads an RFC 3339 date-time, `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` (dates and times without
/// an offset are taken as UTC) and writes it with the strftime pattern.
fn format_date(pattern: &str, value: &Value) -> Result<Value, String> {
    format_date_with(pattern, StrftimeItems::new(pattern), value)
}

/// [`format_date`] with the pattern's items (parsed ahead, or as it goes).
fn format_date_with<'a, I, B>(pattern: &str, items: I, value: &Value) -> Result<Value, String>
where
    I: Iterator<Item = B> + Clone,
    B: Borrow<Item<'a>>,
{
    let moment = read_moment(value).ok_or_else(|| {
        format!(
            "{} is not a date (expected RFC 3339, YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)",
            show(value)
        )
    })?;
    let mut out = String::new();
    write!(out, "{}", moment.format_with_items(items))
        .map_err(|_| format!("the pattern \"{pattern}\" cannot format {}", show(value)))?;
    Ok(Value::String(out))
}

/// The moment a date text names, in the three shapes [`format_date`] reads.
fn read_moment(value: &Value) -> Option<DateTime<FixedOffset>> {
    let Value::String(text) = value else {
        return None;
    };
    let text = text.trim();
    // The usual shape first: only a date fits in 10 bytes (RFC 3339 and the date-times are
    // longer), so this reads what the chain below would, without parsing a format string.
    if let Some(date) = plain_date(text) {
        return Some(date.and_time(NaiveTime::MIN).and_utc().fixed_offset());
    }
    DateTime::parse_from_rfc3339(text).ok().or_else(|| {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
            .or_else(|_| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(NaiveTime::MIN))
            })
            .ok()
            .map(|naive| naive.and_utc().fixed_offset())
    })
}

/// `DDDD-DD-DD` as a valid date; None for anything else (left to chrono's parsers).
fn plain_date(text: &str) -> Option<NaiveDate> {
    let bytes: &[u8; 10] = text.as_bytes().try_into().ok()?;
    let digits = |range: std::ops::Range<usize>| {
        bytes[range].iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    if bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn rule(source: &str, target: &str) -> MappingRule {
        let (source, target) = (source.to_string(), target.to_string());
        let (on_null, on_same) = (OnNull::Skip, OnSame::Skip);
        MappingRule {
            source,
            value: None,
            target,
            compare: None,
            lookup: None,
            format: None,
            required: false,
            on_null,
            on_same,
        }
    }

    fn with(mut rule: MappingRule, change: impl FnOnce(&mut MappingRule)) -> MappingRule {
        change(&mut rule);
        rule
    }

    fn with_format(format: Format, source: &str, target: &str) -> MappingRule {
        with(rule(source, target), |r| r.format = Some(format))
    }

    fn list(items: Value) -> Vec<Value> {
        items.as_array().cloned().unwrap_or_default()
    }

    /// Checks `[input, output]` pairs; an output `{"err": text}` expects that error (`true`: any).
    /// Outputs compare exactly: 16 and 16.0 differ here.
    fn check(format: Format, cases: Value) {
        for case in list(cases) {
            let (input, want) = (&case[0], &case[1]);
            let got = apply_format(&format, input);
            match want.get("err") {
                Some(Value::String(err)) => assert_eq!(got, Err(err.clone()), "{input}"),
                Some(_) => assert!(got.is_err(), "{input} gave {got:?}"),
                None => assert_eq!(got, Ok(want.clone()), "{input}"),
            }
        }
    }

    fn write_of(mapped: Mapped) -> (Value, Vec<FieldChange>) {
        match mapped {
            Mapped::Write { payload, diff, .. } => (payload, diff),
            other => panic!("expected a write, got {other:?}"),
        }
    }

    fn skip_of(mapped: &Mapped) -> Option<SkipReason> {
        match mapped {
            Mapped::Skipped { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    fn change(field: &str, old: Option<Value>, new: Value) -> FieldChange {
        FieldChange {
            field: field.into(),
            old,
            new: Some(new),
        }
    }

    fn hash_of(mapped: &Mapped) -> &str {
        match mapped {
            Mapped::Write { desired_hash, .. } => desired_hash,
            Mapped::Skipped { desired_hash, .. } => desired_hash,
            other => panic!("no hash in {other:?}"),
        }
    }

    #[test]
    fn get_path_reads_nested_keys_and_array_indexes() {
        let record = json!({"hardware": {"memory_gb": 16}, "tags": ["a", {"k": "v"}]});
        assert_eq!(get_path(&record, "hardware.memory_gb"), Some(&json!(16)));
        assert_eq!(get_path(&record, "tags.0"), Some(&json!("a")));
        assert_eq!(get_path(&record, "tags.1.k"), Some(&json!("v")));
        for absent in ["tags.2", "tags.x", "hardware.memory_gb.more", "missing"] {
            assert_eq!(get_path(&record, absent), None, "{absent}");
        }
    }

    #[test]
    fn set_path_nests_objects_and_replaces_scalars_in_the_way() {
        let mut target = json!({"user": "plain", "keep": 1});
        set_path(&mut target, "user.email", json!("a@b"));
        set_path(&mut target, "user.name.first", json!("Ann"));
        set_path(&mut target, "top", json!(null));
        let want =
            json!({"user": {"email": "a@b", "name": {"first": "Ann"}}, "keep": 1, "top": null});
        assert_eq!(target, want);
        let mut scalar = json!(5);
        set_path(&mut scalar, "a", json!(1));
        assert_eq!(scalar, json!({"a": 1}));
    }

    #[test]
    fn string_formatter_turns_scalars_to_text() {
        let cases = json!([
            [16, "16"], [2.5, "2.5"], [true, "true"], ["x", "x"],
            [[1, 2], {"err": "[1,2] cannot be turned into a string"}], [{"a": 1}, {"err": 1}],
        ]);
        check(Format::String, cases);
    }

    #[test]
    fn integer_formatter_accepts_integral_numbers_and_numeric_strings() {
        let cases = json!([
            [16, 16], [16.0, 16], ["16", 16], [" 16 ", 16], ["16.0", 16], ["-3", -3],
            [u64::MAX, u64::MAX], ["1e3", 1000],
            ["abc", {"err": "\"abc\" is not an integer"}],
            [16.5, {"err": "16.5 is not an integer"}],
            ["16.5", {"err": 1}], [true, {"err": 1}], ["1e30", {"err": 1}], [[], {"err": 1}],
        ]);
        check(Format::Integer, cases);
    }

    #[test]
    fn float_formatter_accepts_numbers_and_numeric_strings() {
        let cases = json!([
            [16, 16.0], [" 3.25 ", 3.25], ["-1e2", -100.0],
            ["abc", {"err": "\"abc\" is not a number"}],
            ["NaN", {"err": 1}], ["inf", {"err": 1}], [false, {"err": 1}], ["1,5", {"err": 1}],
        ]);
        check(Format::Float, cases);
    }

    #[test]
    fn boolean_formatter_reads_words_and_digits() {
        let cases = json!([
            [true, true], ["TRUE", true], ["Yes", true], ["1", true], [1, true],
            [false, false], [" false ", false], ["NO", false], ["0", false], [0.0, false],
            ["maybe", {"err": "\"maybe\" is not a boolean"}], [2, {"err": 1}], [[], {"err": 1}],
        ]);
        check(Format::Boolean, cases);
    }

    #[test]
    fn text_formatters_change_case_and_trim() {
        let cases = json!([["In Use", "IN USE"], [12, "12"], [true, "TRUE"]]);
        check(Format::Upper, cases);
        let cases = json!([["In Use", "in use"], [{"a": 1}, {"err": "{\"a\":1} is not text"}]]);
        check(Format::Lower, cases);
        let cases = json!([["  x y \t", "x y"], [1.5, "1.5"], [[" a "], {"err": 1}]]);
        check(Format::Trim, cases);
    }

    #[test]
    fn date_formatter_reads_three_input_shapes() {
        let date = |pattern: &str| Format::Date(pattern.into());
        let cases = json!([["2024-03-05T10:20:30+02:00", "05/03/2024 10:20 +0200"]]);
        check(date("%d/%m/%Y %H:%M %z"), cases);
        let cases = json!([["2024-03-05", "20240305 00:00:00"]]);
        check(date("%Y%m%d %H:%M:%S"), cases);
        let cases = json!([["2024-03-05 10:20:30", "2024-03-05T10:20:30+00:00"]]);
        check(date("%Y-%m-%dT%H:%M:%S%:z"), cases);
        let expected = "expected RFC 3339, YYYY-MM-DD or YYYY-MM-DD HH:MM:SS";
        let cases = json!([
            ["yesterday", {"err": format!("\"yesterday\" is not a date ({expected})")}],
            ["2024-02-30", {"err": 1}], ["05/03/2024", {"err": 1}], [20240305, {"err": 1}],
            ["2024-03-05 25:00:00", {"err": 1}],
        ]);
        check(date("%Y"), cases);
    }

    #[test]
    fn map_formatter_looks_up_text_and_names_known_keys() {
        let keys = ["a", "b", "c", "d", "e", "f", "1", "true"];
        let table = keys.map(|k| (k.to_string(), json!(format!("<{k}>"))));
        let cases = json!([
            ["a", "<a>"], [1, "<1>"], [true, "<true>"],
            ["zzz", {"err": concat!(
                "\"zzz\" is not in the values table ",
                "(known: \"1\", \"a\", \"b\", \"c\", \"d\", …)"
            )}],
        ]);
        check(Format::Map(table.into()), cases);
        let small = BTreeMap::from([("x".to_string(), json!(1))]);
        let cases = json!([["y", {"err": "\"y\" is not in the values table (known: \"x\")"}]]);
        check(Format::Map(small), cases);
    }

    #[test]
    fn a_new_record_sends_every_field_nested_with_no_old_values() {
        let rules = [
            rule("serial", "asset.serial"),
            rule("tags.1", "asset.hw.ram"),
        ];
        let source = json!({"serial": "S1", "tags": ["x", 16]});
        let (payload, diff) = write_of(map_record(&rules, &source, None));
        assert_eq!(
            payload,
            json!({"asset": {"serial": "S1", "hw": {"ram": 16}}})
        );
        let want = [
            change("asset.serial", None, json!("S1")),
            change("asset.hw.ram", None, json!(16)),
        ];
        assert_eq!(diff, want);
    }

    #[test]
    fn a_required_field_absent_or_null_is_missing_source_naming_the_first() {
        let owner = with(rule("owner.name", "owner"), |r| r.required = true);
        let model = with(rule("model", "model"), |r| r.required = true);
        let rules = [rule("serial", "serial"), owner, model];
        let missing = Mapped::MissingSource {
            field: "owner.name".into(),
        };
        for source in [json!({"serial": "S1"}), json!({"owner": {"name": null}})] {
            assert_eq!(map_record(&rules, &source, None), missing, "{source}");
        }
    }

    #[test]
    fn on_null_skip_drops_clear_sends_null_and_nothing_left_is_a_rule_skip() {
        let clear = with(rule("location", "site"), |r| r.on_null = OnNull::Clear);
        let rules = [rule("owner", "owner"), clear];
        let destination = json!({"site": "HQ", "owner": "Ann"});
        let mapped = map_record(&rules, &json!({"owner": null}), Some(&destination));
        let (payload, diff) = write_of(mapped);
        assert_eq!(payload, json!({"site": null}));
        assert_eq!(diff, [change("site", Some(json!("HQ")), Value::Null)]);

        let skipped = map_record(&rules[..1], &json!({"owner": null}), Some(&destination));
        assert_eq!(skip_of(&skipped), Some(SkipReason::Rule));
        assert_eq!(
            skip_of(&map_record(&[], &destination, None)),
            Some(SkipReason::Rule)
        );
        assert_eq!(SkipReason::Rule.code(), "rule");
    }

    #[test]
    fn on_same_skip_drops_equal_fields_and_all_equal_is_no_change() {
        let rules = [rule("a", "a"), rule("b", "x.b")];
        let source = json!({"a": "same", "b": 2});
        let destination = json!({"a": "same", "x": {"b": 1}});
        let (payload, diff) = write_of(map_record(&rules, &source, Some(&destination)));
        assert_eq!(payload, json!({"x": {"b": 2}}));
        assert_eq!(diff, [change("x.b", Some(json!(1)), json!(2))]);

        let equal = json!({"a": "same", "x": {"b": 2}});
        let skipped = map_record(&rules, &source, Some(&equal));
        assert_eq!(skip_of(&skipped), Some(SkipReason::NoChange));
        assert_eq!(SkipReason::NoChange.code(), "no_change");

        // A null destination value matches a cleared field; an absent one does not.
        let clear = [with(rule("site", "site"), |r| r.on_null = OnNull::Clear)];
        let null_there = map_record(&clear, &source, Some(&json!({"site": null})));
        assert_eq!(skip_of(&null_there), Some(SkipReason::NoChange));
        let (_, diff) = write_of(map_record(&clear, &source, Some(&json!({}))));
        assert_eq!(diff, [change("site", None, Value::Null)]);
    }

    #[test]
    fn on_same_write_keeps_equal_fields() {
        let always = [with(rule("a", "a"), |r| r.on_same = OnSame::Write)];
        let (payload, diff) = write_of(map_record(
            &always,
            &json!({"a": 1}),
            Some(&json!({"a": 1})),
        ));
        assert_eq!(payload, json!({"a": 1}));
        assert_eq!(diff, [change("a", Some(json!(1)), json!(1))]);
    }

    #[test]
    fn comparison_is_semantic_for_numbers_and_exact_for_strings() {
        assert!(same_value(&json!(16), &json!(16.0)));
        assert!(same_value(&json!({"v": [1, 2.0]}), &json!({"v": [1.0, 2]})));
        assert!(!same_value(&json!(16), &json!("16")));
        assert!(!same_value(&json!("Abc"), &json!("abc")));
        assert!(!same_value(&json!(16), &json!(16.5)));
        assert!(!same_value(&json!({"a": 1}), &json!({"a": 1, "b": 2})));

        let rules = [
            with_format(Format::Integer, "ram", "ram"),
            rule("name", "name"),
        ];
        let source = json!({"ram": "16", "name": "Abc"});
        let destination = json!({"ram": 16.0, "name": "abc"});
        let (payload, _) = write_of(map_record(&rules, &source, Some(&destination)));
        assert_eq!(payload, json!({"name": "Abc"}));
    }

    #[test]
    fn a_formatter_error_names_the_target_field_and_a_short_value() {
        let rules = [
            rule("serial", "serial"),
            with_format(Format::Integer, "hw.ram", "memory_gb"),
        ];
        let source = json!({"serial": "S", "hw": {"ram": "lots"}});
        let want = Mapped::Error {
            field: "memory_gb".into(),
            value: "\"lots\"".into(),
            message: "\"lots\" is not an integer".into(),
        };
        assert_eq!(map_record(&rules, &source, None), want);

        let long = json!({"hw": {"ram": "x".repeat(500)}});
        let Mapped::Error { value, message, .. } = map_record(&rules, &long, None) else {
            panic!("expected an error");
        };
        assert_eq!(value, format!("\"{}…", "x".repeat(58)));
        assert_eq!(message, format!("{value} is not an integer"));
    }

    #[test]
    fn the_hash_depends_only_on_the_formatted_source_fields() {
        let site = with(rule("site", "site"), |r| r.on_same = OnSame::Write);
        let rules = [
            rule("a", "a"),
            rule("b.c", "x.c"),
            rule("gone", "gone"),
            site,
        ];
        let source = json!({"a": {"p": 1, "q": [1, 2]}, "b": {"c": 2}, "site": "HQ"});
        let hash = |rules: &[MappingRule], source: &Value, destination: Option<&Value>| {
            hash_of(&map_record(rules, source, destination)).to_string()
        };
        let new = hash(&rules, &source, None);
        assert_eq!(new.len(), 32);
        assert_eq!(
            new,
            hash(&rules, &source, Some(&json!({"a": {"q": [1, 2], "p": 1}})))
        );
        assert_eq!(new, hash(&rules, &source, Some(&json!({"site": "Lab"}))));

        // Source key order, rule order, 2 vs 2.0 and a skipped null field do not matter.
        let reordered = json!({"site": "HQ", "b": {"c": 2.0}, "a": {"q": [1, 2], "p": 1}});
        let fewer_rules = [rules[3].clone(), rules[1].clone(), rules[0].clone()];
        assert_eq!(new, hash(&fewer_rules, &reordered, None));

        let changed = json!({"a": {"p": 1, "q": [1, 3]}, "b": {"c": 2}, "site": "HQ"});
        assert_ne!(new, hash(&rules, &changed, None));
        let cleared = [with(rules[2].clone(), |r| r.on_null = OnNull::Clear)];
        assert_ne!(
            hash(&rules[2..3], &source, None),
            hash(&cleared, &source, None)
        );
    }
}
