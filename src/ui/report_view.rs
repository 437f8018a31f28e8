//! The Sync report view: the count line, the active filters (or the search field), the column
//! header and one row per entry of the visible page; what runs in the background (counting,
//! selecting, exporting) on the bottom border.

use ratatui::Frame;
use ratatui::layout::{Alignment, Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::store::{ReportEntry, Store};

use super::format;
use super::report::{Report, column_name};
use super::report_columns::{Layout, Measure};
use super::theme::Theme;

/// What drawing needs besides the report.
pub struct Paint<'a> {
    pub theme: Theme,
    pub store: &'a Store,
    /// Work going on in the background, for the bottom border ("exporting 1,204 of 9,600").
    pub activity: Option<String>,
    /// The longest configured connection name: the column keeps its width from page to page.
    pub connection_width: usize,
}

/// "showing 37 of 9,600 (window: 5 days) · 3 selected", shortened to fit `width`.
pub fn count_line(report: &Report, width: usize) -> String {
    let count = |n: Option<u64>| n.map_or_else(|| "…".to_string(), format::count);
    let days = report.window_days();
    let plural = if days == 1 { "" } else { "s" };
    let selected = format!("{} selected", format::count(report.selected() as u64));
    let candidates = [
        format!(
            "showing {} of {} (window: {days} day{plural}) · {selected}",
            count(report.matching()),
            count(report.in_window()),
        ),
        format!(
            "{} of {} ({days}d) · {selected}",
            count(report.matching()),
            count(report.in_window()),
        ),
    ];
    let shortest = candidates[1].clone();
    candidates
        .into_iter()
        .find(|c| format::width(c) <= width)
        .unwrap_or_else(|| format::fit(&shortest, width))
}

fn filter_line(report: &Report, width: usize, theme: Theme) -> Line<'static> {
    let applied = report.describe();
    if applied.is_empty() {
        return Line::from(vec![
            Span::styled("filters: none", theme.dim()),
            Span::styled(
                format::fit(
                    "  (/ search · f status · o outcome · C connection · u run · +/- window)",
                    width.saturating_sub(13),
                ),
                theme.dim(),
            ),
        ]);
    }
    let text = applied.join(" · ");
    let tail = "  (Esc clears the last)";
    let room = width.saturating_sub(9);
    let mut spans = vec![
        Span::styled("filters: ", theme.label()),
        Span::styled(format::fit(&text, room), theme.warn()),
    ];
    if format::width(&text) + format::width(tail) <= room {
        spans.push(Span::styled(tail, theme.dim()));
    }
    Line::from(spans)
}

/// A row padded to the width, reversed when under the cursor.
fn finish(
    mut spans: Vec<Span<'static>>,
    width: usize,
    cursor: bool,
    theme: Theme,
) -> Line<'static> {
    let used: usize = spans.iter().map(Span::width).sum();
    if used < width {
        spans.push(Span::raw(" ".repeat(width - used)));
    }
    if cursor {
        for span in &mut spans {
            span.style = Style::new()
                .add_modifier(span.style.add_modifier)
                .patch(theme.selected());
        }
    }
    Line::from(spans)
}

fn empty_lines(report: &Report, theme: Theme) -> Vec<Line<'static>> {
    if report.is_filtered() {
        let last = report.describe().pop().unwrap_or_default();
        vec![
            Line::styled("No entry matches the filters.", theme.strong()),
            Line::raw(""),
            Line::raw(format!("Esc clears the last one ({last}).")),
        ]
    } else {
        vec![
            Line::styled(
                format!("No entries in the last {} days.", report.window_days()),
                theme.strong(),
            ),
            Line::raw(""),
            Line::raw("Every run records one entry per record and connection."),
            Line::raw("+ widens the window (up to 15 days); n starts a run."),
        ]
    }
}

pub fn draw(frame: &mut Frame, area: Rect, report: &mut Report, paint: &Paint) {
    let theme = paint.theme;
    let inner_width = area.width.saturating_sub(2) as usize;
    let title_room = inner_width.saturating_sub(16);
    let block = Block::bordered()
        .border_style(theme.border())
        .title(Line::from(vec![
            Span::styled(" Sync report ", theme.title()),
            Span::styled(
                format!("· {} ", count_line(report, title_room)),
                theme.strong(),
            ),
        ]));
    let inner = block.inner(area);
    // Rows: filter line, header, entries.
    let height = inner.height.saturating_sub(2) as usize;
    if height > 0 {
        report.prepare(paint.store, height);
    }
    let sort = report.sort();
    let direction = if sort.descending { "▼" } else { "▲" };
    let mut bottom_right = format!(" sorted by {} {direction} ", column_name(sort.column));
    if report.matching().is_some_and(|n| n > 0) {
        bottom_right.push_str(&format!(
            "· {}/{} ",
            format::count(report.cursor() as u64 + 1),
            format::count(report.matching().unwrap_or(0))
        ));
    }
    let mut block = block.title_bottom(Line::styled(bottom_right, theme.dim()).right_aligned());
    if let Some(activity) = &paint.activity {
        block = block.title_bottom(Line::styled(format!(" {activity} "), theme.warn()));
    }
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let width = inner.width as usize;
    // The filter line, or the search field while typing.
    let first = Rect { height: 1, ..inner };
    match &report.search {
        Some(input) => {
            let prompt = "search: ";
            let hint = "  Enter applies · Esc cancels";
            let field = width.saturating_sub(prompt.len() + hint.len()).max(8);
            let scroll = input.visual_scroll(field);
            let shown: String = input.value().chars().skip(scroll).collect();
            let line = Line::from(vec![
                Span::styled(prompt, theme.key()),
                Span::raw(format::pad(&shown, field)),
                Span::styled(hint, theme.dim()),
            ]);
            frame.render_widget(Paragraph::new(line), first);
            let x = input.visual_cursor().saturating_sub(scroll) as u16;
            let x = (inner.x + prompt.len() as u16 + x).min(inner.right().saturating_sub(1));
            frame.set_cursor_position(Position::new(x, inner.y));
        }
        None => frame.render_widget(Paragraph::new(filter_line(report, width, theme)), first),
    }
    if inner.height < 2 {
        return;
    }
    let body = Rect {
        y: inner.y + 2,
        height: inner.height - 2,
        ..inner
    };
    if let Some(error) = &report.error {
        let lines: Vec<Line> = format::wrap(error, width)
            .into_iter()
            .map(|l| Line::styled(l, theme.error()))
            .collect();
        frame.render_widget(Paragraph::new(lines), body);
        return;
    }
    let top = report.top();
    let visible: Vec<&ReportEntry> = (top..top + height).map_while(|i| report.row(i)).collect();
    let mut measure = Measure::of(&visible, report.extra);
    measure.connection = measure.connection.max(paint.connection_width);
    measure.id_digits = measure.id_digits.max(report.id_digits());
    let layout = Layout::new(width, &measure);
    frame.render_widget(
        Paragraph::new(Line::from(layout.header(sort, theme))),
        Rect {
            y: inner.y + 1,
            height: 1,
            ..inner
        },
    );
    if visible.is_empty() {
        let lines = if report.is_empty() {
            empty_lines(report, theme)
        } else {
            vec![Line::styled("reading…", theme.dim())]
        };
        let y = body.y + body.height.saturating_sub(lines.len() as u16) / 2;
        let rect = Rect {
            y,
            height: body.bottom() - y,
            ..body
        };
        frame.render_widget(Paragraph::new(lines).alignment(Alignment::Center), rect);
        return;
    }
    let cursor = report.cursor();
    let lines: Vec<Line> = visible
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let checked = report.is_selected(entry.sync_id);
            finish(
                layout.cells(entry, checked, theme),
                width,
                top + i == cursor,
                theme,
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), body);
}
