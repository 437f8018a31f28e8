//! `[[alerts]]` (SPEC section 10): a webhook per table, its URL a secret reference, the run
//! endings it is posted on and the shape of its body.

use std::collections::HashSet;
use std::path::Path;

use super::credentials::read_secret;
use super::model::{Alert, AlertFormat, AlertOn};
use super::reader::{Reader, Table};
use super::secret::Environment;

const ALERT_KEYS: &[&str] = &["name", "url", "on", "format"];

pub(super) fn read_alerts(
    r: &mut Reader,
    tables: &[Table],
    base_dir: &Path,
    env: &Environment,
) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (index, t) in tables.iter().enumerate() {
        r.check_keys(t, ALERT_KEYS);
        let name = r
            .string(t, "name", false)
            .unwrap_or_else(|| format!("alert {}", index + 1));
        if !seen.insert(name.clone()) {
            let span = r.span_of(t, "name");
            r.problem(
                span,
                t.key_path("name"),
                format!("duplicate alert name \"{name}\""),
            );
        }
        let url = read_secret(r, t, "url", base_dir, env);
        if let Some(url) = url.as_ref().filter(|_| !env.allows_unresolved()) {
            // The value is a secret: the problem names the key and what is wrong, never the URL.
            let valid = reqwest::Url::parse(url.expose())
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !valid {
                let span = r.span_of(t, "url");
                r.problem(
                    span,
                    t.key_path("url"),
                    "the webhook URL this reference holds is not an http(s) URL with a host \
                     (the value is not shown)",
                );
            }
        }
        let on = read_on(r, t);
        let format = match r.spanned_string(t, "format", false) {
            None => AlertFormat::Json,
            Some((v, _)) if v == "json" => AlertFormat::Json,
            Some((v, _)) if v == "slack" => AlertFormat::Slack,
            Some((v, span)) => {
                r.problem(
                    span,
                    t.key_path("format"),
                    format!("unknown alert format \"{v}\" (expected slack or json)"),
                );
                AlertFormat::Json
            }
        };
        if let Some(url) = url {
            out.push(Alert {
                name,
                url,
                on,
                format,
            });
        }
    }
    out
}

/// `on = ["failed", "records_failed"]`; absent means every ending but `canceled` (an operator
/// who canceled a run knows).
fn read_on(r: &mut Reader, t: &Table) -> Vec<AlertOn> {
    let default = vec![
        AlertOn::Failed,
        AlertOn::RecordsFailed,
        AlertOn::Incomplete,
        AlertOn::Interrupted,
    ];
    let Some(words) = r.string_list(t, "on") else {
        return default;
    };
    let expected = AlertOn::ALL.map(AlertOn::as_str).join(", ");
    let mut on = Vec::new();
    for (word, span) in words {
        match AlertOn::ALL.iter().find(|o| o.as_str() == word) {
            Some(o) if !on.contains(o) => on.push(*o),
            Some(_) => {}
            None => r.problem(
                span,
                t.key_path("on"),
                format!("unknown run ending \"{word}\" (expected any of {expected})"),
            ),
        }
    }
    if on.is_empty() {
        let span = r.span_of(t, "on");
        r.problem(
            span,
            t.key_path("on"),
            format!("an alert needs at least one run ending (any of {expected})"),
        );
        return default;
    }
    on
}
