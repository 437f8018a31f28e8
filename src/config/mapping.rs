//! `[[connections.mapping]]`: field rules with their formatters, constants, compare paths and
//! lookups.

use std::collections::HashSet;

use super::fields::read_dotted;
use super::model::*;
use super::reader::{Reader, Table};

const MAPPING_KEYS: &[&str] = &[
    "source", "value", "target", "compare", "lookup", "format", "values", "required", "on_null",
    "on_same",
];

pub(super) fn read_mapping(
    r: &mut Reader,
    connection: &Table,
    lookups: &[LookupTable],
) -> Vec<MappingRule> {
    let tables = r.tables(connection, "mapping");
    if tables.is_empty() {
        r.problem(
            connection.span.clone(),
            connection.key_path("mapping"),
            "no [[connections.mapping]] rules: a connection needs at least one field rule",
        );
    }
    let mut targets = HashSet::new();
    let mut out = Vec::new();
    for t in &tables {
        r.check_keys(t, MAPPING_KEYS);
        let value = r.scalar(t, "value");
        let source = match (&value, t.map.get("source").is_some()) {
            (Some(_), true) => {
                let span = r.span_of(t, "value");
                r.problem(
                    span,
                    t.key_path("value"),
                    "a rule writes either a source value or a constant `value`, not both",
                );
                String::new()
            }
            (Some(_), false) => String::new(),
            (None, _) => match read_dotted(r, t, "source", false) {
                Some(source) => source,
                None => {
                    if t.map.get("value").is_none() {
                        r.problem(
                            t.span.clone(),
                            t.key_path("source"),
                            "missing key `source` (or a constant `value`)",
                        );
                    }
                    String::new()
                }
            },
        };
        let target = read_dotted(r, t, "target", true).unwrap_or_default();
        let compare = read_dotted(r, t, "compare", false);
        let lookup = r.spanned_string(t, "lookup", false).map(|(name, span)| {
            if !lookups.iter().any(|l| l.name == name) {
                let known: Vec<&str> = lookups.iter().map(|l| l.name.as_str()).collect();
                let known = if known.is_empty() {
                    "no [[connections.lookups]] are defined".to_string()
                } else {
                    format!("defined: {}", known.join(", "))
                };
                r.problem(
                    span,
                    t.key_path("lookup"),
                    format!(
                        "lookup \"{name}\" is not defined in [[connections.lookups]] ({known})"
                    ),
                );
            }
            name
        });
        if !target.is_empty() && !targets.insert(target.clone()) {
            let span = r.span_of(t, "target");
            r.problem(
                span,
                t.key_path("target"),
                format!("target \"{target}\" is written by an earlier rule too"),
            );
        }
        let format = read_format(r, t);
        let on_null = match r.spanned_string(t, "on_null", false) {
            None => OnNull::Skip,
            Some((v, _)) if v == "skip" => OnNull::Skip,
            Some((v, _)) if v == "clear" => OnNull::Clear,
            Some((v, span)) => {
                r.problem(
                    span,
                    t.key_path("on_null"),
                    format!("unknown on_null \"{v}\" (expected skip or clear)"),
                );
                OnNull::Skip
            }
        };
        let on_same = match r.spanned_string(t, "on_same", false) {
            None => OnSame::Skip,
            Some((v, _)) if v == "skip" => OnSame::Skip,
            Some((v, _)) if v == "write" => OnSame::Write,
            Some((v, span)) => {
                r.problem(
                    span,
                    t.key_path("on_same"),
                    format!("unknown on_same \"{v}\" (expected skip or write)"),
                );
                OnSame::Skip
            }
        };
        out.push(MappingRule {
            source,
            value,
            target,
            compare,
            lookup,
            format,
            required: r.bool(t, "required").unwrap_or(false),
            on_null,
            on_same,
        });
    }
    out
}

const FORMATS: &str = "string, integer, float, boolean, upper, lower, trim, date:<strftime> or map";

fn read_format(r: &mut Reader, t: &Table) -> Option<Format> {
    let values = r.scalar_map(t, "values");
    let spanned = r.spanned_string(t, "format", false);
    let format = match spanned.as_ref().map(|(f, _)| f.as_str()) {
        None => None,
        Some("string") => Some(Format::String),
        Some("integer") => Some(Format::Integer),
        Some("float") => Some(Format::Float),
        Some("boolean") => Some(Format::Boolean),
        Some("upper") => Some(Format::Upper),
        Some("lower") => Some(Format::Lower),
        Some("trim") => Some(Format::Trim),
        Some("map") => match &values {
            Some(values) => Some(Format::Map(values.clone())),
            None => {
                let span = r.span_of(t, "format");
                r.problem(
                    span,
                    t.key_path("values"),
                    "format = \"map\" needs a `values` table, e.g. values = { in_use = \"In Use\" }",
                );
                None
            }
        },
        Some(other) => match other.strip_prefix("date:") {
            Some(pattern) if is_valid_strftime(pattern) => Some(Format::Date(pattern.to_string())),
            Some(pattern) => {
                let span = r.span_of(t, "format");
                r.problem(
                    span,
                    t.key_path("format"),
                    format!("\"{pattern}\" is not a valid strftime pattern (e.g. date:%Y-%m-%d)"),
                );
                None
            }
            None => {
                let span = r.span_of(t, "format");
                r.problem(
                    span,
                    t.key_path("format"),
                    format!("unknown formatter \"{other}\" (expected {FORMATS})"),
                );
                None
            }
        },
    };
    if values.is_some() && !matches!(spanned.as_ref().map(|(f, _)| f.as_str()), Some("map")) {
        let span = r.span_of(t, "values");
        r.problem(
            span,
            t.key_path("values"),
            "`values` applies only to format = \"map\"",
        );
    }
    format
}

fn is_valid_strftime(pattern: &str) -> bool {
    use chrono::format::{Item, StrftimeItems};
    !pattern.is_empty() && StrftimeItems::new(pattern).all(|item| !matches!(item, Item::Error))
}
