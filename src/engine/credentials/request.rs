//! One token request, and reading its answer.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;

use super::grant::{Grant, TokenError};
use crate::engine::wire::{error_chain, error_details, read_capped};

/// What the token endpoint gave.
pub(super) struct Fresh {
    pub(super) value: String,
    pub(super) lifetime: Option<Duration>,
}

/// Asks the token endpoint for a token.
pub(super) async fn ask(
    grant: &Grant,
    http: &reqwest::Client,
    redact: &(dyn Fn(&str) -> String + Sync),
) -> Result<Fresh, TokenError> {
    let fail = |message: String, http_status: Option<u16>| TokenError {
        message: redact(&message),
        http_status,
    };
    let request = match grant {
        Grant::ClientCredentials {
            url,
            client_id,
            client_secret,
            scope,
        } => {
            let mut form = vec![
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", client_secret.as_str()),
            ];
            if let Some(scope) = scope {
                form.push(("scope", scope.as_str()));
            }
            let body = form
                .iter()
                .map(|(k, v)| format!("{k}={}", form_encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            http.post(url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body)
        }
        Grant::Exchange {
            url,
            username,
            password,
            ..
        } => http.post(url.clone()).basic_auth(username, Some(password)),
    };
    let url = match grant {
        Grant::ClientCredentials { url, .. } | Grant::Exchange { url, .. } => url.clone(),
    };
    let shown = format!("POST {}{}", url.origin().ascii_serialization(), url.path());
    let response = request
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            let kind = if e.is_timeout() {
                "timed out".to_string()
            } else {
                error_chain(e)
            };
            fail(format!("{shown}: {kind}"), None)
        })?;
    let status = response.status().as_u16();
    let (body, _, _) = read_capped(response, 64 * 1024).await;
    if !(200..300).contains(&status) {
        let (code, message) = error_details(&body);
        let said = match (code, message) {
            (Some(code), Some(message)) => format!(": {code}: {message}"),
            (Some(text), None) | (None, Some(text)) => format!(": {text}"),
            (None, None) => String::new(),
        };
        return Err(fail(
            format!("{shown} answered HTTP {status}{said}"),
            Some(status),
        ));
    }
    let document: Value = serde_json::from_slice(&body)
        .map_err(|_| fail(format!("{shown}: the answer is not JSON"), Some(status)))?;
    let (token, expires) = match grant {
        Grant::ClientCredentials { .. } => (
            document.get("access_token"),
            document.get("expires_in").map(Expiry::Seconds),
        ),
        Grant::Exchange {
            token_position,
            expires_position,
            ..
        } => (
            token_position.find(&document),
            expires_position
                .as_ref()
                .and_then(|p| p.find(&document))
                .map(Expiry::Either),
        ),
    };
    let value = match token {
        Some(Value::String(token)) if !token.is_empty() => token.clone(),
        _ => {
            let mut keys: Vec<&str> = document
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            keys.truncate(20);
            return Err(fail(
                format!(
                    "{shown}: no token in the answer (keys seen: {})",
                    keys.join(", ")
                ),
                Some(status),
            ));
        }
    };
    Ok(Fresh {
        value,
        lifetime: expires.and_then(|e| e.lifetime()),
    })
}

/// Where an answer says when its token expires.
enum Expiry<'a> {
    /// `expires_in`: seconds from now.
    Seconds(&'a Value),
    /// `expires_position`: a time (RFC 3339), or seconds from now.
    Either(&'a Value),
}

impl Expiry<'_> {
    fn lifetime(&self) -> Option<Duration> {
        let value = match self {
            Expiry::Seconds(v) | Expiry::Either(v) => *v,
        };
        let seconds = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(text) => match text.trim().parse::<f64>() {
                Ok(seconds) => Some(seconds),
                Err(_) if matches!(self, Expiry::Either(_)) => {
                    let at = chrono::DateTime::parse_from_rfc3339(text.trim()).ok()?;
                    let left = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
                    return Some(left.to_std().unwrap_or(Duration::ZERO));
                }
                Err(_) => None,
            },
            _ => None,
        }?;
        (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
    }
}

/// `application/x-www-form-urlencoded` for one value.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*') => {
                out.push(char::from(b))
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
