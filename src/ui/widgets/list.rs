//! What the list views draw the same way: a row padded to the width and reversed under the
//! cursor, the sort and position on the bottom border, and the search field over the list.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use tui_input::Input;

use crate::ui::widgets::format;
use crate::ui::widgets::theme::Theme;

/// Reverses the spans of the selected row. Their own colours go first: reverse video on them
/// would read poorly.
pub fn highlight(spans: &mut [Span<'_>], theme: Theme) {
    for span in spans {
        span.style = Style::new()
            .add_modifier(span.style.add_modifier)
            .patch(theme.selected());
    }
}

/// A row padded to the width, reversed when selected.
pub fn row(
    mut spans: Vec<Span<'static>>,
    width: usize,
    selected: bool,
    theme: Theme,
) -> Line<'static> {
    let used: usize = spans.iter().map(Span::width).sum();
    if used < width {
        spans.push(Span::raw(" ".repeat(width - used)));
    }
    if selected {
        highlight(&mut spans, theme);
    }
    Line::from(spans)
}

/// A list view's border: " Contracts · registry · 1,204 contracts ", the view's name first.
pub fn block(name: &str, about: &str, theme: Theme) -> Block<'static> {
    Block::bordered()
        .border_style(theme.border())
        .title(Line::from(vec![
            Span::styled(format!(" {name} "), theme.title()),
            Span::styled(format!("· {about} "), theme.strong()),
        ]))
}

/// " sorted by last seen ▼ · 3/1,204 " for the bottom border; the position only when the list
/// has rows.
pub fn sort_title(
    column: &str,
    descending: bool,
    cursor: usize,
    total: Option<u64>,
    theme: Theme,
) -> Line<'static> {
    let arrow = if descending { "▼" } else { "▲" };
    let mut title = format!(" sorted by {column} {arrow} ");
    if let Some(total) = total.filter(|n| *n > 0) {
        title.push_str(&format!(
            "· {}/{} ",
            format::count(cursor as u64 + 1),
            format::count(total)
        ));
    }
    Line::styled(title, theme.dim()).right_aligned()
}

/// A store error in place of the rows, wrapped to the width.
pub fn draw_error(frame: &mut Frame, body: Rect, error: &str, theme: Theme) {
    let lines: Vec<Line> = format::wrap(error, body.width as usize)
        .into_iter()
        .map(|l| Line::styled(l, theme.error()))
        .collect();
    frame.render_widget(Paragraph::new(lines), body);
}

/// The list's first line: the search field while typing in it, else `otherwise` (the filters,
/// the connection chooser).
pub fn draw_first_line(
    frame: &mut Frame,
    inner: Rect,
    search: Option<&Input>,
    otherwise: impl FnOnce() -> Line<'static>,
    theme: Theme,
) {
    let line = Rect { height: 1, ..inner };
    match search {
        Some(input) => draw_search(frame, line, input, theme),
        None => frame.render_widget(Paragraph::new(otherwise()), line),
    }
}

/// The search field on one line, with the terminal cursor in it.
fn draw_search(frame: &mut Frame, line: Rect, input: &Input, theme: Theme) {
    let prompt = "search: ";
    let hint = "  Enter keeps · Esc puts back";
    let field = (line.width as usize)
        .saturating_sub(prompt.len() + hint.len())
        .max(8);
    let scroll = input.visual_scroll(field);
    let shown: String = input.value().chars().skip(scroll).collect();
    let text = Line::from(vec![
        Span::styled(prompt, theme.key()),
        Span::raw(format::pad(&shown, field)),
        Span::styled(hint, theme.dim()),
    ]);
    frame.render_widget(Paragraph::new(text), line);
    let x = input.visual_cursor().saturating_sub(scroll) as u16;
    let x = (line.x + prompt.len() as u16 + x).min(line.right().saturating_sub(1));
    frame.set_cursor_position(Position::new(x, line.y));
}
