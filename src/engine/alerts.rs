//! Alerts (SPEC section 10): when a run ends in a way an `[[alerts]]` table asks for, its webhook
//! is posted the run's summary, the first failures with their hints and the command that lists
//! them.
//!
//! An alert never holds up or fails the run: it is posted from a task of its own after the run
//! is recorded, retried when the webhook is down or throttling, and logged (to the log file and
//! the front end) either way. The webhook URL is a secret — a Slack webhook URL is a credential —
//! so no message, log line or error text here carries it.
//!
//! Text from sources and destinations (serials, error messages, hints quoting them) is data: in
//! the JSON body it goes through the crate's safe JSON writer; in a Slack message `&`, `<` and `>`
//! are escaped as Slack asks ("Escaping text",
//! <https://api.slack.com/reference/surfaces/formatting#escaping>), so a destination's message
//! cannot make a link or ping a channel (`<!channel>`), and controls are shown as stand-ins.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::protocol::LogLevel;
use super::sink::EventSink;
use crate::config::{Alert, AlertFormat, AlertOn, Config};
use crate::store::{
    ConnectionRun, EntryQuery, EntryStatus, ReportEntry, Run, RunMode, RunStatus, Store, origin,
};
use crate::text::{terminal_line, thousands, to_json_string};

/// How many failed entries an alert lists.
const FIRST_FAILURES: usize = 5;
/// Attempts per alert: the first and two retries.
const ATTEMPTS: u32 = 3;
/// Waits before each retry (a `Retry-After` up to [`MAX_RETRY_AFTER`] replaces one).
const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Each request's own limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an engine that is shutting down waits for alerts still being posted.
pub(super) const DRAIN_LIMIT: Duration = Duration::from_secs(45);

/// The run endings `run` meets, among those alerts can be posted on.
pub fn endings(run: &Run, rows: &[ConnectionRun]) -> Vec<AlertOn> {
    let mut out = Vec::new();
    match run.status {
        RunStatus::Failed => out.push(AlertOn::Failed),
        RunStatus::Incomplete => out.push(AlertOn::Incomplete),
        RunStatus::Canceled => out.push(AlertOn::Canceled),
        RunStatus::Interrupted => out.push(AlertOn::Interrupted),
        RunStatus::Completed | RunStatus::Running => {}
    }
    if failed_records(rows) > 0 {
        out.push(AlertOn::RecordsFailed);
    }
    out
}

/// Records that failed: Live records that were not written (failed, or missing on either side),
/// Dry records whose lookup or mapping failed. The same rule as `syncdeck run`'s exit code 1.
fn failed_records(rows: &[ConnectionRun]) -> u64 {
    rows.iter()
        .map(|r| match r.mode {
            RunMode::Live => {
                r.counters.failed + r.counters.missing_source + r.counters.missing_destination
            }
            RunMode::Dry => r.counters.errors,
        })
        .sum()
}

/// The alerts still being posted by one engine.
pub(super) struct Alerts {
    config: Arc<Config>,
    store: Store,
    events: EventSink,
    client: Option<reqwest::Client>,
    posting: JoinSet<()>,
}

impl Alerts {
    pub(super) fn new(config: Arc<Config>, store: Store, events: EventSink) -> Alerts {
        let client = if config.alerts.is_empty() {
            None
        } else {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(REQUEST_TIMEOUT)
                .timeout(REQUEST_TIMEOUT)
                // A webhook that redirects is misconfigured: follow nothing (the URL is a
                // credential; its query must not travel on).
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .ok()
        };
        Alerts {
            config,
            store,
            events,
            client,
            posting: JoinSet::new(),
        }
    }

    /// Posts every alert that asks for one of the endings of `run` (already recorded), each
    /// from a task of its own.
    pub(super) fn run_ended(&mut self, run: &Run) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let (config, store, events) =
            (self.config.clone(), self.store.clone(), self.events.clone());
        let run = run.clone();
        self.posting.spawn(async move {
            // The store is read off the async threads, like every other read of the engine.
            let read = {
                let store = store.clone();
                let run_id = run.id;
                tokio::task::spawn_blocking(move || {
                    let rows = store.connection_runs(run_id).unwrap_or_default();
                    let failures = first_failures(&store, run_id, &rows);
                    (rows, failures)
                })
                .await
            };
            let Ok((rows, failures)) = read else { return };
            let endings = endings(&run, &rows);
            let chosen: Vec<(&Alert, Vec<AlertOn>)> = config
                .alerts
                .iter()
                .filter_map(|alert| {
                    let met: Vec<AlertOn> = endings
                        .iter()
                        .copied()
                        .filter(|e| alert.on.contains(e))
                        .collect();
                    (!met.is_empty()).then_some((alert, met))
                })
                .collect();
            if chosen.is_empty() {
                return;
            }
            let summary = Summary {
                run,
                rows,
                failures,
                config_file: config.file.display().to_string(),
                store_file: store.path().display().to_string(),
            };
            // One webhook after another: alerts are few, and none holds up the run.
            for (alert, met) in chosen {
                let body = match alert.format {
                    AlertFormat::Json => summary.json(&met),
                    AlertFormat::Slack => summary.slack(&met),
                };
                post(&client, &events, alert, summary.run.id, &body).await;
            }
        });
    }

    /// Waits, up to [`DRAIN_LIMIT`], for the alerts still being posted (a headless run's process
    /// must not end before its alert has gone); what is left is logged as not sent.
    pub(super) async fn drain(&mut self) {
        if self.posting.is_empty() {
            return;
        }
        let all = async { while self.posting.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_LIMIT, all).await.is_err() {
            let left = self.posting.len();
            self.posting.abort_all();
            self.events.log(
                LogLevel::Error,
                format!("{left} alert(s) not sent: still retrying when syncdeck had to stop"),
            );
        }
    }
}

/// Up to [`FIRST_FAILURES`] failed entries of the run, taken in turn from each connection that
/// has some (five of one connection's identical 405s tell less than one of each kind), each
/// connection's newest first.
fn first_failures(store: &Store, run_id: u64, rows: &[ConnectionRun]) -> Vec<ReportEntry> {
    let mut per_connection: Vec<std::vec::IntoIter<ReportEntry>> = rows
        .iter()
        .map(|row| {
            let query = EntryQuery {
                status: Some(EntryStatus::Failed),
                run: Some(run_id),
                connection: Some(row.connection.clone()),
                ..EntryQuery::default()
            };
            store
                .entries_page(&query, None, FIRST_FAILURES)
                .map(|p| p.entries)
                .unwrap_or_default()
                .into_iter()
        })
        .collect();
    let mut out = Vec::new();
    while out.len() < FIRST_FAILURES {
        let before = out.len();
        for entries in &mut per_connection {
            if out.len() < FIRST_FAILURES
                && let Some(entry) = entries.next()
            {
                out.push(entry);
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

/// Posts `body` to the alert's webhook, retrying a webhook that is down or throttling; a
/// webhook that refuses the message (4xx) is not asked again. Every outcome is logged.
async fn post(
    client: &reqwest::Client,
    events: &EventSink,
    alert: &Alert,
    run_id: u64,
    body: &str,
) {
    let name = terminal_line(&alert.name).into_owned();
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(alert.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await;
        let wait = match sent {
            Ok(answer) if answer.status().is_success() => {
                events.log(
                    LogLevel::Info,
                    format!(
                        "alert {name}: run {run_id} posted (HTTP {})",
                        answer.status().as_u16()
                    ),
                );
                return;
            }
            Ok(answer) => {
                let status = answer.status();
                let retry_after = answer
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s).min(MAX_RETRY_AFTER));
                // Slack answers a short reason in the body ("channel_not_found").
                let said = answer.text().await.unwrap_or_default();
                let said: String = terminal_line(said.trim()).chars().take(120).collect();
                last = if said.is_empty() {
                    format!("HTTP {}", status.as_u16())
                } else {
                    format!("HTTP {} {said}", status.as_u16())
                };
                let retryable = status.is_server_error()
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT;
                if !retryable {
                    break;
                }
                retry_after
            }
            // The error's text names the URL: it goes without it.
            Err(e) => {
                last = e.without_url().to_string();
                None
            }
        };
        if attempt < ATTEMPTS {
            let wait = wait.unwrap_or(BACKOFF[(attempt - 1) as usize]);
            events.log(
                LogLevel::Warn,
                format!(
                    "alert {name}: run {run_id} not posted ({}); retrying in {:.0} s",
                    terminal_line(&last),
                    wait.as_secs_f64().ceil()
                ),
            );
            tokio::time::sleep(wait).await;
        }
    }
    events.log(
        LogLevel::Error,
        format!(
            "alert {name}: run {run_id} could not be posted ({}); the run itself is recorded as it ended",
            terminal_line(&last)
        ),
    );
}

/// What an alert says about a run.
struct Summary {
    run: Run,
    rows: Vec<ConnectionRun>,
    failures: Vec<ReportEntry>,
    config_file: String,
    store_file: String,
}

fn word<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Summary {
    /// The command that opens the console on this run's failed entries, the first one's
    /// details on screen (SPEC section 10); it reads the store even where the config's secrets
    /// are not set.
    fn triage_command(&self) -> String {
        format!(
            "syncdeck --config {} --store {} triage {}",
            shell_word(&self.config_file),
            shell_word(&self.store_file),
            self.run.id
        )
    }

    /// One line: `run #12 (full live, nightly · scheduled on jump1) ended failed · 3 records failed`.
    fn headline(&self) -> String {
        let failed = failed_records(&self.rows);
        let origin = origin(self.run.owner.as_ref(), self.run.trigger.as_ref());
        let mut line = format!(
            "syncdeck run #{} ({} {}",
            self.run.id,
            word(self.run.run_type),
            word(self.run.mode)
        );
        if !origin.is_empty() {
            line.push_str(&format!(", {origin}"));
        }
        line.push_str(&format!(") ended {}", self.run.status.as_str()));
        if failed > 0 {
            line.push_str(&format!(
                " · {} record{} failed",
                thousands(failed),
                if failed == 1 { "" } else { "s" }
            ));
        }
        line
    }

    fn connection_line(row: &ConnectionRun) -> String {
        let c = &row.counters;
        let mut line = format!(
            "{} ({}): {} · {} of {} processed",
            row.connection,
            word(row.mode),
            row.status.as_str(),
            thousands(row.processed),
            thousands(row.total)
        );
        let failed = match row.mode {
            RunMode::Live => c.failed + c.missing_source + c.missing_destination,
            RunMode::Dry => c.errors,
        };
        if failed > 0 {
            line.push_str(&format!(" · {} failed", thousands(failed)));
        }
        if let Some(error) = &row.error {
            line.push_str(&format!(" · {}", error.message));
        }
        line
    }

    fn failure_line(entry: &ReportEntry) -> String {
        let what = match &entry.error {
            // The message already reads "HTTP 405 Method Not Allowed [CODE]: …" where the
            // destination said so.
            Some(error) if !error.message.is_empty() => error.message.clone(),
            _ => entry
                .reason
                .clone()
                .unwrap_or_else(|| entry.outcome.as_str().to_string()),
        };
        format!("{} on {}: {what}", entry.reference, entry.connection)
    }

    fn hint(entry: &ReportEntry) -> Option<&str> {
        entry.error.as_ref().and_then(|e| e.hint.as_deref())
    }

    /// syncdeck's own JSON body.
    fn json(&self, met: &[AlertOn]) -> String {
        let connections: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                json!({
                    "name": row.connection,
                    "system": row.system,
                    "mode": row.mode,
                    "status": row.status.as_str(),
                    "total": row.total,
                    "processed": row.processed,
                    "counters": row.counters,
                    "error": row.error,
                })
            })
            .collect();
        let failures: Vec<Value> = self
            .failures
            .iter()
            .map(|e| {
                json!({
                    "sync_id": e.sync_id,
                    "connection": e.connection,
                    "reference": e.reference,
                    "outcome": e.outcome.as_str(),
                    "http_status": e.error.as_ref().and_then(|e| e.http_status),
                    "code": e.error.as_ref().and_then(|e| e.code.clone()),
                    "message": e.error.as_ref().map(|e| e.message.clone()),
                    "hint": Self::hint(e),
                })
            })
            .collect();
        let body = json!({
            "event": "run_ended",
            "alert_on": met.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            "summary": self.headline(),
            "run": {
                "run_id": self.run.id,
                "type": self.run.run_type,
                "mode": self.run.mode,
                "status": self.run.status.as_str(),
                "started_at": self.run.started_at,
                "finished_at": self.run.finished_at,
                "trigger": self.run.trigger,
                "owner": self.run.owner.as_ref().map(|o| json!({
                    "user": o.user, "host": o.host, "pid": o.pid,
                })),
                "note": self.run.note,
                "records_failed": failed_records(&self.rows),
                "connections": connections,
            },
            "first_failures": failures,
            "triage": self.triage_command(),
        });
        to_json_string(&body).unwrap_or_default()
    }

    /// A Slack incoming-webhook message: `{"text": …}` in mrkdwn
    /// (<https://api.slack.com/messaging/webhooks>), outside text escaped.
    fn slack(&self, met: &[AlertOn]) -> String {
        let mark = match self.run.status {
            RunStatus::Completed => ":warning:",
            _ => ":rotating_light:",
        };
        let mut text = format!("{mark} *{}*", slack_text(&self.headline()));
        text.push_str(&format!(
            "\n_alert on: {}_",
            met.iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if let Some(note) = &self.run.note {
            text.push_str(&format!("\n{}", slack_text(note)));
        }
        for row in &self.rows {
            text.push_str(&format!("\n• {}", slack_text(&Self::connection_line(row))));
        }
        if !self.failures.is_empty() {
            text.push_str("\n*First failures*");
            for entry in &self.failures {
                text.push_str(&format!("\n• {}", slack_text(&Self::failure_line(entry))));
                if let Some(hint) = Self::hint(entry) {
                    text.push_str(&format!("\n    hint: {}", slack_text(hint)));
                }
            }
        }
        text.push_str(&format!(
            "\nOpen them: `{}`",
            slack_text(&self.triage_command())
        ));
        to_json_string(&json!({ "text": text })).unwrap_or_default()
    }
}

/// Outside text for a Slack message: controls shown as stand-ins, then `&`, `<` and `>` as the
/// entities Slack asks for, and the mrkdwn marks that would restyle it kept as they are but
/// unable to open a link or a mention.
fn slack_text(text: &str) -> String {
    terminal_line(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A path as one shell word: as it is when it holds only safe characters, else single-quoted.
fn shell_word(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c));
    if safe {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_text_cannot_link_or_mention() {
        assert_eq!(
            slack_text("<!channel> <https://evil|click> a&b\u{1b}]0;x\u{7}"),
            "&lt;!channel&gt; &lt;https://evil|click&gt; a&amp;b␛]0;x␇"
        );
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(
            shell_word("/etc/syncdeck/config.toml"),
            "/etc/syncdeck/config.toml"
        );
        assert_eq!(
            shell_word("/tmp/my store's.redb"),
            "'/tmp/my store'\\''s.redb'"
        );
    }
}
