//! The Sync report view: the count line, the active filters (or the search field), the column
//! header and one row per entry of the visible page; what runs in the background (counting,
//! selecting, exporting) on the bottom border.

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::store::ReportEntry;

use crate::ui::views::report::Report;
use crate::ui::views::report::columns::{Layout, Measure};
use crate::ui::widgets::format;
use crate::ui::widgets::list;
use crate::ui::widgets::status;
use crate::ui::widgets::theme::Theme;

/// What drawing needs besides the report.
pub struct Paint {
    pub theme: Theme,
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
                format!(
                    "No entries in the last {}.",
                    status::counted(u64::from(report.window_days()), "day", "days")
                ),
                theme.strong(),
            ),
            Line::raw(""),
            Line::raw("Every run records one entry per record and connection."),
            Line::raw("+ widens the window (up to 15 days); n starts a run."),
        ]
    }
}

/// Rows of entries the view shows in `area`: the border, the filter line and the header take
/// the rest. [`crate::ui::app::App::prepare_frame`] reads that page before the frame.
pub fn rows(area: Rect) -> usize {
    (area.height as usize).saturating_sub(4)
}

/// Draws the report from its state: the page was read before the frame.
pub fn draw(frame: &mut Frame, area: Rect, report: &Report, paint: &Paint) {
    let theme = paint.theme;
    let inner_width = area.width.saturating_sub(2) as usize;
    let title_room = inner_width.saturating_sub(16);
    let block = list::block("Sync report", &count_line(report, title_room), theme);
    let inner = block.inner(area);
    // Rows: filter line, header, entries.
    let height = inner.height.saturating_sub(2) as usize;
    let sort = report.sort();
    let mut block = block.title_bottom(list::sort_title(
        sort.column.name(),
        sort.descending,
        report.cursor(),
        report.matching(),
        theme,
    ));
    if let Some(activity) = &paint.activity {
        block = block.title_bottom(Line::styled(format!(" {activity} "), theme.warn()));
    }
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let width = inner.width as usize;
    list::draw_first_line(
        frame,
        inner,
        report.search.input(),
        || filter_line(report, width, theme),
        theme,
    );
    if inner.height < 2 {
        return;
    }
    let body = Rect {
        y: inner.y + 2,
        height: inner.height - 2,
        ..inner
    };
    if let Some(error) = report.error() {
        list::draw_error(frame, body, error, theme);
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
            list::row(
                layout.cells(entry, checked, theme),
                width,
                top + i == cursor,
                theme,
            )
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), body);
}
