//! What every HTTP caller shares about the wire, below the client, the listings, the writes and
//! the token requests: reading a capped body, the text of a transport error, the code and
//! message of an error body, and the forms a secret takes on the wire (for redaction).

use reqwest::{Response, Url};
use serde_json::Value;

/// What replaces a secret in text.
pub const REDACTED: &str = "[redacted]";

/// Reads at most `limit` bytes of a body; the flag says whether more was cut off. A body that
/// fails midway yields what arrived and the error's text.
pub async fn read_capped(mut response: Response, limit: usize) -> (Vec<u8>, bool, Option<String>) {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit.saturating_sub(body.len());
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    return (body, true, None);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return (body, false, None),
            Err(e) => return (body, false, Some(e.without_url().to_string())),
        }
    }
}

/// A reqwest error's text with its causes ("error sending request: ... Connection refused"),
/// the URL left out.
pub(crate) fn error_chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The destination's error code and message from an error body, best effort: JSON
/// `{"error": {"code", "message"}}` (or `"error": "text"`, or top-level `code`/`message`), or
/// XML `<error><code>…</code><message>…</message></error>`.
pub fn error_details(body: &[u8]) -> (Option<String>, Option<String>) {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let text = |value: Option<&Value>| match value {
            Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        };
        return match value.get("error") {
            Some(Value::Object(error)) => (
                text(error.get("code")),
                text(error.get("message")).or_else(|| text(error.get("detail"))),
            ),
            Some(Value::String(message)) => (None, Some(message.clone())),
            _ => (
                text(value.get("code")),
                text(value.get("message"))
                    .or_else(|| messages_text(value.get("messages")))
                    .or_else(|| first_error(value.get("errors")))
                    .or_else(|| text(value.get("detail"))),
            ),
        };
    }
    let text = String::from_utf8_lossy(body);
    (xml_element(&text, "code"), xml_element(&text, "message"))
}

/// Snipe-IT's `messages`: a text, or field → [texts] ("model_id: The model id field is
/// required.").
fn messages_text(messages: Option<&Value>) -> Option<String> {
    match messages? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Object(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(field, said)| match said {
                    Value::Array(items) => {
                        let texts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                        format!("{field}: {}", texts.join(" "))
                    }
                    Value::String(text) => format!("{field}: {text}"),
                    other => format!("{field}: {other}"),
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        _ => None,
    }
}

/// Jamf Pro's `errors: [{code, description, field}]`: the first one's description.
fn first_error(errors: Option<&Value>) -> Option<String> {
    let first = errors?.as_array()?.first()?;
    let description = first
        .get("description")
        .or_else(|| first.get("message"))
        .and_then(Value::as_str)?;
    Some(match first.get("field").and_then(Value::as_str) {
        Some(field) if !field.is_empty() => format!("{field}: {description}"),
        _ => description.to_string(),
    })
}

/// The unescaped text of the first `<name>…</name>` in `text`.
fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    let raw = text[start..end].trim();
    let unescaped = quick_xml::escape::unescape(raw)
        .map(|text| text.into_owned())
        .unwrap_or_else(|_| raw.to_string());
    (!unescaped.is_empty()).then_some(unescaped)
}

/// Every form a secret may take when a destination echoes it back — as it is, JSON-escaped (with
/// and without `\/`), percent-encoded — longest first, so a longer form is replaced whole.
pub(crate) fn secret_forms(secrets: Vec<String>) -> Vec<String> {
    let mut forms: Vec<String> = Vec::new();
    for secret in secrets.into_iter().filter(|s| s.len() >= 3) {
        let json = serde_json::to_string(&secret).unwrap_or_default();
        let json = json.trim_matches('"').to_string();
        let percent = form_encoded(&secret);
        let percent_path = percent.replace('+', "%20");
        for form in [
            json.replace('/', "\\/"),
            json,
            percent,
            percent_path,
            secret,
        ] {
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms
}

/// `text` as it appears in a query string (`a b/c` → `a+b%2Fc`).
fn form_encoded(text: &str) -> String {
    let mut url = Url::parse("http://127.0.0.1/").expect("a constant URL");
    url.query_pairs_mut().append_pair("k", text);
    url.query()
        .and_then(|q| q.strip_prefix("k="))
        .unwrap_or(text)
        .to_string()
}

/// Replaces every occurrence of each secret in `text`.
pub fn redact_values(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
}
