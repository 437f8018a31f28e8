//! The diagnostics panel of one connection run (`D` in the jobs view): its entries counted by
//! reason (no change, rule, missing source field X, missing destination, format error on field
//! Y, HTTP statuses…) and the fields that change most, each line a way into the report
//! (Enter opens the report on that line's entries). The counts are read by a background job
//! ([`crate::store::Store::connection_run_diagnostics`]); drawing only draws.

use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::store::diagnostics::{Diagnostics, Reason};
use crate::store::{Outcome, RunId, RunMode};

use crate::ui::widgets::format;
use crate::ui::widgets::layout;
use crate::ui::widgets::list;
use crate::ui::widgets::theme::Theme;

/// Where the counts are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PanelState {
    Reading,
    Ready(Diagnostics),
    Failed(String),
}

/// One line the cursor can stand on, and the report filter it opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub label: String,
    pub count: u64,
    /// The report's outcome filter for this line's entries.
    pub outcomes: Vec<Outcome>,
    /// The heading the line sits under.
    pub section: Section,
}

/// The panel's sections, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Reasons,
    Fields,
    SameValue,
}

impl Section {
    fn heading(self, mode: RunMode) -> &'static str {
        match (self, mode) {
            (Section::Reasons, _) => "Entries by reason",
            (Section::Fields, RunMode::Dry) => "Fields that would change most",
            (Section::Fields, RunMode::Live) => "Fields changed most",
            (Section::SameValue, _) => "Fields sent with the same value (on_same is not skip)",
        }
    }
}

/// The open panel.
#[derive(Clone, Debug)]
pub struct DiagnosticsPanel {
    pub run_id: RunId,
    pub connection: String,
    pub mode: RunMode,
    pub state: PanelState,
    cursor: usize,
    top: usize,
}

/// A reason in the operator's words.
pub fn reason_label(reason: &Reason) -> String {
    match reason {
        Reason::Written(outcome) => outcome.label().to_string(),
        Reason::NoChange => "skipped: no change (on_same = \"skip\" dropped every field)".into(),
        Reason::Unchanged => "skipped: unchanged since its last sync (the hash matches)".into(),
        Reason::Rule => {
            "skipped: rule (null source: on_null = \"skip\" left nothing to write)".into()
        }
        Reason::MissingSource(Some(field)) => format!("missing source field {field}"),
        Reason::MissingSource(None) => "missing source".into(),
        Reason::MissingDestination => "missing destination".into(),
        Reason::FormatError(Some(field)) => format!("format error on field {field}"),
        Reason::FormatError(None) => "format error".into(),
        Reason::Http(status) => format!("refused with HTTP {status}"),
        Reason::Other(code) => code.replace('_', " "),
        Reason::More => "other reasons".into(),
    }
}

impl DiagnosticsPanel {
    pub fn new(run_id: RunId, connection: String, mode: RunMode) -> DiagnosticsPanel {
        DiagnosticsPanel {
            run_id,
            connection,
            mode,
            state: PanelState::Reading,
            cursor: 0,
            top: 0,
        }
    }

    /// True when this panel waits for the diagnostics of this connection run.
    pub fn is_for(&self, run_id: RunId, connection: &str) -> bool {
        self.run_id == run_id && self.connection == connection
    }

    pub fn set_result(&mut self, result: Result<Diagnostics, String>) {
        self.state = match result {
            Ok(diagnostics) => PanelState::Ready(diagnostics),
            Err(e) => PanelState::Failed(e),
        };
        self.cursor = 0;
        self.top = 0;
    }

    /// The lines the cursor can stand on, section by section.
    pub fn items(&self) -> Vec<Item> {
        let PanelState::Ready(d) = &self.state else {
            return Vec::new();
        };
        let written = match self.mode {
            RunMode::Dry => vec![Outcome::WouldUpdate, Outcome::WouldCreate],
            RunMode::Live => vec![Outcome::Updated, Outcome::Created],
        };
        let mut items: Vec<Item> = d
            .reasons
            .iter()
            .map(|r| Item {
                label: reason_label(&r.reason),
                count: r.count,
                outcomes: if r.reason == Reason::More {
                    Vec::new()
                } else {
                    vec![r.outcome]
                },
                section: Section::Reasons,
            })
            .collect();
        for (section, fields) in [
            (Section::Fields, &d.fields),
            (Section::SameValue, &d.same_value),
        ] {
            items.extend(fields.iter().map(|(field, count)| Item {
                label: field.clone(),
                count: *count,
                outcomes: written.clone(),
                section,
            }));
        }
        items
    }

    pub fn move_by(&mut self, delta: isize) {
        let n = self.items().len();
        if n == 0 {
            return;
        }
        self.cursor = self.cursor.saturating_add_signed(delta).min(n - 1);
    }

    pub fn to_end(&mut self, last: bool) {
        self.cursor = if last {
            self.items().len().saturating_sub(1)
        } else {
            0
        };
    }

    /// The line under the cursor.
    pub fn selected(&self) -> Option<Item> {
        self.items().into_iter().nth(self.cursor)
    }

    pub fn draw(&mut self, frame: &mut Frame, area: Rect, theme: Theme) {
        let width = area.width.saturating_sub(4).min(96);
        let text_width = width.saturating_sub(4) as usize;
        let mode = match self.mode {
            RunMode::Dry => "Dry",
            RunMode::Live => "Live",
        };
        let title = format::fit(
            &format!(
                " Diagnostics · run #{} · {} ({mode}) ",
                self.run_id, self.connection
            ),
            width.saturating_sub(2) as usize,
        );
        let mut head: Vec<Line> = Vec::new();
        let mut body: Vec<(Option<usize>, Line)> = Vec::new();
        match &self.state {
            PanelState::Reading => head.push(Line::styled("reading the entries…", theme.dim())),
            PanelState::Failed(e) => head.push(Line::styled(
                format::fit(&format!("✖ cannot read the entries: {e}"), text_width),
                theme.error(),
            )),
            PanelState::Ready(d) => {
                head.push(Line::styled(
                    format::fit(
                        &format!(
                            "{} entr{} · Enter opens the report on a line's entries",
                            format::count(d.entries),
                            if d.entries == 1 { "y" } else { "ies" }
                        ),
                        text_width,
                    ),
                    theme.dim(),
                ));
                let items = self.items();
                let count_width = items
                    .iter()
                    .map(|i| format::count(i.count).len())
                    .max()
                    .unwrap_or(1);
                let mut section = None;
                for (i, item) in items.iter().enumerate() {
                    if section != Some(item.section) {
                        section = Some(item.section);
                        body.push((None, Line::raw("")));
                        body.push((
                            None,
                            Line::styled(item.section.heading(self.mode), theme.label()),
                        ));
                    }
                    let here = i == self.cursor;
                    let mut spans = vec![
                        Span::styled(if here { "▸ " } else { "  " }, theme.key()),
                        Span::styled(
                            format::pad_left(&format::count(item.count), count_width),
                            theme.strong(),
                        ),
                        Span::raw("  "),
                        Span::raw(format::fit(
                            &item.label,
                            text_width.saturating_sub(count_width + 4),
                        )),
                    ];
                    if here {
                        list::highlight(&mut spans, theme);
                    }
                    body.push((Some(i), Line::from(spans)));
                }
                if items.is_empty() {
                    body.push((None, Line::raw("")));
                    body.push((
                        None,
                        Line::styled("no entries recorded for this connection run", theme.dim()),
                    ));
                }
                if d.same_value.is_empty() && !d.fields.is_empty() {
                    body.push((None, Line::raw("")));
                    body.push((
                        None,
                        Line::styled(
                            format::fit(
                                "no field was sent with the value the destination already held",
                                text_width,
                            ),
                            theme.dim(),
                        ),
                    ));
                }
            }
        }
        let foot = self.selected().map(|item| {
            let what = if item.outcomes.is_empty() {
                "every outcome".to_string()
            } else {
                item.outcomes
                    .iter()
                    .map(|o| o.label())
                    .collect::<Vec<_>>()
                    .join(" + ")
            };
            Line::styled(
                format::fit(
                    &format!(
                        "Enter: the report of run #{} · {} · {what}",
                        self.run_id, self.connection
                    ),
                    text_width,
                ),
                theme.dim(),
            )
        });
        let fixed = head.len() + usize::from(foot.is_some()) + 1;
        let room = (area.height.saturating_sub(2) as usize).saturating_sub(fixed);
        // Keep the cursor's line in sight.
        let at = body
            .iter()
            .position(|(i, _)| *i == Some(self.cursor))
            .unwrap_or(0);
        if at < self.top {
            self.top = at.saturating_sub(2);
        }
        if room > 0 && at >= self.top + room {
            self.top = at + 1 - room;
        }
        let shown: Vec<Line> = body
            .into_iter()
            .skip(self.top)
            .take(room)
            .map(|(_, line)| line)
            .collect();
        let mut lines = head;
        lines.extend(shown);
        if let Some(foot) = foot {
            lines.push(Line::raw(""));
            lines.push(foot);
        }
        let height = (lines.len() as u16 + 2).min(area.height);
        let rect = layout::centered(area, width, height);
        frame.render_widget(Clear, rect);
        let block = Block::bordered()
            .border_style(theme.overlay_border())
            .title(Span::styled(title, theme.title()));
        let inner = block.inner(rect).inner(Margin::new(1, 0));
        frame.render_widget(block, rect);
        frame.render_widget(Paragraph::new(lines), inner);
    }
}
