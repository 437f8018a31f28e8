//! The Outbound Sync Jobs view: folder-style run rows (id, type, mode, status, started,
//! duration, connection count, who and what started it, credential contexts) that expand into
//! one row per connection in execution order, with its gauge, status, next action, error, hint,
//! note and counters.

mod actions;
mod columns;
pub mod keys;
pub mod run_list;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Padding, Paragraph};

use crate::config::Config;
use crate::store::{ConnectionRun, Run, RunMode, RunStatus, RunType};

use crate::ui::views::jobs::columns::{Columns, by, credentials, details, took};
use crate::ui::views::jobs::run_list::{Row, RunList};
use crate::ui::widgets::diagnostics;
use crate::ui::widgets::format;
use crate::ui::widgets::gauge;
use crate::ui::widgets::list;
use crate::ui::widgets::status;
use crate::ui::widgets::theme::Theme;

/// The widest a connection row's lines get.
const CONNECTION_WIDTH: usize = 110;

/// What drawing needs besides the runs.
pub struct Paint<'a> {
    pub theme: Theme,
    pub now: DateTime<Utc>,
    pub config: &'a Config,
    /// Requests in flight allowed now on running `concurrency = "auto"` connections.
    pub concurrency: &'a std::collections::HashMap<(u64, u32), usize>,
}

/// Scroll state of the view: the first row drawn.
#[derive(Debug, Default)]
pub struct JobsView {
    top: usize,
    /// Lines of the last drawn body, for page moves.
    page: usize,
    /// Reading what a Dry run planned, for `p`.
    applying: bool,
}

fn run_lines(
    run: &Run,
    runs: &RunList,
    cols: &Columns,
    width: usize,
    paint: &Paint,
    selected: bool,
) -> Vec<Line<'static>> {
    let theme = paint.theme;
    let expanded = runs.is_expanded(run.id);
    let marker = if expanded { "▾ " } else { "▸ " };
    let failed = status::run_failed_entries(runs.connection_runs(run.id));
    let status_style = if selected {
        Style::new()
    } else {
        theme.status_with(run.status, failed)
    };
    let mut spans = vec![
        Span::raw(marker),
        Span::styled(
            format::pad_left(&format!("#{}", run.id), cols.id),
            theme.strong(),
        ),
        Span::raw(" "),
        Span::raw(format::pad(status::run_type(run.run_type), 6)),
        Span::raw(" "),
        Span::raw(format::pad(status::mode(run.mode), 4)),
        Span::raw(" "),
        Span::styled(
            format::pad(
                &status::label_within(run.status, failed, cols.status),
                cols.status,
            ),
            status_style,
        ),
        Span::raw(" "),
        Span::raw(format::pad(
            &format::started(run.started_at, cols.long),
            cols.started,
        )),
        Span::raw(" "),
        Span::raw(format::pad(&took(run, paint.now), 6)),
        Span::raw(" "),
        Span::raw(format::pad_left(&run.connections.len().to_string(), 4)),
        Span::raw(" "),
        Span::raw(format::pad(&by(run, cols.by), cols.by)),
    ];
    if cols.credentials > 0 {
        spans.push(Span::raw(" "));
        spans.push(Span::raw(format::pad(
            &credentials(run, cols.credentials),
            cols.credentials,
        )));
    }
    if cols.details > 0 {
        spans.push(Span::raw(" "));
        spans.push(Span::raw(format::pad(&details(run), cols.details)));
    }
    let mut lines = vec![list::row(spans, width, selected, theme)];
    // Expanded: what the columns could not hold.
    let mut extra = if cols.details == 0 {
        details(run)
    } else {
        String::new()
    };
    if cols.credentials == 0 && !run.credential_contexts.is_empty() {
        let credentials = format!("credentials {}", run.credential_contexts.join(", "));
        extra = match extra.is_empty() {
            true => credentials,
            false => format!("{extra} · {credentials}"),
        };
    }
    if expanded && !extra.is_empty() {
        for piece in format::wrap(&extra, width.saturating_sub(4))
            .into_iter()
            .take(3)
        {
            lines.push(Line::from(vec![
                Span::raw("    "),
                Span::styled(piece, theme.warn()),
            ]));
        }
    }
    lines
}

/// Labelled, wrapped text under a connection (`error`, `hint`, `note`).
fn labelled(
    label: &str,
    text: &str,
    indent: &str,
    width: usize,
    max: usize,
    style: Style,
    theme: Theme,
) -> Vec<Line<'static>> {
    let room = width.saturating_sub(format::width(indent) + 6);
    let mut pieces = format::wrap(text, room);
    if pieces.len() > max {
        pieces.truncate(max);
        if let Some(last) = pieces.last_mut() {
            *last = format::fit(&format!("{last} …"), room);
        }
    }
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let head = if i == 0 {
                format::pad(label, 6)
            } else {
                " ".repeat(6)
            };
            Line::from(vec![
                Span::raw(indent.to_string()),
                Span::styled(head, theme.dim()),
                Span::styled(piece, style),
            ])
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn connection_lines(
    run: &Run,
    position: u32,
    row: Option<&ConnectionRun>,
    last: bool,
    width: usize,
    paint: &Paint,
    selected: bool,
) -> Vec<Line<'static>> {
    let theme = paint.theme;
    // On a wide screen the status stays near the name instead of at the far edge.
    let width = width.min(CONNECTION_WIDTH);
    let branch = if last { "  └─ " } else { "  ├─ " };
    let indent = if last { "       " } else { "  │    " };
    let name = row.map_or_else(
        || {
            run.connections
                .get(position as usize)
                .cloned()
                .unwrap_or_default()
        },
        |r| r.connection.clone(),
    );
    let system = row
        .map(|r| r.system.clone())
        .or_else(|| paint.config.connection(&name).map(|c| c.system.clone()));
    let mut head = vec![
        Span::raw(branch),
        Span::styled(format!("{}. {name}", position + 1), theme.strong()),
    ];
    if let Some(system) = system {
        head.push(Span::styled(format!(" · {system}"), theme.dim()));
    }
    // With several sources, which one the connection reads.
    if let Some(source) = paint.config.shown_source(&name) {
        head.push(Span::styled(format!(" ← {source}"), theme.dim()));
    }
    if let Some(r) = row {
        head.push(Span::raw(format!(" · {}", status::mode(r.mode))));
        if let Some(credential) = &r.credential {
            head.push(Span::styled(format!(" · {credential}"), theme.dim()));
        }
    }
    // The status sits at the right end of the name line, where the eye finds it.
    let status_span = match row {
        Some(r) => {
            let failed = status::failed_entries(r.mode, &r.counters);
            Span::styled(
                status::label_with(r.status, failed),
                theme.status_with(r.status, failed),
            )
        }
        None => Span::styled("· waiting", theme.dim()),
    };
    let room = width.saturating_sub(status_span.width() + 1);
    let head_width: usize = head.iter().map(Span::width).sum();
    if head_width > room {
        let text: String = head.iter().map(|s| s.content.as_ref()).collect();
        head = vec![Span::raw(format::fit(&text, room))];
    }
    let head_width: usize = head.iter().map(Span::width).sum();
    head.push(Span::raw(
        " ".repeat(width.saturating_sub(head_width + status_span.width())),
    ));
    head.push(status_span);
    let mut lines = vec![list::row(head, width, selected, theme)];
    let cells = if width >= 100 { 30 } else { 16 };
    let Some(r) = row else {
        let mut spans = vec![Span::raw(indent.to_string())];
        spans.extend(gauge::bar(0, 0, cells, theme));
        spans.push(Span::styled(" waiting for its turn", theme.dim()));
        lines.push(Line::from(spans));
        return lines;
    };
    let known = r.total > 0 || r.status.is_finished();
    let count = if r.started_at.is_none() && r.processed == 0 && r.status.is_finished() {
        "not started".to_string()
    } else {
        gauge::x_of_n(r.processed, r.total, known)
    };
    let mut spans = vec![Span::raw(indent.to_string())];
    spans.extend(gauge::bar(r.processed, r.total, cells, theme));
    spans.push(Span::raw(" "));
    spans.push(Span::styled(count, theme.strong()));
    // concurrency = "auto": the requests in flight it allows now, while it runs.
    if r.status == RunStatus::Running
        && let Some(n) = paint.concurrency.get(&(run.id, position))
    {
        spans.push(Span::styled(format!(" · auto ×{n}"), theme.dim()));
    }
    let never = status::never_tried(r);
    if never > 0 {
        spans.push(Span::styled(
            format!(" · {} never tried", format::count(never)),
            theme.warn(),
        ));
    }
    let used: usize = spans.iter().map(Span::width).sum();
    let failed = status::failed_entries(r.mode, &r.counters);
    let next_action = status::next_action_with(r.status, failed);
    // A finished Dry run with changes planned: the next step of the workflow is its plan.
    let planned =
        r.mode == RunMode::Dry && r.status == RunStatus::Completed && r.counters.would_update > 0;
    let room = width.saturating_sub(used);
    let next = match planned {
        true => [
            format!("  → {next_action}, then p applies the plan"),
            format!("  → {next_action} · p apply plan"),
            // The short form, only when it hides no failure.
            if failed == 0 {
                "  → D diagnostics · p apply plan".to_string()
            } else {
                String::new()
            },
        ]
        .into_iter()
        .find(|text| !text.is_empty() && format::width(text) <= room)
        .unwrap_or_else(|| format!("  → {next_action}")),
        false => format!("  → {next_action}"),
    };
    let action = format::fit(&next, room);
    spans.push(Span::styled(action, theme.dim()));
    lines.push(Line::from(spans));
    let hint_lines = |hint: &str| labelled("hint", hint, indent, width, 2, theme.warn(), theme);
    if let Some(error) = &r.error {
        lines.extend(labelled(
            "error",
            &error.message,
            indent,
            width,
            3,
            theme.error(),
            theme,
        ));
        if let Some(hint) = &error.hint {
            lines.extend(hint_lines(hint));
        }
    }
    let counters = diagnostics::cells(r.mode, &r.counters, theme);
    lines.extend(diagnostics::panel(&counters, width, indent, theme));
    // A connection run that never started has no totals to show.
    if r.started_at.is_some() || r.processed > 0 {
        lines.push(diagnostics::totals(&r.counters, indent, theme));
    }
    // The re-run hints, unless the engine's note or error already gives the same advice.
    let said = |needle: &str| {
        r.note.as_deref().is_some_and(|n| n.contains(needle))
            || r.error
                .as_ref()
                .and_then(|e| e.hint.as_deref())
                .is_some_and(|h| h.contains(needle))
    };
    let listed = matches!(run.run_type, RunType::Full | RunType::Single);
    if listed && r.status == RunStatus::Completed {
        for hint in diagnostics::rerun_hints(&r.counters) {
            let engine_said = if hint == diagnostics::NOTHING_FETCHED {
                said("results position")
            } else {
                said("hashes match")
            };
            if !engine_said {
                lines.extend(hint_lines(hint));
            }
        }
    }
    if let Some(note) = &r.note {
        lines.extend(labelled(
            "note",
            note,
            indent,
            width,
            3,
            theme.warn(),
            theme,
        ));
    }
    lines
}

fn row_lines(
    runs: &RunList,
    row: Row,
    cols: &Columns,
    width: usize,
    paint: &Paint,
    selected: bool,
) -> Vec<Line<'static>> {
    match row {
        Row::Run(id) => match runs.run(id) {
            Some(run) => run_lines(run, runs, cols, width, paint, selected),
            None => Vec::new(),
        },
        Row::Connection { run_id, position } => {
            let Some(run) = runs.run(run_id) else {
                return Vec::new();
            };
            let count = run
                .connections
                .len()
                .max(runs.connection_runs(run_id).len());
            let last = position as usize + 1 >= count;
            let row = runs.connection_run(run_id, position);
            connection_lines(run, position, row, last, width, paint, selected)
        }
    }
}

impl JobsView {
    /// Moves the first drawn row so the selected row fits in `height` lines.
    fn scroll_to(&mut self, selected: usize, height: usize, lines_of: impl Fn(usize) -> usize) {
        if selected < self.top {
            self.top = selected;
        }
        // Every row is at least one line: rows further than a screen above cannot show.
        self.top = self.top.max(selected.saturating_sub(height));
        let heights: Vec<usize> = (self.top..=selected).map(&lines_of).collect();
        let mut total: usize = heights.iter().sum();
        let mut i = 0;
        while total > height && self.top < selected {
            total -= heights[i];
            i += 1;
            self.top += 1;
        }
    }

    /// Rows a page move goes (the last drawn height, as a count of one-line rows).
    pub fn page(&self) -> usize {
        self.page.max(1)
    }

    pub fn draw(&mut self, frame: &mut Frame, area: Rect, runs: &RunList, paint: &Paint) {
        let theme = paint.theme;
        let loaded = runs.loaded();
        let more = if runs.is_exhausted() { "" } else { "+" };
        let plural = if loaded == 1 && more.is_empty() {
            ""
        } else {
            "s"
        };
        let mut count = format!("{}{more} run{plural}", format::count(loaded as u64));
        if runs.status_filter().is_some() || runs.failures_only() {
            let shown = runs
                .rows()
                .iter()
                .filter(|r| matches!(r, Row::Run(_)))
                .count();
            count = format!("{} of {count}", format::count(shown as u64));
        }
        let mut filters = Vec::new();
        if let Some(s) = runs.status_filter() {
            filters.push(format!("status: {}", s.as_str()));
        }
        if runs.failures_only() {
            filters.push("failures only".to_string());
        }
        let rows = runs.rows();
        let mut block = Block::bordered()
            .border_style(theme.border())
            .padding(Padding::horizontal(1))
            .title(Line::from(vec![
                Span::styled(" Outbound Sync Jobs ", theme.title()),
                Span::styled(format!("· {count} "), theme.dim()),
            ]));
        if !filters.is_empty() {
            block = block.title(
                Line::styled(format!(" filter: {} ", filters.join(" · ")), theme.warn())
                    .right_aligned(),
            );
        }
        if !rows.is_empty() {
            let more = if runs.is_exhausted() { "" } else { "+" };
            block = block.title_bottom(
                Line::styled(
                    format!(" {}/{}{more} ", runs.selected() + 1, rows.len()),
                    theme.dim(),
                )
                .right_aligned(),
            );
        }
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if inner.height == 0 || inner.width == 0 {
            return;
        }
        let width = inner.width as usize;
        let cols = Columns::new(width, runs);
        frame.render_widget(
            Paragraph::new(cols.header(theme)),
            Rect { height: 1, ..inner },
        );
        let body = Rect {
            y: inner.y + 1,
            height: inner.height - 1,
            ..inner
        };
        if body.height == 0 {
            return;
        }
        if rows.is_empty() {
            let lines = if loaded == 0 {
                vec![
                    Line::styled("No runs yet.", theme.strong()),
                    Line::raw(""),
                    Line::raw("Press n to start one. Start safe: Single + Dry on one serial,"),
                    Line::raw("then Single Live → Full Dry → Full Live."),
                ]
            } else {
                vec![
                    Line::styled("No run matches the filter.", theme.strong()),
                    Line::raw(""),
                    Line::raw("f changes the status, F toggles failures only, Esc clears both."),
                ]
            };
            let top = body.y + body.height.saturating_sub(lines.len() as u16) / 2;
            let rect = Rect {
                y: top,
                height: body.bottom() - top,
                ..body
            };
            frame.render_widget(Paragraph::new(lines).alignment(Alignment::Center), rect);
            return;
        }
        let height = body.height as usize;
        self.page = height;
        let selected = runs.selected();
        self.scroll_to(selected, height, |i| {
            row_lines(runs, rows[i], &cols, width, paint, false).len()
        });
        let mut lines: Vec<Line> = Vec::with_capacity(height);
        // A connection row at the top keeps its run in sight: the run's line stays pinned.
        if let Some(Row::Connection { run_id, .. }) = rows.get(self.top).copied()
            && height > 1
        {
            self.scroll_to(selected, height - 1, |i| {
                row_lines(runs, rows[i], &cols, width, paint, false).len()
            });
            if matches!(rows.get(self.top), Some(Row::Connection { .. }))
                && let Some(run) = runs.run(run_id)
            {
                let mut pinned = run_lines(run, runs, &cols, width, paint, false);
                pinned.truncate(1);
                lines.extend(pinned);
            }
        }
        for (index, row) in rows.iter().enumerate().skip(self.top) {
            if lines.len() >= height {
                break;
            }
            lines.extend(row_lines(
                runs,
                *row,
                &cols,
                width,
                paint,
                index == selected,
            ));
        }
        lines.truncate(height);
        frame.render_widget(Paragraph::new(lines), body);
    }
}
