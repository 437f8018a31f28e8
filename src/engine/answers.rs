//! Errors and "not found" inside a 2xx (SPEC section 11): `success_when` on update and create,
//! `missing_when` on fetch. Snipe-IT, for one, answers HTTP 200 `{"status": "error", …}`.

use serde_json::Value;

use super::mapping::same_value;
use super::values::{get_path, show};
use super::wire::error_details;
use crate::config::Condition;

/// Whether the JSON answer holds `condition.equals` at `condition.path` (numbers by value; a
/// number and its text are the same).
pub fn matches(body: &Value, condition: &Condition) -> bool {
    let Some(found) = get_path(body, &condition.path) else {
        return false;
    };
    same_value(found, &condition.equals)
        || match (found, &condition.equals) {
            (Value::String(text), Value::Number(n)) | (Value::Number(n), Value::String(text)) => {
                text.trim() == n.to_string()
            }
            _ => false,
        }
}

/// Why a 2xx write answer is not a success under `success_when`, with the body's own message;
/// None when it is one.
pub(crate) fn refused_in_body(body: &[u8], condition: &Condition) -> Option<Refusal> {
    let document = serde_json::from_slice::<Value>(body).ok();
    if document.as_ref().is_some_and(|d| matches(d, condition)) {
        return None;
    }
    let found = document
        .as_ref()
        .and_then(|d| get_path(d, &condition.path))
        .map(show);
    let (code, message) = error_details(body);
    let said = match &found {
        Some(found) => format!("{} is {found}, not {}", condition.path, condition.equals),
        None if document.is_none() => "the answer is not JSON".to_string(),
        None => format!("the answer has no {}", condition.path),
    };
    Some(Refusal {
        code,
        summary: match &message {
            Some(message) => format!("the destination refused it inside a 2xx ({said}): {message}"),
            None => format!("the destination refused it inside a 2xx ({said})"),
        },
        hint: match &message {
            Some(message) => format!(
                "the destination says \"{}\": fix what it names (mapping values, lookups), then resync",
                show(&Value::String(message.clone())).trim_matches('"')
            ),
            None => "the destination refused the write inside a 2xx answer: check success_when and the response body".to_string(),
        },
    })
}

/// A write refused inside a 2xx.
pub(crate) struct Refusal {
    pub(crate) code: Option<String>,
    pub(crate) summary: String,
    pub(crate) hint: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn condition(path: &str, equals: Value) -> Condition {
        Condition {
            path: path.into(),
            equals,
        }
    }

    #[test]
    fn conditions_compare_values() {
        let body = json!({"status": "success", "payload": {"id": 7}});
        assert!(matches(&body, &condition("status", json!("success"))));
        assert!(!matches(&body, &condition("status", json!("error"))));
        assert!(matches(&body, &condition("payload.id", json!(7))));
        assert!(matches(&body, &condition("payload.id", json!("7"))));
        assert!(!matches(&body, &condition("absent", json!(null))));
    }

    #[test]
    fn a_refusal_names_the_body_message() {
        let body = br#"{"status":"error","messages":{"model_id":["The model id field is required."]},"payload":null}"#;
        let refusal = refused_in_body(body, &condition("status", json!("success")));
        let refusal = refusal.unwrap_or_else(|| unreachable!());
        assert!(
            refusal
                .summary
                .contains("model_id: The model id field is required."),
            "{}",
            refusal.summary
        );
        assert!(refusal.hint.contains("model_id"), "{}", refusal.hint);
        let fine = br#"{"status":"success","messages":"Asset updated","payload":{}}"#;
        assert!(refused_in_body(fine, &condition("status", json!("success"))).is_none());
    }
}
