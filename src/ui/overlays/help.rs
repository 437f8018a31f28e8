//! The help overlay (`?`) and the one-line key bar, both generated from the key maps.

use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::ui::keymap::{self, Binding, Context};
use crate::ui::widgets::format;
use crate::ui::widgets::layout;
use crate::ui::widgets::theme::Theme;

/// The help overlay: the keys of the context it was opened from.
#[derive(Clone, Copy, Debug)]
pub struct Help {
    pub context: Context,
    /// The context's key table.
    pub bindings: &'static [Binding],
    pub scroll: usize,
    /// Lines of the last drawn page, for page moves.
    page: usize,
}

impl Help {
    pub fn new(context: Context, bindings: &'static [Binding]) -> Help {
        Help {
            context,
            bindings,
            scroll: 0,
            page: 1,
        }
    }

    /// Scrolls by `lines` (negative: up); drawing clamps past the end.
    pub fn scroll_by(&mut self, lines: isize) {
        self.scroll = self.scroll.saturating_add_signed(lines);
    }

    /// Scrolls a page up or down (the lines the last frame showed, less one kept in sight).
    pub fn page(&mut self, down: bool) {
        let step = self.page.saturating_sub(1).max(1) as isize;
        self.scroll_by(if down { step } else { -step });
    }

    /// The first or the last page.
    pub fn to_end(&mut self, last: bool) {
        self.scroll = if last { usize::MAX } else { 0 };
    }

    /// The entries, their sentences wrapped to `width` under the sentence column.
    fn lines(&self, width: usize, theme: Theme) -> Vec<Line<'static>> {
        let bindings = self.bindings;
        let key_width = bindings
            .iter()
            .map(|b| format::width(&keymap::key_names(b.keys)))
            .max()
            .unwrap_or(0)
            .clamp(4, 18);
        let room = width.saturating_sub(key_width + 2).max(10);
        let mut entries: Vec<(String, &str)> = bindings
            .iter()
            .map(|b| (keymap::key_names(b.keys), b.help))
            .collect();
        if let Some(note) = keymap::text_note(self.context) {
            entries.push(("text".to_string(), note));
        }
        let mut lines = Vec::with_capacity(entries.len() + 4);
        for (keys, help) in entries {
            for (i, piece) in format::wrap(help, room).into_iter().enumerate() {
                let head = if i == 0 { keys.as_str() } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format::pad(head, key_width), theme.key()),
                    Span::raw("  "),
                    Span::raw(piece),
                ]));
            }
        }
        lines
    }

    pub fn draw(&mut self, frame: &mut Frame, area: Rect, theme: Theme) {
        let width = area.width.saturating_sub(2).min(84);
        let lines = self.lines(width.saturating_sub(4) as usize, theme);
        let height = (lines.len() as u16 + 2).min(area.height.saturating_sub(2));
        let rect = layout::centered(area, width, height);
        let visible = height.saturating_sub(2) as usize;
        self.page = visible.max(1);
        self.scroll = self.scroll.min(lines.len().saturating_sub(visible));
        let more = if lines.len() > visible {
            format!(
                " {}-{} of {} ",
                self.scroll + 1,
                self.scroll + visible,
                lines.len()
            )
        } else {
            String::new()
        };
        frame.render_widget(Clear, rect);
        let block = Block::bordered()
            .border_style(theme.overlay_border())
            .title(Span::styled(
                format!(" Help · {} ", self.context.title()),
                theme.title(),
            ))
            .title_bottom(
                Line::from(vec![
                    Span::styled(more, theme.dim()),
                    Span::styled(" Esc", theme.key()),
                    Span::raw(" close "),
                ])
                .right_aligned(),
            );
        let inner = block.inner(rect).inner(Margin::new(1, 0));
        frame.render_widget(block, rect);
        let shown: Vec<Line> = lines.into_iter().skip(self.scroll).collect();
        frame.render_widget(Paragraph::new(shown), inner);
    }
}

/// The key bar of a key table: `n new run  Enter expand  …  ? help  q quit`, cut to the width.
pub fn key_bar(bindings: &[Binding], width: u16, theme: Theme) -> Line<'static> {
    let room = width as usize;
    let length = |entries: &[(String, &str)]| -> usize {
        entries
            .iter()
            .map(|(k, w)| format::width(k) + 1 + format::width(w))
            .sum::<usize>()
            + 2 * entries.len()
    };
    let entries = keymap::bar_entries(bindings, |e| length(e) <= room);
    let mut spans = vec![Span::raw(" ")];
    for (i, (key, word)) in entries.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(key, theme.key()));
        spans.push(Span::styled(format!(" {word}"), theme.dim()));
    }
    Line::from(spans)
}
