//! Readers of the field shapes every section shares: base URLs, URL paths with placeholders,
//! queries, dotted paths and references to a credential. Below the sections that use them.

use std::collections::{BTreeMap, HashSet};

use super::reader::{Reader, Table};

/// The placeholders that name the serial: as it is, or escaped for a filter language.
pub(super) const SERIAL_PLACEHOLDERS: &[&str] = &["serial", "serial|odata", "serial|sn"];

/// A `credential = "name"` that names no `[[credentials]]` entry is a problem.
pub(super) fn check_credential_ref(
    r: &mut Reader,
    t: &Table,
    credential: Option<&str>,
    credentials: &HashSet<String>,
) {
    if let Some(name) = credential
        && !credentials.contains(name)
    {
        let span = r.span_of(t, "credential");
        let mut known: Vec<&str> = credentials.iter().map(String::as_str).collect();
        known.sort_unstable();
        let known = if known.is_empty() {
            "no [[credentials]] are defined".to_string()
        } else {
            format!("defined: {}", known.join(", "))
        };
        r.problem(
            span,
            t.key_path("credential"),
            format!("credential \"{name}\" is not defined in [[credentials]] ({known})"),
        );
    }
}

/// `base_url`: an http(s) URL with a host, no credentials, no query.
pub(super) fn read_base_url(r: &mut Reader, t: &Table) -> String {
    let Some((text, span)) = r.spanned_string(t, "base_url", true) else {
        return String::new();
    };
    let key = t.key_path("base_url");
    match reqwest::Url::parse(&text) {
        Err(e) => r.problem(
            span,
            key,
            format!("\"{text}\" is not a URL ({e}); expected e.g. http://127.0.0.1:7300"),
        ),
        Ok(url) => {
            if !url.username().is_empty() || url.password().is_some() {
                // Never echo the URL: it holds a secret.
                r.problem(
                    span,
                    key,
                    "inline secret: base_url must not carry a user or password; use [[credentials]]",
                );
            } else if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                r.problem(
                    span,
                    key,
                    format!("expected an http:// or https:// URL, found \"{text}\""),
                );
            } else if url.query().is_some() || url.fragment().is_some() {
                r.problem(
                    span,
                    key,
                    "base_url must not have a query or fragment (use `query` tables)",
                );
            }
        }
    }
    text.trim_end_matches('/').to_string()
}

/// A URL path starting with '/', with only the allowed `{placeholders}`.
pub(super) fn read_path(
    r: &mut Reader,
    t: &Table,
    key: &str,
    placeholders: &[&str],
) -> Option<String> {
    let (path, span) = r.spanned_string(t, key, true)?;
    if !path.starts_with('/') {
        r.problem(
            span.clone(),
            t.key_path(key),
            format!("expected a path starting with '/', found \"{path}\""),
        );
    }
    check_placeholders(r, span, &t.key_path(key), &path, placeholders);
    Some(path)
}

pub(super) fn read_query(r: &mut Reader, t: &Table, key: &str) -> BTreeMap<String, String> {
    let query = r.string_map(t, key);
    for (name, value) in &query {
        let span = r.span_of(t, key);
        let path = format!("{}.{name}", t.key_path(key));
        check_placeholders(r, span.clone(), &path, value, SERIAL_PLACEHOLDERS);
        let lower = name.to_ascii_lowercase();
        let looks_secret = ["token", "secret", "password", "apikey", "api_key", "auth"]
            .iter()
            .any(|word| lower.contains(word));
        if looks_secret && !value.contains('{') {
            r.problem(
                span,
                path,
                "inline secret: a query parameter that looks like a credential; use a [[credentials]] entry",
            );
        }
    }
    query
}

pub(super) fn check_placeholders(
    r: &mut Reader,
    span: std::ops::Range<usize>,
    key: &str,
    text: &str,
    allowed: &[&str],
) {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            r.problem(span, key, format!("unclosed '{{' in \"{text}\""));
            return;
        };
        let name = &after[..close];
        if !allowed.contains(&name) {
            let expected = if allowed.is_empty() {
                "no placeholders here".to_string()
            } else {
                allowed
                    .iter()
                    .map(|a| format!("{{{a}}}"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            };
            let why = if name == "id" {
                " (a create path cannot use {id}: the record does not exist yet)"
            } else {
                ""
            };
            r.problem(
                span.clone(),
                key,
                format!("placeholder {{{name}}} is not allowed here{why}; expected {expected}"),
            );
        }
        rest = &after[close + 1..];
    }
}

/// A dotted path such as `hardware.memory_gb`.
pub(super) fn read_dotted(r: &mut Reader, t: &Table, key: &str, required: bool) -> Option<String> {
    let (text, span) = r.spanned_string(t, key, required)?;
    if text.split('.').any(|s| s.trim().is_empty()) {
        r.problem(
            span,
            t.key_path(key),
            format!("\"{text}\" is not a dotted path such as hardware.memory_gb"),
        );
    }
    Some(text)
}
