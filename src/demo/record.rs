//! Destination records: the field schema each demo destination validates writes against, and
//! dotted-path access to nested JSON fields.

use chrono::NaiveDate;
use serde_json::{Map, Value};

/// What a destination accepts in one field.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Text,
    Integer,
    /// One of these exact strings.
    Choice(&'static [&'static str]),
    /// A date in this strftime format.
    Date(&'static str),
    /// Set by the destination; a write naming it is refused.
    ReadOnly,
}

/// The fields of one destination's records, by dotted path.
pub(crate) type Schema = [(&'static str, Kind)];

fn kind_of(schema: &Schema, field: &str) -> Result<Kind, String> {
    schema
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| format!("unknown field '{field}'"))
}

/// Why a JSON value cannot be written to `field`, if it cannot. Null clears any writable field.
pub(crate) fn check_json(schema: &Schema, field: &str, value: &Value) -> Result<(), String> {
    let kind = kind_of(schema, field)?;
    match (kind, value) {
        (Kind::ReadOnly, _) => Err(format!("field '{field}' is read-only")),
        (_, Value::Null) | (Kind::Text, Value::String(_)) => Ok(()),
        (Kind::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
        (Kind::Integer, other) => Err(format!("field '{field}' expects an integer, got {other}")),
        (Kind::Choice(_) | Kind::Date(_), Value::String(text)) => check_text(schema, field, text),
        (_, other) => Err(format!("field '{field}' expects a string, got {other}")),
    }
}

/// Why a text value (from XML) cannot be written to `field`, if it cannot.
pub(crate) fn check_text(schema: &Schema, field: &str, text: &str) -> Result<(), String> {
    match kind_of(schema, field)? {
        Kind::ReadOnly => Err(format!("field '{field}' is read-only")),
        Kind::Text => Ok(()),
        Kind::Integer => text
            .trim()
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| format!("field '{field}' expects an integer, got '{text}'")),
        Kind::Choice(allowed) if allowed.contains(&text) => Ok(()),
        Kind::Choice(allowed) => Err(format!(
            "'{text}' is not a valid {field} (accepted: {})",
            allowed.join(", ")
        )),
        Kind::Date(format) => NaiveDate::parse_from_str(text, format)
            .map(|_| ())
            .map_err(|_| format!("field '{field}' expects a date like {format}, got '{text}'")),
    }
}

/// The leaf fields of a JSON object body as (dotted path, value); nested objects are flattened.
pub(crate) fn flatten(body: &Value) -> Result<Vec<(String, Value)>, String> {
    let Value::Object(object) = body else {
        return Err("the body must be a JSON object".to_string());
    };
    let mut out = Vec::new();
    flatten_into("", object, &mut out);
    Ok(out)
}

fn flatten_into(prefix: &str, object: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (key, value) in object {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) if !inner.is_empty() => flatten_into(&path, inner, out),
            other => out.push((path, other.clone())),
        }
    }
}

/// Sets a dotted path, creating intermediate objects.
pub(crate) fn set_path(record: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            record.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let slot = record
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                set_path(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &Schema = &[
        ("id", Kind::ReadOnly),
        ("name", Kind::Text),
        ("ram_gb", Kind::Integer),
        ("status", Kind::Choice(&["In Use", "Retired"])),
        ("bought", Kind::Date("%Y-%m-%d")),
        ("user.email", Kind::Text),
    ];

    #[test]
    fn checks_types_names_and_read_only_fields() {
        assert!(check_json(SCHEMA, "name", &json!("x")).is_ok());
        assert!(check_json(SCHEMA, "name", &Value::Null).is_ok());
        assert!(check_json(SCHEMA, "ram_gb", &json!(16)).is_ok());
        assert!(check_json(SCHEMA, "ram_gb", &json!("16")).is_err());
        assert!(check_json(SCHEMA, "status", &json!("Broken")).is_err());
        assert!(check_json(SCHEMA, "bought", &json!("01/04/2023")).is_err());
        assert!(check_json(SCHEMA, "bought", &json!("2023-04-01")).is_ok());
        assert_eq!(
            check_json(SCHEMA, "id", &json!("x")),
            Err("field 'id' is read-only".to_string())
        );
        assert_eq!(
            check_text(SCHEMA, "colour", "red"),
            Err("unknown field 'colour'".to_string())
        );
    }

    #[test]
    fn flattens_nested_objects_and_sets_them_back() {
        let fields = flatten(&json!({"name": "a", "user": {"email": "b"}})).unwrap_or_default();
        assert_eq!(
            fields,
            vec![
                ("name".to_string(), json!("a")),
                ("user.email".to_string(), json!("b"))
            ]
        );
        let mut record = Map::new();
        for (path, value) in fields {
            set_path(&mut record, &path, value);
        }
        assert_eq!(
            Value::Object(record),
            json!({"name": "a", "user": {"email": "b"}})
        );
        assert!(flatten(&json!([1])).is_err());
    }
}
