//! Entry details (`Enter` on a report row): why the entry failed and what to check first —
//! status, HTTP status and the destination's error, the hint, the request — then the run it
//! belongs to (with the connection run's note and error), the attempts, the field diff, the
//! redacted response excerpt and the contract as it stands. The same content is drawn on the
//! screen and copied as plain text (`y`).

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Clear;

use crate::engine::hints;
use crate::store::{
    ConnectionRun, EntryStatus, Outcome, ReportEntry, Run, Store, StoreError, SyncContract,
};

use crate::ui::widgets::field_change;
use crate::ui::widgets::format;
use crate::ui::widgets::pager::Pager;
use crate::ui::widgets::status;
use crate::ui::widgets::theme::Theme;

/// Width of the label column.
const LABEL: usize = 11;

/// How a piece of text is emphasised, here and in the serial timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tone {
    Plain,
    Dim,
    Error,
    Warn,
    Ok,
    Entry(EntryStatus),
}

impl Tone {
    pub(super) fn style(self, theme: Theme) -> Style {
        match self {
            Tone::Plain => Style::new(),
            Tone::Dim => theme.dim(),
            Tone::Error => theme.error(),
            Tone::Warn => theme.warn(),
            Tone::Ok => theme.ok(),
            Tone::Entry(status) => theme.entry_status(status),
        }
    }
}

/// The content, before it is laid out for the screen or for the clipboard.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Heading(String),
    /// A label and its value; the value wraps under itself.
    Field(&'static str, String, Tone),
    /// A label and a value cut at the width rather than at spaces (a request line: the URL
    /// stays beside its method).
    Long(&'static str, String, Tone),
    /// Preformatted text (an excerpt), line breaks kept, indented.
    Text(String, Tone),
    /// One attempt: its number, and when, the HTTP status and what went wrong.
    Attempt(usize, String, Tone),
    Gap,
}

/// The details overlay of one entry.
#[derive(Clone, Debug)]
pub struct EntryDetails {
    pub entry: ReportEntry,
    contract: Option<SyncContract>,
    run: Option<Run>,
    connection_run: Option<ConnectionRun>,
    /// Why a resync of this entry was refused, once one was asked for.
    pub refused: Option<String>,
    pub scroll: usize,
    /// Text lines of the last draw, for page moves.
    page: usize,
}

/// What to check for an entry: its own hint, else SPEC section 4's for its symptom.
pub fn entry_hint(entry: &ReportEntry) -> Option<String> {
    if let Some(hint) = entry.error.as_ref().and_then(|e| e.hint.clone()) {
        return Some(hint);
    }
    let http = entry.error.as_ref().and_then(|e| e.http_status);
    let code = entry.error.as_ref().and_then(|e| e.code.as_deref());
    match entry.outcome {
        Outcome::MissingDestination => Some(format!(
            "no destination record matched this serial; when many do, the {}",
            hints::MISSING_DESTINATION_SPIKE
        )),
        Outcome::MissingSource => Some(
            "a required source field is absent or null: fix the record in the source, then run \
             Single (a resync cannot fix it)"
                .into(),
        ),
        Outcome::Skipped => Some(match entry.reason.as_deref() {
            Some("no_change") => {
                "nothing to write: the destination already holds these values (no-change \
                 protection)"
                    .into()
            }
            _ => format!("nothing written: {}", hints::NOTHING_WRITTEN),
        }),
        _ => http
            .and_then(|status| hints::for_status(status, code))
            .map(str::to_string),
    }
}

/// A label and its value, wrapped under the value's column.
fn labelled(
    lines: &mut Vec<Line<'static>>,
    label: &str,
    value: &str,
    style: Style,
    width: usize,
    theme: Theme,
) {
    let room = width.saturating_sub(LABEL + 1).max(10);
    for (i, part) in format::wrap(value, room).into_iter().enumerate() {
        let head = if i == 0 { label } else { "" };
        lines.push(Line::from(vec![
            Span::styled(format::pad(head, LABEL + 1), theme.dim()),
            Span::styled(part, style),
        ]));
    }
}

/// Text cut into pieces of at most `max` columns, wherever the width runs out.
fn cut(text: &str, max: usize) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut used = 0;
    for c in text.chars() {
        let w = format::width(c.encode_utf8(&mut [0u8; 4]));
        if used + w > max && used > 0 {
            pieces.push(String::new());
            used = 0;
        }
        if let Some(last) = pieces.last_mut() {
            last.push(c);
        }
        used += w;
    }
    pieces
}

fn time(at: DateTime<Utc>) -> String {
    format!("{} UTC", format::started(at, true))
}

impl EntryDetails {
    /// Reads what the details show besides the entry: its run, connection run and contract.
    pub fn load(store: &Store, entry: ReportEntry) -> Result<EntryDetails, StoreError> {
        let mut details = EntryDetails {
            entry,
            contract: None,
            run: None,
            connection_run: None,
            refused: None,
            scroll: 0,
            page: 1,
        };
        details.read_around(store)?;
        Ok(details)
    }

    fn read_around(&mut self, store: &Store) -> Result<(), StoreError> {
        let entry = &self.entry;
        self.contract = store.get_contract(&entry.connection, &entry.reference)?;
        self.run = store.get_run(entry.run_id)?;
        self.connection_run = store
            .connection_runs(entry.run_id)?
            .into_iter()
            .find(|r| r.connection == entry.connection);
        Ok(())
    }

    /// Reads the entry again (a resync updated it in place).
    pub fn reload(&mut self, store: &Store) -> Result<(), StoreError> {
        if let Some(entry) = store.get_entry(self.entry.sync_id)? {
            self.entry = entry;
        }
        self.read_around(store)
    }

    pub fn page(&self) -> usize {
        self.page.max(1)
    }

    fn title(&self) -> String {
        let e = &self.entry;
        format!("Entry #{} · {} · {}", e.sync_id, e.reference, e.connection)
    }

    fn pieces(&self) -> Vec<Piece> {
        let e = &self.entry;
        let mut out = Vec::new();
        let mut state = format!("{} · {}", status::entry_label(e.status), e.outcome.label());
        if let Some(reason) = &e.reason {
            state.push_str(&format!(" ({reason})"));
        }
        out.push(Piece::Field("status", state, Tone::Entry(e.status)));
        if let Some(error) = &e.error {
            // No status with a request made: it timed out or never connected.
            let sent = error.method.is_some() || error.url.is_some();
            let http = match (error.http_status, &error.code) {
                (Some(status), Some(code)) => Some(format!("{status} · {code}")),
                (Some(status), None) => Some(status.to_string()),
                (None, Some(code)) => Some(code.clone()),
                (None, None) if sent => Some("no response".into()),
                (None, None) => None,
            };
            if let Some(http) = http {
                out.push(Piece::Field("HTTP", http, Tone::Error));
            }
            if !error.message.is_empty() {
                out.push(Piece::Field("message", error.message.clone(), Tone::Error));
            }
        }
        if let Some(hint) = entry_hint(e) {
            out.push(Piece::Field("hint", hint, Tone::Warn));
        }
        if let Some(error) = &e.error
            && (error.method.is_some() || error.url.is_some())
        {
            let request = [error.method.as_deref(), error.url.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            out.push(Piece::Long("request", request, Tone::Plain));
        }
        if let Some(refused) = &self.refused {
            out.push(Piece::Field(
                "resync",
                format!("refused: {refused}"),
                Tone::Warn,
            ));
        }
        let attempts = e.attempts.len();
        out.push(Piece::Field(
            "time",
            format!(
                "{} · {attempts} attempt{}",
                time(e.time),
                if attempts == 1 { "" } else { "s" }
            ),
            Tone::Plain,
        ));
        out.push(Piece::Field("system", e.system.clone(), Tone::Plain));
        out.push(Piece::Field(
            "ids",
            format!(
                "source {} · target {}",
                e.source_id.as_deref().unwrap_or("—"),
                e.target_id.as_deref().unwrap_or("—")
            ),
            Tone::Plain,
        ));
        self.run_pieces(&mut out);

        out.push(Piece::Gap);
        out.push(Piece::Heading("Attempts".into()));
        if e.attempts.is_empty() {
            out.push(Piece::Text("none: nothing was sent".into(), Tone::Dim));
        }
        for (i, attempt) in e.attempts.iter().enumerate() {
            let http = attempt
                .http_status
                .map_or_else(|| "no response".to_string(), |s| s.to_string());
            let what = attempt.error.as_deref().unwrap_or("ok");
            let tone = if attempt.error.is_some() {
                Tone::Error
            } else {
                Tone::Ok
            };
            out.push(Piece::Attempt(
                i + 1,
                format!("{} · {http} · {what}", format::started(attempt.at, true)),
                tone,
            ));
        }

        out.push(Piece::Gap);
        let (changed, same) = field_change::counts(&e.diff);
        out.push(Piece::Heading(if same == 0 {
            "Field changes (old → new)".to_string()
        } else {
            format!("Field changes (old → new): {changed} changed, {same} sent with the same value")
        }));
        if e.diff.is_empty() {
            out.push(Piece::Text("none".into(), Tone::Dim));
        }
        let field_width = e
            .diff
            .iter()
            .map(|c| format::width(&c.field))
            .max()
            .unwrap_or(0)
            .min(24);
        for change in &e.diff {
            out.push(Piece::Text(
                format!(
                    "{}  {}",
                    format::pad(&change.field, field_width),
                    field_change::values(change, "(absent)", "(not written)")
                ),
                if field_change::is_same_value(change) {
                    Tone::Dim
                } else {
                    Tone::Plain
                },
            ));
        }

        if let Some(excerpt) = e.error.as_ref().and_then(|e| e.response_excerpt.as_ref()) {
            out.push(Piece::Gap);
            out.push(Piece::Heading("Response (redacted excerpt)".into()));
            out.push(Piece::Text(excerpt.clone(), Tone::Plain));
        }

        out.push(Piece::Gap);
        out.push(Piece::Heading(format!(
            "Contract as it stands ({} · {})",
            e.connection, e.reference
        )));
        match &self.contract {
            None => out.push(Piece::Text(
                "none: nothing was written for this serial on this connection yet".into(),
                Tone::Dim,
            )),
            Some(c) => {
                out.push(Piece::Field(
                    "target id",
                    c.target_id.clone().unwrap_or_else(|| "—".into()),
                    Tone::Plain,
                ));
                let action = match c.last_action {
                    crate::store::ContractAction::Created => "created",
                    crate::store::ContractAction::Updated => "updated",
                    crate::store::ContractAction::Unchanged => "unchanged",
                };
                out.push(Piece::Field("last action", action.into(), Tone::Plain));
                out.push(Piece::Field(
                    "last synced",
                    c.last_synced.map_or_else(|| "never".into(), time),
                    Tone::Plain,
                ));
                out.push(Piece::Field("last seen", time(c.last_seen), Tone::Plain));
                out.push(Piece::Field("last hash", c.last_hash.clone(), Tone::Dim));
            }
        }
        out
    }

    /// The run and connection run the entry belongs to, with the run-level note and error.
    fn run_pieces(&self, out: &mut Vec<Piece>) {
        let e = &self.entry;
        let mut run = format!("#{}", e.run_id);
        if let Some(r) = &self.run {
            run.push_str(&format!(
                " {} {} · started {}",
                status::run_type(r.run_type),
                status::mode(r.mode),
                format::started(r.started_at, false)
            ));
        }
        if let Some(c) = &self.connection_run {
            let failed = status::failed_entries(c.mode, &c.counters);
            run.push_str(&format!(
                " · {} {}",
                c.connection,
                status::label_with(c.status, failed)
            ));
        }
        out.push(Piece::Field("run", run, Tone::Plain));
        if let Some(r) = &self.run
            && let Some(owner) = &r.owner
        {
            let origin = crate::store::origin(Some(owner), r.trigger.as_ref());
            // A scheduled run's origin names no user: say which account ran it.
            let account = match r.trigger.as_ref().map(|t| t.kind) {
                Some(crate::store::TriggerKind::Scheduled) => format!("as {}, ", owner.user),
                _ => String::new(),
            };
            // The origin says "by alice@jump1 · console" itself: the label does not repeat it.
            out.push(Piece::Field(
                "origin",
                format!("{origin} · {account}pid {}", owner.pid),
                Tone::Plain,
            ));
        }
        let Some(c) = &self.connection_run else {
            return;
        };
        if let Some(error) = &c.error {
            out.push(Piece::Field(
                "run error",
                error.message.clone(),
                Tone::Error,
            ));
            if let Some(hint) = &error.hint {
                out.push(Piece::Field("run hint", hint.clone(), Tone::Warn));
            }
        }
        if let Some(note) = &c.note {
            out.push(Piece::Field("run note", note.clone(), Tone::Warn));
        }
    }

    /// The details as plain text, for the clipboard.
    pub fn text(&self) -> String {
        let mut out = format!("{}\n", self.title());
        for piece in self.pieces() {
            match piece {
                Piece::Heading(text) => out.push_str(&format!("{text}\n")),
                Piece::Field(label, value, _) | Piece::Long(label, value, _) => {
                    out.push_str(&format!("{}{value}\n", format::pad(label, LABEL + 1)));
                }
                Piece::Attempt(n, value, _) => {
                    let label = format!("  #{n}");
                    out.push_str(&format!("{}{value}\n", format::pad(&label, LABEL + 1)));
                }
                Piece::Text(text, _) => {
                    for line in text.lines() {
                        out.push_str(&format!("  {line}\n"));
                    }
                }
                Piece::Gap => out.push('\n'),
            }
        }
        out
    }

    fn lines(&self, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let style = |tone: Tone| tone.style(theme);
        let mut lines = Vec::new();
        for piece in self.pieces() {
            match piece {
                Piece::Heading(text) => {
                    lines.push(Line::styled(format::fit(&text, width), theme.title()));
                }
                Piece::Field(label, value, tone) => {
                    labelled(&mut lines, label, &value, style(tone), width, theme);
                }
                Piece::Long(label, value, tone) => {
                    let room = width.saturating_sub(LABEL + 1).max(10);
                    for (i, part) in cut(&value, room).into_iter().enumerate() {
                        let head = if i == 0 { label } else { "" };
                        lines.push(Line::from(vec![
                            Span::styled(format::pad(head, LABEL + 1), theme.dim()),
                            Span::styled(part, style(tone)),
                        ]));
                    }
                }
                Piece::Attempt(n, value, tone) => {
                    let label = format!("  #{n}");
                    labelled(&mut lines, &label, &value, style(tone), width, theme);
                }
                Piece::Text(text, tone) => {
                    for line in text.lines() {
                        // An excerpt's own indentation stays, continuation lines under it.
                        let body = line.trim_start();
                        let indent = " ".repeat(2 + line.len() - body.len());
                        let room = width.saturating_sub(indent.len()).max(10);
                        for part in format::wrap(body, room) {
                            lines.push(Line::styled(format!("{indent}{part}"), style(tone)));
                        }
                    }
                }
                Piece::Gap => lines.push(Line::raw("")),
            }
        }
        lines
    }

    pub fn draw(&mut self, frame: &mut Frame, area: Rect, theme: Theme) {
        let rect = area;
        frame.render_widget(Clear, rect);
        let inner_width = rect.width.saturating_sub(4) as usize;
        let lines = self.lines(inner_width, theme);
        let visible = rect.height.saturating_sub(2) as usize;
        self.page = visible;
        self.scroll = self.scroll.min(lines.len().saturating_sub(visible));
        Pager {
            title: &self.title(),
            lines,
            scroll: self.scroll,
            visible,
            keys: "scroll",
        }
        .draw(frame, rect, theme);
    }

    pub fn scroll_by(&mut self, delta: isize) {
        self.scroll = self.scroll.saturating_add_signed(delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Attempt, EntryError, FieldChange};

    fn entry() -> ReportEntry {
        ReportEntry {
            sync_id: 7,
            run_id: 2,
            connection: "registry".into(),
            system: "Asset registry".into(),
            reference: "SD-000042".into(),
            source_id: Some("42".into()),
            target_id: Some("a1f3".into()),
            status: EntryStatus::Failed,
            outcome: Outcome::Error,
            reason: None,
            time: DateTime::UNIX_EPOCH,
            attempts: vec![Attempt {
                at: DateTime::UNIX_EPOCH,
                http_status: Some(400),
                error: Some("INVALID_CONTENT".into()),
            }],
            error: Some(EntryError {
                http_status: Some(400),
                code: Some("INVALID_CONTENT".into()),
                message: "unknown site".into(),
                hint: None,
                method: Some("PUT".into()),
                url: Some("http://127.0.0.1:7300/registry/assets/a1f3".into()),
                response_excerpt: Some("<error>\n  <code>INVALID_CONTENT</code>\n</error>".into()),
            }),
            diff: vec![FieldChange {
                field: "site".into(),
                old: Some("LON-1".into()),
                new: Some("XX-9".into()),
            }],
            hashes: None,
        }
    }

    fn details(entry: ReportEntry) -> EntryDetails {
        EntryDetails {
            entry,
            contract: None,
            run: None,
            connection_run: None,
            refused: None,
            scroll: 0,
            page: 1,
        }
    }

    #[test]
    fn the_text_copy_holds_the_why_and_the_diff() {
        let text = details(entry()).text();
        assert!(text.starts_with("Entry #7 · SD-000042 · registry\n"));
        assert!(text.contains("HTTP        400 · INVALID_CONTENT"), "{text}");
        assert!(text.contains("mapped destination path or formatter mismatch"));
        assert!(text.contains("PUT http://127.0.0.1:7300/registry/assets/a1f3"));
        assert!(text.contains("site  \"LON-1\" → \"XX-9\""), "{text}");
        assert!(text.contains("  <code>INVALID_CONTENT</code>\n"));
    }

    #[test]
    fn a_request_line_is_cut_at_the_width() {
        assert_eq!(cut("PUT http://h/abc", 7), vec!["PUT htt", "p://h/a", "bc"]);
        assert_eq!(cut("", 7), vec![""]);
    }

    #[test]
    fn missing_destination_gets_the_lookup_hint() {
        let mut e = entry();
        e.error = None;
        e.outcome = Outcome::MissingDestination;
        let hint = entry_hint(&e).unwrap();
        assert!(
            hint.contains("fetch contract path and serial_field"),
            "{hint}"
        );
    }
}
