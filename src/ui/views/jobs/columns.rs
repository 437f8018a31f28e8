//! The run rows' columns in the Outbound Sync Jobs view: their widths for a screen width, the
//! header, and each column's text (how long a run took, who started it, its credentials, its
//! serial and note).

use chrono::{DateTime, Utc};
use ratatui::text::Line;

use crate::store::{Run, RunStatus};

use crate::ui::views::jobs::run_list::RunList;
use crate::ui::widgets::format;
use crate::ui::widgets::status;
use crate::ui::widgets::theme::Theme;

/// Widths from which the jobs view shows long times and an extra details column.
const WIDE: usize = 120;

/// Column widths of the run rows for a width.
pub(super) struct Columns {
    pub(super) id: usize,
    pub(super) started: usize,
    /// `✔ completed`, `⚠ 48 failed`; `⚠ completed · 48 failed` on a wide screen.
    pub(super) status: usize,
    /// Who and what started the run (SPEC section 10).
    pub(super) by: usize,
    /// Credential contexts; 0 on a narrow screen, where the expanded run lists them.
    pub(super) credentials: usize,
    pub(super) details: usize,
    pub(super) long: bool,
}

impl Columns {
    pub(super) fn new(width: usize, runs: &RunList) -> Columns {
        let digits = runs.latest().map_or(1, |r| r.id.to_string().len());
        let id = (digits + 1).max(4);
        let long = width >= WIDE;
        let started = if long { 19 } else { 11 };
        let status = if long { 25 } else { 13 };
        // marker, id, type, mode, status, started, took, conn, with one space between.
        let fixed = 2 + id + 1 + 6 + 1 + 4 + 1 + status + 1 + started + 1 + 6 + 1 + 4 + 1;
        let rest = width.saturating_sub(fixed);
        let (by, credentials, details) = if long {
            let by = (rest / 3).clamp(12, 28);
            let remaining = rest.saturating_sub(by + 1);
            let credentials = (remaining * 2 / 5).clamp(12, 40);
            (by, credentials, remaining.saturating_sub(credentials + 1))
        } else if rest >= 36 {
            let by = 24.min(rest - 13);
            (by, rest - by - 1, 0)
        } else {
            // Who started a run says more at a glance than its credentials, which the
            // connection rows show once the run is expanded.
            (rest, 0, 0)
        };
        Columns {
            id,
            started,
            status,
            by,
            credentials,
            details,
            long,
        }
    }

    pub(super) fn header(&self, theme: Theme) -> Line<'static> {
        let mut text = format!(
            "  {} {} {} {} {} {} {} {}",
            format::pad_left("RUN", self.id),
            format::pad("TYPE", 6),
            format::pad("MODE", 4),
            format::pad("STATUS", self.status),
            format::pad(
                if self.long {
                    "STARTED (UTC)"
                } else {
                    "STARTED UTC"
                },
                self.started
            ),
            format::pad("TOOK", 6),
            format::pad_left("CONN", 4),
            format::pad(if self.by >= 10 { "STARTED BY" } else { "BY" }, self.by),
        );
        if self.credentials > 0 {
            text.push(' ');
            text.push_str(&format::pad("CREDENTIALS", self.credentials));
        }
        if self.details > 0 {
            text.push(' ');
            text.push_str(&format::pad("SERIAL / NOTE", self.details));
        }
        Line::styled(text, theme.title())
    }
}

/// How long a run took, or has been going.
pub(super) fn took(run: &Run, now: DateTime<Utc>) -> String {
    match (run.finished_at, run.status) {
        (Some(end), _) => format::duration(end - run.started_at),
        (None, RunStatus::Running) => format::duration(now - run.started_at),
        (None, _) => "—".into(),
    }
}

pub(super) fn credentials(run: &Run, width: usize) -> String {
    let all = run.credential_contexts.join(", ");
    if format::width(&all) <= width || run.credential_contexts.len() < 2 {
        return format::fit(&all, width);
    }
    // "cmdb-demo +2" keeps the first name whole where it can.
    let more = format!(" +{}", run.credential_contexts.len() - 1);
    let first = format::fit(
        &run.credential_contexts[0],
        width.saturating_sub(format::width(&more)),
    );
    format!("{first}{more}")
}

/// The origin for the column: `alice@jump1 · console`, `nightly · scheduled` ("by" is the
/// header's), or "—" for a run recorded before owners were.
pub(super) fn by(run: &Run, width: usize) -> String {
    let full = status::origin(run, width + 3);
    let text = full.strip_prefix("by ").unwrap_or(&full);
    match text {
        "" => "—".to_string(),
        text if format::width(text) <= width => text.to_string(),
        _ => status::origin(run, width),
    }
}

pub(super) fn details(run: &Run) -> String {
    let mut parts = Vec::new();
    if let Some(serial) = &run.serial {
        parts.push(format!("serial {serial}"));
    }
    if let Some(note) = &run.note {
        parts.push(note.clone());
    }
    parts.join(" · ")
}
