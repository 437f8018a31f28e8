//! The verification read after a 202 Accepted (SPEC section 3 step 5): the record read back
//! through the fetch contract's per-serial lookup, and every written field compared with what the
//! destination holds (numbers by value, a cleared field null or absent).

use reqwest::Method as HttpMethod;
use serde_json::Value;

use super::deliver::{Deliverer, append_query, fill_placeholders, scalar_text};
use super::exchange::{Ending, Exchange, join_reason};
use super::hints;
use super::paging::fill_query;
use super::values::get_path;
use crate::config::ResultsPosition;
use crate::store::EntryError;

/// At most this much of a verification read is read.
const READ_BODY_CAP: usize = 4 * 1024 * 1024;

impl Deliverer {
    /// After a 202: reads the record back (through the fetch contract's per-serial lookup: GET
    /// fetch.path with fetch.query, {serial} replaced, list at fetch.results_position, record whose
    /// fetch.serial_field equals the serial) and checks every payload field landed (dotted paths,
    /// numbers compared semantically). Ok(true) = landed.
    ///
    /// No record for the serial is Ok(false); several are an error (ambiguous destination).
    pub async fn verify(&self, serial: &str, payload: &Value) -> Result<bool, EntryError> {
        let fail = |message: String, url: Option<String>| EntryError {
            message: self.client.redact(&message),
            method: Some("GET".to_string()),
            url,
            ..EntryError::default()
        };
        let path = fill_placeholders(&self.fetch.path, None, serial).map_err(|m| fail(m, None))?;
        let query = fill_query(self.fetch.query.iter(), serial);
        let mut url = self.client.url(&path.path, &query);
        if let Some(extra) = &path.query {
            append_query(&mut url, extra);
        }
        let shown_url = self.client.redact_url(&url);
        let Exchange { ending, .. } = self
            .line()
            .exchange(
                HttpMethod::GET,
                &url,
                None,
                true,
                READ_BODY_CAP,
                &mut |_| {},
            )
            .await;
        let body = match ending {
            Ending::Answered(answer) if answer.is_success() => {
                if answer.truncated {
                    return Err(fail(
                        format!(
                            "verification read: the lookup response is larger than {} MiB",
                            READ_BODY_CAP / (1024 * 1024)
                        ),
                        Some(shown_url),
                    ));
                }
                answer.body
            }
            Ending::Answered(answer) => {
                let mut error = self.line().http_error(&answer, "GET", &shown_url);
                error.message = self
                    .client
                    .redact(&format!("verification read: {}", error.message));
                if answer.status == 404 {
                    error.hint = Some(
                        "wrong lookup path: check the fetch contract path and query".to_string(),
                    );
                }
                return Err(error);
            }
            Ending::NoToken(text) => {
                let mut error = fail(format!("verification read: {text}"), Some(shown_url));
                error.hint = Some(super::credentials::TOKEN_HINT.to_string());
                return Err(error);
            }
            Ending::Unanswered { text, gave_up, .. } => {
                let mut error = fail(
                    format!(
                        "verification read: {}",
                        join_reason(&text, gave_up.as_deref())
                    ),
                    Some(shown_url),
                );
                error.hint = Some(hints::DESTINATION_DOWN.to_string());
                return Err(error);
            }
        };
        let document: Value = serde_json::from_slice(&body).map_err(|_| {
            fail(
                "verification read: the lookup response is not JSON".to_string(),
                Some(shown_url.clone()),
            )
        })?;
        let records = match results(&document, &self.fetch.results_position) {
            Some(records) => records,
            None => {
                let position: String = self.fetch.results_position.clone().into();
                return Err(EntryError {
                    hint: Some(hints::NOTHING_FETCHED.to_string()),
                    ..fail(
                        format!(
                            "verification read: no list at results position '{position}' \
                             (top-level keys: {})",
                            top_level_keys(&document)
                        ),
                        Some(shown_url),
                    )
                });
            }
        };
        let matching: Vec<&Value> = records
            .into_iter()
            .filter(|record| {
                get_path(record, &self.fetch.serial_field)
                    .and_then(scalar_text)
                    .as_deref()
                    == Some(serial)
            })
            .collect();
        let record = match matching.as_slice() {
            [] => {
                tracing::debug!(serial, "verification read found no destination record");
                return Ok(false);
            }
            [record] => *record,
            several => {
                return Err(fail(
                    format!(
                        "verification read: ambiguous destination: {} records have serial {serial}",
                        several.len()
                    ),
                    Some(shown_url),
                ));
            }
        };
        let mut leaves = Vec::new();
        flatten(payload, String::new(), &mut leaves);
        let missed: Vec<&str> = leaves
            .iter()
            .filter(|(path, expected)| !landed(expected, get_path(record, path)))
            .map(|(path, _)| path.as_str())
            .collect();
        if !missed.is_empty() {
            tracing::debug!(serial, fields = ?missed, "verification read: fields not landed yet");
        }
        Ok(missed.is_empty())
    }
}

/// The records at a results position; a single object there counts as one record.
fn results<'a>(document: &'a Value, position: &ResultsPosition) -> Option<Vec<&'a Value>> {
    let list = match position {
        ResultsPosition::Root | ResultsPosition::Single => document,
        ResultsPosition::Path(position) => position.find(document)?,
    };
    match list {
        Value::Array(items) => Some(items.iter().collect()),
        Value::Object(_) => Some(vec![list]),
        _ => None,
    }
}

fn top_level_keys(document: &Value) -> String {
    match document {
        Value::Object(object) if !object.is_empty() => {
            object.keys().cloned().collect::<Vec<_>>().join(", ")
        }
        Value::Object(_) => "none".to_string(),
        Value::Array(_) => "none: the body is a bare array (use _root)".to_string(),
        _ => "none".to_string(),
    }
}
/// The leaves of a payload as (dotted path, value); an empty object is a leaf.
fn flatten(value: &Value, prefix: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(object) if !object.is_empty() => {
            for (key, inner) in object {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(inner, path, out);
            }
        }
        other => out.push((prefix, other.clone())),
    }
}

/// Whether the destination holds what was written: numbers compare by value (16 = 16.0 = "16"),
/// a cleared field may come back null or absent.
fn landed(expected: &Value, actual: Option<&Value>) -> bool {
    match (expected, actual) {
        (Value::Null, None | Some(Value::Null)) => true,
        (Value::Object(object), None | Some(Value::Null)) if object.is_empty() => true,
        (_, None) => false,
        (expected, Some(actual)) => same(expected, actual),
    }
}

fn same(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => same_number(a, b),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            match (s.trim().parse::<f64>(), n.as_f64()) {
                (Ok(parsed), Some(number)) => parsed == number,
                _ => false,
            }
        }
        (Value::Bool(flag), Value::String(s)) | (Value::String(s), Value::Bool(flag)) => s
            .trim()
            .eq_ignore_ascii_case(if *flag { "true" } else { "false" }),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.iter().all(|(key, value)| landed(value, b.get(key)))
        }
        (a, b) => a == b,
    }
}

fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y || (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()),
        _ => false,
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn landed_compares_numbers_semantically() {
        assert!(landed(&json!(16), Some(&json!(16.0))));
        assert!(landed(&json!(16), Some(&json!("16"))));
        assert!(landed(&json!("16"), Some(&json!(16))));
        assert!(!landed(&json!(16), Some(&json!(17))));
        assert!(landed(&json!(null), None));
        assert!(landed(&json!(null), Some(&json!(null))));
        assert!(!landed(&json!("a"), None));
        assert!(landed(&json!(true), Some(&json!("true"))));
        assert!(landed(&json!([1, 2]), Some(&json!([1.0, "2"]))));
        assert!(!landed(&json!([1, 2]), Some(&json!([1]))));
    }

    #[test]
    fn payload_leaves_use_dotted_paths() {
        let mut leaves = Vec::new();
        flatten(
            &json!({"a": 1, "user": {"email": "e", "name": null}, "empty": {}}),
            String::new(),
            &mut leaves,
        );
        let paths: Vec<&str> = leaves.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, vec!["a", "empty", "user.email", "user.name"]);
    }

    #[test]
    fn results_positions() {
        let doc = json!({"data": {"items": [{"a": 1}, {"a": 2}]}});
        let position = ResultsPosition::parse("data.items").unwrap();
        assert_eq!(results(&doc, &position).map(|r| r.len()), Some(2));
        assert_eq!(
            results(&json!([{"a": 1}]), &ResultsPosition::Root).map(|r| r.len()),
            Some(1)
        );
        assert!(results(&doc, &ResultsPosition::parse("nope").unwrap()).is_none());
    }
}
