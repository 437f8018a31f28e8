//! The Connections view (SPEC section 5): every connection in execution order with its settings
//! at a glance — system, credential context (name and kind, never the value), Dry or Live (an
//! override from the store shown as such), contracts, last run, health — and a details pane
//! with the health check step by step.

mod actions;
pub mod keys;
pub mod summary;

use std::collections::{HashMap, HashSet};

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Padding, Paragraph};

use crate::config::{Config, Connection};
use crate::engine::dry_run_override_key;
use crate::engine::health::{HealthReport, HealthStep, StepKind, StepStatus};
use crate::engine::queries;
use crate::store::{RunMode, Store, StoreError};

pub use crate::ui::views::connections::summary::{LastRun, Summary};

use crate::ui::widgets::format;
use crate::ui::widgets::list;
use crate::ui::widgets::status;
use crate::ui::widgets::theme::Theme;

/// The view's state.
#[derive(Debug, Default)]
pub struct ConnectionsView {
    selected: usize,
    /// The details pane of the selected connection is open.
    details: bool,
    /// The last health check of each connection (from the store, then from `H`).
    health: HashMap<String, HealthReport>,
    /// Connections whose check is going on.
    checking: HashSet<String>,
    /// Dry-run overrides from the store: true = Dry.
    overrides: HashMap<String, bool>,
    /// Contracts and last runs; None until the background read reports.
    summaries: Option<HashMap<String, Summary>>,
    /// The background read is going.
    loading: bool,
    /// Something changed since the read (a run finished, a contract was deleted).
    stale: bool,
}

impl ConnectionsView {
    /// The saved health checks and the dry-run overrides of every connection (a few settings
    /// reads, at start).
    pub fn load(config: &Config, store: &Store) -> Result<ConnectionsView, StoreError> {
        let mut view = ConnectionsView {
            stale: true,
            ..ConnectionsView::default()
        };
        for connection in &config.connections {
            if let Some(report) = queries::last_health(store, &connection.name)? {
                view.health.insert(connection.name.clone(), report);
            }
        }
        view.read_overrides(config, store)?;
        Ok(view)
    }

    pub fn read_overrides(&mut self, config: &Config, store: &Store) -> Result<(), StoreError> {
        self.overrides.clear();
        for connection in &config.connections {
            if let Some(value) = store.get_setting(&dry_run_override_key(&connection.name))? {
                self.overrides
                    .insert(connection.name.clone(), value == "true");
            }
        }
        Ok(())
    }

    /// The selected connection.
    pub fn current<'a>(&self, config: &'a Config) -> Option<&'a Connection> {
        config.connections.get(self.selected)
    }

    /// The connection's last run, once the summaries are read.
    pub fn last_run(&self, name: &str) -> Option<LastRun> {
        self.summaries.as_ref()?.get(name)?.last_run.clone()
    }

    pub fn move_by(&mut self, config: &Config, delta: isize) {
        let last = config.connections.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    /// Dry or Live for runs without an explicit mode, and whether a store override decides it.
    pub fn mode(&self, connection: &Connection) -> (RunMode, bool) {
        let dry = self.overrides.get(&connection.name).copied();
        let mode = |dry: bool| if dry { RunMode::Dry } else { RunMode::Live };
        match dry {
            Some(dry) => (mode(dry), true),
            None => (mode(connection.dry_run), false),
        }
    }
}

/// `Dry`, `Live (override)`.
pub fn mode_label(mode: RunMode, overridden: bool) -> String {
    if overridden {
        format!("{} (override)", status::mode(mode))
    } else {
        status::mode(mode).to_string()
    }
}

/// The step's one word: `source`, `destination`, `credential`.
fn step_word(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Source => "source",
        StepKind::Destination => "destination",
        StepKind::Credential => "credential",
        StepKind::WritePath => "write path",
    }
}

fn step_mark(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Ok => "✔",
        StepStatus::Failed => "✖",
        StepStatus::Skipped => "·",
    }
}

/// `✔ ok 12 ms`, `✖ credential`, `never checked`, `◌ checking…`.
pub fn health_label(view: &ConnectionsView, name: &str, theme: Theme) -> Span<'static> {
    if view.checking.contains(name) {
        return Span::styled("◌ checking…", theme.warn());
    }
    match view.health.get(name) {
        None => Span::styled("never checked", theme.dim()),
        Some(report) => match report.failed_step() {
            Some(step) => Span::styled(format!("✖ {}", step_word(step.kind)), theme.error()),
            None if report.is_ok() => {
                let ms: u64 = report.steps.iter().filter_map(|s| s.latency_ms).sum();
                Span::styled(format!("✔ ok {} ms", format::count(ms)), theme.ok())
            }
            None => Span::styled("· incomplete", theme.warn()),
        },
    }
}

/// `cmdb-demo (bearer)`, or `none`.
fn credential_label(config: &Config, connection: &Connection) -> String {
    match &connection.credential {
        Some(name) => match config.credential(name) {
            Some(credential) => format!("{name} ({})", credential.kind.label()),
            None => format!("{name} (unknown)"),
        },
        None => "no credential".to_string(),
    }
}

fn last_run_spans(view: &ConnectionsView, name: &str, theme: Theme) -> Vec<Span<'static>> {
    let Some(summaries) = &view.summaries else {
        return vec![Span::styled("reading…", theme.dim())];
    };
    let summary = summaries.get(name).cloned().unwrap_or_default();
    let contracts = format!(
        "{} contract{}",
        format::count(summary.contracts),
        if summary.contracts == 1 { "" } else { "s" }
    );
    let mut spans = vec![Span::raw(contracts), Span::styled(" · ", theme.dim())];
    match summary.last_run {
        Some(run) => {
            // The status before the time: a narrow row cuts the time, not the status.
            spans.push(Span::raw(format!("last run #{} ", run.run_id)));
            spans.push(Span::styled(
                status::label_with(run.status, run.failed),
                theme.status_with(run.status, run.failed),
            ));
            spans.push(Span::raw(format!(" {}", format::started(run.at, false))));
        }
        None => spans.push(Span::styled("no run yet", theme.dim())),
    }
    spans
}

/// Column widths of the rows' first line.
struct Columns {
    name: usize,
    system: usize,
}

const MODE_WIDTH: usize = 15;
const HEALTH_WIDTH: usize = 14;

impl Columns {
    fn new(width: usize, config: &Config) -> Columns {
        let name = config
            .connections
            .iter()
            .map(|c| format::width(&c.name))
            .max()
            .unwrap_or(4)
            .clamp(10, 24);
        // marker, "N. ", name, system, mode, health, one space between.
        let fixed = 2 + 3 + name + 1 + 1 + MODE_WIDTH + 1 + HEALTH_WIDTH;
        Columns {
            name,
            system: width.saturating_sub(fixed),
        }
    }

    fn header(&self, theme: Theme) -> Line<'static> {
        Line::styled(
            format!(
                "     {} {} {} {}",
                format::pad("CONNECTION", self.name),
                format::pad("SYSTEM", self.system),
                format::pad("MODE", MODE_WIDTH),
                format::pad("HEALTH", HEALTH_WIDTH)
            ),
            theme.title(),
        )
    }
}

/// A row padded to the width, or cut to it as plain text, and reversed when selected.
fn finish(spans: Vec<Span<'static>>, width: usize, selected: bool, theme: Theme) -> Line<'static> {
    let used: usize = spans.iter().map(Span::width).sum();
    if used <= width {
        return list::row(spans, width, selected, theme);
    }
    let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
    let cut = format::fit(&text, width);
    let cut_width = format::width(&cut);
    list::row(vec![Span::raw(cut)], cut_width, selected, theme)
}

fn row_lines(
    view: &ConnectionsView,
    config: &Config,
    index: usize,
    cols: &Columns,
    width: usize,
    theme: Theme,
) -> [Line<'static>; 2] {
    let connection = &config.connections[index];
    let selected = index == view.selected;
    let (mode, overridden) = view.mode(connection);
    let mode_style = match mode {
        RunMode::Live => theme.warn(),
        RunMode::Dry => Style::new(),
    };
    let health = health_label(view, &connection.name, theme);
    let health_width = health.width();
    let first = vec![
        Span::raw(if selected { "▸ " } else { "  " }),
        Span::raw(format!("{}. ", index + 1)),
        Span::styled(format::pad(&connection.name, cols.name), theme.strong()),
        Span::raw(" "),
        Span::styled(format::pad(&connection.system, cols.system), theme.dim()),
        Span::raw(" "),
        Span::styled(
            format::pad(&mode_label(mode, overridden), MODE_WIDTH),
            mode_style,
        ),
        Span::raw(" "),
        health,
        Span::raw(" ".repeat(HEALTH_WIDTH.saturating_sub(health_width))),
    ];
    let mut second = vec![
        Span::raw("     "),
        Span::raw(credential_label(config, connection)),
        Span::styled(" · ", theme.dim()),
    ];
    second.extend(last_run_spans(view, &connection.name, theme));
    [
        finish(first, width, selected, theme),
        finish(second, width, selected, theme),
    ]
}

/// The details of the selected connection: settings, then the health check step by step.
fn detail_lines(
    view: &ConnectionsView,
    config: &Config,
    connection: &Connection,
    width: usize,
    compact: bool,
    theme: Theme,
) -> Vec<Line<'static>> {
    let label = |text: &str| Span::styled(format::pad(text, 12), theme.label());
    let (mode, overridden) = view.mode(connection);
    let mode_text = if overridden {
        format!(
            "{} (override; the configuration says {}) · D toggles",
            status::mode(mode),
            if connection.dry_run { "Dry" } else { "Live" }
        )
    } else {
        format!(
            "{} (from the configuration) · D toggles",
            status::mode(mode)
        )
    };
    let mut lines = vec![
        Line::from(vec![label("system"), Span::raw(connection.system.clone())]),
        Line::from(vec![
            label("destination"),
            Span::raw(connection.base_url.clone()),
        ]),
        Line::from(vec![
            label("credential"),
            Span::raw(credential_label(config, connection)),
        ]),
        Line::from(vec![label("mode"), Span::raw(mode_text)]),
    ];
    let mut run_line = vec![label("contracts")];
    run_line.extend(last_run_spans(view, &connection.name, theme));
    if let Some(run) = view
        .summaries
        .as_ref()
        .and_then(|s| s.get(&connection.name))
        .and_then(|s| s.last_run.as_ref())
    {
        run_line.push(Span::styled(
            format!(
                " ({} {})",
                status::run_type(run.run_type),
                status::mode(run.mode)
            ),
            theme.dim(),
        ));
    }
    lines.push(Line::from(run_line));
    let checking = view.checking.contains(&connection.name);
    let Some(report) = view.health.get(&connection.name) else {
        lines.push(Line::from(vec![
            label("health"),
            if checking {
                Span::styled("◌ checking…", theme.warn())
            } else {
                Span::styled("never checked: H checks it", theme.dim())
            },
        ]));
        return lines;
    };
    let verdict = match report.failed_step() {
        Some(step) => Span::styled(format!("✖ failed: {}", step.kind.label()), theme.error()),
        None if report.is_ok() => Span::styled("✔ ok", theme.ok()),
        None => Span::styled("· incomplete", theme.warn()),
    };
    let mut head = vec![
        label("health"),
        verdict,
        Span::styled(
            format!(
                " · checked {} UTC",
                format::started(report.checked_at, true)
            ),
            theme.dim(),
        ),
    ];
    if checking {
        head.push(Span::styled(" · ◌ checking again…", theme.warn()));
    }
    lines.push(Line::from(head));
    let kind_width = report
        .steps
        .iter()
        .map(|s| format::width(s.kind.label()))
        .max()
        .unwrap_or(0);
    for step in &report.steps {
        lines.extend(step_lines(step, kind_width, width, compact, theme));
    }
    lines
}

/// The text cut to `max` columns in the middle, so both ends show: a URL's host and the
/// status it answered (`GET http://127.0.0.1:7300/fl…=500 → 200`).
fn fit_middle(text: &str, max: usize) -> String {
    if format::width(text) <= max || max < 8 {
        return format::fit(text, max);
    }
    let chars: Vec<char> = text.chars().collect();
    let tail_len = (max - 1) * 3 / 5;
    let head_len = max - 1 - tail_len;
    let head: String = chars[..head_len.min(chars.len())].iter().collect();
    let tail: String = chars[chars.len().saturating_sub(tail_len)..]
        .iter()
        .collect();
    format!("{head}…{tail}")
}

/// `  ✔ source reachable   4 ms  GET http://…/fleet → 200` on one line; a failed step's
/// detail and hint in full, wrapped beneath it.
fn step_lines(
    step: &HealthStep,
    kind_width: usize,
    width: usize,
    compact: bool,
    theme: Theme,
) -> Vec<Line<'static>> {
    let style = match step.status {
        StepStatus::Ok => theme.ok(),
        StepStatus::Failed => theme.error(),
        StepStatus::Skipped => theme.dim(),
    };
    let latency = step
        .latency_ms
        .map_or_else(|| "—".to_string(), crate::engine::health::latency_text);
    let detail = if step.status == StepStatus::Skipped && step.detail.is_empty() {
        "skipped: an earlier step failed".to_string()
    } else {
        step.detail.clone()
    };
    let mut head = vec![
        Span::raw("  "),
        Span::styled(format!("{} ", step_mark(step.status)), style),
        Span::styled(format::pad(step.kind.label(), kind_width), style),
        Span::raw(" "),
        Span::styled(format::pad_left(&latency, 8), theme.dim()),
        Span::raw("  "),
    ];
    let used: usize = head.iter().map(Span::width).sum();
    let room = width.saturating_sub(used);
    // In full: a failed step always, every step when the pane has the room.
    let full = step.status == StepStatus::Failed || !compact;
    if !full || format::width(&detail) <= room {
        head.push(Span::raw(fit_middle(&detail, room)));
    }
    let mut lines = vec![Line::from(head)];
    if !full {
        return lines;
    }
    let indent = "      ";
    let room = width.saturating_sub(indent.len()).max(10);
    if format::width(&detail) > width.saturating_sub(used) {
        for piece in format::wrap(&detail, room).into_iter().take(3) {
            lines.push(Line::from(vec![Span::raw(indent), Span::raw(piece)]));
        }
    }
    if let Some(hint) = &step.hint {
        for piece in format::wrap(&format!("hint: {hint}"), room)
            .into_iter()
            .take(3)
        {
            lines.push(Line::from(vec![
                Span::raw(indent),
                Span::styled(piece, theme.warn()),
            ]));
        }
    }
    lines
}

pub fn draw(frame: &mut Frame, area: Rect, view: &ConnectionsView, config: &Config, theme: Theme) {
    let n = config.connections.len();
    let mut block = Block::bordered()
        .border_style(theme.border())
        .padding(Padding::horizontal(1));
    let detail = view.details.then(|| view.current(config)).flatten();
    block = match detail {
        Some(connection) => block
            .title(Line::from(vec![
                Span::styled(" Connection ", theme.title()),
                Span::styled(
                    format!("{}/{n}: {} ", view.selected + 1, connection.name),
                    theme.strong(),
                ),
            ]))
            .title_bottom(Line::styled(" H checks again · Esc back ", theme.dim()).right_aligned()),
        None => block.title(Line::from(vec![
            Span::styled(" Connections ", theme.title()),
            Span::styled(format!("· {n}, in execution order "), theme.dim()),
        ])),
    };
    if !view.checking.is_empty() {
        let names: Vec<&str> = config
            .connections
            .iter()
            .filter(|c| view.checking.contains(&c.name))
            .map(|c| c.name.as_str())
            .collect();
        block = block.title_bottom(Line::styled(
            format!(" checking the health of {}… ", names.join(", ")),
            theme.warn(),
        ));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let width = inner.width as usize;
    if let Some(connection) = detail {
        // Every step's detail in full where the pane has the room; else one line a step
        // that passed.
        let mut lines = detail_lines(view, config, connection, width, false, theme);
        if lines.len() > inner.height as usize {
            lines = detail_lines(view, config, connection, width, true, theme);
        }
        frame.render_widget(Paragraph::new(lines), inner);
        return;
    }
    if n == 0 {
        let lines = vec![
            Line::styled("No connections configured.", theme.strong()),
            Line::raw(""),
            Line::raw("Add [[connections]] to the configuration (see config.example.toml)."),
        ];
        frame.render_widget(Paragraph::new(lines).alignment(Alignment::Center), inner);
        return;
    }
    let cols = Columns::new(width, config);
    frame.render_widget(
        Paragraph::new(cols.header(theme)),
        Rect { height: 1, ..inner },
    );
    let body = Rect {
        y: inner.y + 1,
        height: inner.height.saturating_sub(1),
        ..inner
    };
    // Two lines a connection; the selected one stays in sight.
    let fits = (body.height as usize / 2).max(1);
    let first = view.selected.saturating_sub(fits - 1);
    let lines: Vec<Line> = (first..n)
        .take(fits)
        .flat_map(|i| row_lines(view, config, i, &cols, width, theme))
        .collect();
    frame.render_widget(Paragraph::new(lines), body);
}
