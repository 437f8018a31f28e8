//! Draws the new-run dialog: the connection checkboxes in config order with each one's mode,
//! Full or Single with the serial, Dry or Live, the workflow step and the safety gate.

use ratatui::Frame;
use ratatui::layout::{Margin, Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::store::RunMode;

use crate::ui::overlays::new_run::workflow::Step;
use crate::ui::overlays::new_run::{Field, ModeChoice, NewRunDialog};
use crate::ui::widgets::format;
use crate::ui::widgets::layout;
use crate::ui::widgets::list;
use crate::ui::widgets::theme::Theme;

const LABEL: usize = 12;

fn label(text: &str, focused: bool, theme: Theme) -> Vec<Span<'static>> {
    let marker = if focused { "▸ " } else { "  " };
    let style = if focused { theme.key() } else { theme.strong() };
    vec![
        Span::styled(marker, theme.key()),
        Span::styled(format::pad(text, LABEL - 2), style),
    ]
}

fn radio(chosen: bool, text: &str, focused: bool, theme: Theme) -> Vec<Span<'static>> {
    let mark = if chosen { "(•) " } else { "( ) " };
    let style = match (chosen, focused) {
        (true, true) => theme.selected(),
        (true, false) => theme.strong(),
        _ => Style::new(),
    };
    vec![
        Span::styled(format!("{mark}{text}"), style),
        Span::raw("  "),
    ]
}

/// A connection's mode in the list: Live in capitals, as the Enter line says it.
fn mode_word(mode: RunMode) -> &'static str {
    match mode {
        RunMode::Dry => "dry",
        RunMode::Live => "LIVE",
    }
}

impl NewRunDialog {
    fn workflow_lines(&self, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let current = self.current_step();
        let mut lines = Vec::new();
        let mut spans = label("Workflow", false, theme);
        for (i, step) in Step::ALL.into_iter().enumerate() {
            let (text, style) = match current {
                Some(c) if step < c => (format!("✓ {}", step.label()), theme.ok()),
                Some(c) if step == c => (
                    format!("▶ {}", step.label()),
                    theme.strong().patch(theme.selected()),
                ),
                None => (format!("✓ {}", step.label()), theme.ok()),
                _ => (step.label().to_string(), theme.dim()),
            };
            let arrow = if i > 0 { " → " } else { "" };
            let used: usize = spans.iter().map(Span::width).sum();
            if i > 0 && used + 3 + format::width(&text) > width {
                lines.push(Line::from(std::mem::take(&mut spans)));
                spans.push(Span::raw(" ".repeat(LABEL)));
            }
            spans.push(Span::styled(arrow, theme.dim()));
            spans.push(Span::styled(text, style));
        }
        lines.push(Line::from(spans));
        let room = width.saturating_sub(LABEL);
        let pad = " ".repeat(LABEL);
        let advice = match current {
            Some(step) => format!("you are here: {}", step.advice()),
            None => "every step is done with this configuration".to_string(),
        };
        for piece in format::wrap(&advice, room).into_iter().take(2) {
            lines.push(Line::from(vec![
                Span::raw(pad.clone()),
                Span::styled(piece, theme.dim()),
            ]));
        }
        let ahead = self.ahead_of_workflow();
        if let Some((_, this, on)) = ahead.first() {
            let names: Vec<&str> = ahead.iter().map(|(n, _, _)| *n).collect();
            let text = if ahead.iter().all(|(_, t, o)| t == this && o == on) {
                format!(
                    "⚠ {} skips ahead of {} for {}",
                    this.label(),
                    on.label(),
                    names.join(", ")
                )
            } else {
                format!(
                    "⚠ this run skips ahead of the workflow for {}",
                    names.join(", ")
                )
            };
            lines.push(Line::from(vec![
                Span::raw(pad),
                Span::styled(format::fit(&text, room), theme.warn()),
            ]));
        }
        lines
    }

    fn gate_lines(&self, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let Some(gate) = &self.gate else {
            return Vec::new();
        };
        let room = width.saturating_sub(LABEL);
        let pad = " ".repeat(LABEL);
        let mut lines = vec![Line::from(vec![
            Span::styled(format::pad("  Gate", LABEL), theme.warn()),
            Span::styled(
                format::fit("⚠ Full Live writes to every record, and", room),
                theme.warn(),
            ),
        ])];
        for reason in &gate.reasons {
            for (i, piece) in format::wrap(reason, room.saturating_sub(2))
                .into_iter()
                .take(3)
                .enumerate()
            {
                let bullet = if i == 0 { "• " } else { "  " };
                lines.push(Line::from(vec![
                    Span::raw(pad.clone()),
                    Span::raw(format!("{bullet}{piece}")),
                ]));
            }
        }
        lines.push(Line::from(vec![
            Span::raw(pad),
            Span::styled(
                format::fit(
                    "Enter asks for an explicit confirmation (a forced run)",
                    room,
                ),
                theme.dim(),
            ),
        ]));
        lines
    }

    /// What Enter does, in words: "Enter starts: Single Dry on cmdb for X", or, when any chosen
    /// connection runs Live, "Enter asks first: Full LIVE on registry, mdm · Dry on cmdb".
    /// True in the second case.
    fn summary(&self) -> (String, bool) {
        let split = self.mode_split();
        if split.live.is_empty() && split.dry.is_empty() {
            return (String::new(), false);
        }
        let scope = if self.full { "Full" } else { "Single" };
        let serial = if self.full || self.serial.value().trim().is_empty() {
            String::new()
        } else {
            format!(" for {}", self.serial.value().trim())
        };
        if split.live.is_empty() {
            return (
                format!(
                    "Enter starts: {scope} Dry on {}{serial}",
                    split.dry.join(", ")
                ),
                false,
            );
        }
        let dry = if split.dry.is_empty() {
            String::new()
        } else {
            format!(" · Dry on {}", split.dry.join(", "))
        };
        (
            format!(
                "Enter asks first: {scope} LIVE on {}{dry}{serial}",
                split.live.join(", ")
            ),
            true,
        )
    }

    /// What "each connection's setting" means for the chosen connections:
    /// "per connection: cmdb dry · registry, mdm LIVE".
    fn per_connection(&self) -> String {
        let split = self.mode_split();
        let mut parts = Vec::new();
        if !split.dry.is_empty() {
            parts.push(format!("{} dry", split.dry.join(", ")));
        }
        if !split.live.is_empty() {
            parts.push(format!("{} LIVE", split.live.join(", ")));
        }
        format!("per connection: {}", parts.join(" · "))
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let width = area.width.saturating_sub(4).min(96);
        let text_width = width.saturating_sub(4) as usize;
        let focus = self.focus;

        let mut after: Vec<Line> = Vec::new();
        after.push(Line::raw(""));
        let mut scope = label("Scope", focus == Field::Scope, theme);
        scope.extend(radio(!self.full, "Single", focus == Field::Scope, theme));
        scope.extend(radio(self.full, "Full", focus == Field::Scope, theme));
        after.push(Line::from(scope));
        let mut serial = label("Serial", focus == Field::Serial, theme);
        let field = text_width.saturating_sub(LABEL + 2).min(28);
        let mut cursor = None;
        if self.full {
            serial.push(Span::styled(
                "— a Full run takes every record in scope",
                theme.dim(),
            ));
        } else {
            let scroll = self.serial.visual_scroll(field.max(1));
            let shown: String = self.serial.value().chars().skip(scroll).collect();
            let style = if focus == Field::Serial {
                theme.selected()
            } else {
                Style::new()
            };
            serial.push(Span::styled(
                format!("[{}]", format::pad(&shown, field)),
                style,
            ));
            if focus == Field::Serial {
                cursor = Some((self.serial.visual_cursor().saturating_sub(scroll)).min(field));
            }
            if !self.recent.is_empty() {
                let recent = format!("  ↑ recent: {}", self.recent.join(", "));
                let room = text_width.saturating_sub(LABEL + field + 2);
                serial.push(Span::styled(format::fit(&recent, room), theme.dim()));
            }
        }
        after.push(Line::from(serial));
        let mut mode = label("Mode", focus == Field::Mode, theme);
        let short = text_width < 70;
        for choice in ModeChoice::ALL {
            let word = match choice {
                ModeChoice::AsConfigured if short => "per connection",
                _ => choice.label(),
            };
            mode.extend(radio(
                self.mode == choice,
                word,
                focus == Field::Mode,
                theme,
            ));
        }
        after.push(Line::from(mode));
        if self.mode == ModeChoice::AsConfigured && self.connections.iter().any(|c| c.chosen) {
            let room = text_width.saturating_sub(LABEL);
            for piece in format::wrap(&self.per_connection(), room)
                .into_iter()
                .take(2)
            {
                after.push(Line::from(vec![
                    Span::raw(" ".repeat(LABEL)),
                    Span::styled(piece, theme.dim()),
                ]));
            }
        }
        after.push(Line::raw(""));
        after.extend(self.workflow_lines(text_width, theme));
        after.extend(self.gate_lines(text_width, theme));
        if let Some(problem) = &self.problem {
            for piece in format::wrap(&format!("✖ {problem}"), text_width)
                .into_iter()
                .take(3)
            {
                after.push(Line::styled(piece, theme.error()));
            }
        }
        let (summary, live) = self.summary();
        if !summary.is_empty() {
            after.push(Line::raw(""));
            let style = if live {
                theme.warn().patch(theme.strong())
            } else {
                theme.strong()
            };
            for piece in format::wrap(&summary, text_width).into_iter().take(2) {
                after.push(Line::styled(piece, style));
            }
        }

        // The connection list gets what is left, at least one row; blank lines go first.
        let max_height = area.height.saturating_sub(2) as usize;
        let mut serial_index = 2;
        if 1 + after.len() + self.connections.len() > max_height {
            after.retain(|line| line.width() > 0);
            serial_index = 1;
        }
        let fixed = 1 + after.len();
        let list_rows = max_height
            .saturating_sub(fixed)
            .clamp(1, self.connections.len().max(1));
        let first = self.cursor.saturating_sub(list_rows - 1);
        let name_width = self
            .connections
            .iter()
            .map(|c| format::width(&c.name))
            .max()
            .unwrap_or(4)
            .min(20);
        let mode_text = |c: &crate::ui::overlays::new_run::ConnectionChoice| {
            let effective = self.effective_mode(c);
            if effective == c.configured {
                mode_word(effective).to_string()
            } else {
                format!(
                    "{} (setting: {})",
                    mode_word(effective),
                    mode_word(c.configured)
                )
            }
        };
        let mode_width = self
            .connections
            .iter()
            .map(|c| format::width(&mode_text(c)))
            .max()
            .unwrap_or(4)
            .max(4);
        let widest_system = self
            .connections
            .iter()
            .map(|c| format::width(&c.system))
            .max()
            .unwrap_or(0);
        let system_width = text_width
            .saturating_sub(2 + 4 + name_width + 2 + mode_width + 2)
            .min(widest_system);
        // A system cut to a few letters ("Servi…") says nothing: leave it out instead.
        let system_width = if system_width < 10.min(widest_system) {
            0
        } else {
            system_width
        };
        let mut lines: Vec<Line> = Vec::new();
        let focused = focus == Field::Connections;
        let range = if list_rows < self.connections.len() {
            format!(
                " ({}-{} of {})",
                first + 1,
                first + list_rows,
                self.connections.len()
            )
        } else {
            String::new()
        };
        let hint = "Space toggles · a all";
        let mut head = vec![
            Span::styled(if focused { "▸ " } else { "  " }, theme.key()),
            Span::styled(
                "Connections",
                if focused { theme.key() } else { theme.strong() },
            ),
            Span::styled(range, theme.dim()),
        ];
        let head_width: usize = head.iter().map(Span::width).sum();
        if head_width + hint.len() < text_width {
            head.push(Span::raw(" ".repeat(text_width - head_width - hint.len())));
            head.push(Span::styled(hint, theme.dim()));
        }
        lines.push(Line::from(head));
        for (i, c) in self
            .connections
            .iter()
            .enumerate()
            .skip(first)
            .take(list_rows)
        {
            let here = focused && i == self.cursor;
            let effective = self.effective_mode(c);
            let check = if c.chosen { "[x] " } else { "[ ] " };
            let mut spans = vec![
                Span::styled(if here { "▸ " } else { "  " }, theme.key()),
                Span::raw(check),
                Span::styled(format::pad(&c.name, name_width), theme.strong()),
                Span::raw("  "),
                Span::styled(format::pad(&c.system, system_width), theme.dim()),
                Span::raw(if system_width > 0 { "  " } else { "" }),
                Span::styled(
                    format::pad(&mode_text(c), mode_width),
                    if effective == RunMode::Live {
                        theme.warn()
                    } else {
                        Style::new()
                    },
                ),
            ];
            if here {
                list::highlight(&mut spans, theme);
            }
            lines.push(Line::from(spans));
        }
        let serial_row = lines.len() + serial_index;
        lines.extend(after);

        let height = (lines.len() as u16 + 2).min(area.height);
        let rect = layout::centered(area, width, height);
        frame.render_widget(Clear, rect);
        let title = match self.rerun_of {
            Some(id) => format!(" Rerun of #{id} "),
            None => " New run ".to_string(),
        };
        let block = Block::bordered()
            .border_style(theme.overlay_border())
            .title(Span::styled(title, theme.title()));
        let inner = block.inner(rect).inner(Margin::new(1, 0));
        frame.render_widget(block, rect);
        frame.render_widget(Paragraph::new(lines), inner);
        if let Some(x) = cursor {
            let y = inner.y + serial_row as u16;
            let x = inner.x + (LABEL + 1 + x) as u16;
            if y < inner.bottom() && x < inner.right() {
                frame.set_cursor_position(Position::new(x, y));
            }
        }
    }
}
