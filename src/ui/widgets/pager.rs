//! A text in a bordered overlay, scrolled: the entry details and the serial timeline.

use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::ui::widgets::format;
use crate::ui::widgets::theme::Theme;

/// What one frame of a scrolled overlay shows.
pub struct Pager<'a> {
    pub title: &'a str,
    pub lines: Vec<Line<'static>>,
    /// The first line shown.
    pub scroll: usize,
    /// How many lines fit.
    pub visible: usize,
    /// What j/k do, for the bottom border: "move" or "scroll".
    pub keys: &'static str,
}

impl Pager<'_> {
    /// The lines from `scroll` on, in a border; when they overflow, the bottom border says which
    /// show ("3-22 of 41 (j/k scroll)").
    pub fn draw(self, frame: &mut Frame, area: Rect, theme: Theme) {
        let inner_width = area.width.saturating_sub(4) as usize;
        let total = self.lines.len();
        let mut block = Block::bordered()
            .border_style(theme.overlay_border())
            .title(Span::styled(
                format!(" {} ", format::fit(self.title, inner_width)),
                theme.title(),
            ));
        if total > self.visible {
            block = block.title_bottom(
                Line::styled(
                    format!(
                        " {}-{} of {total} (j/k {}) ",
                        self.scroll + 1,
                        (self.scroll + self.visible).min(total),
                        self.keys
                    ),
                    theme.dim(),
                )
                .right_aligned(),
            );
        }
        let inner = block.inner(area).inner(Margin::new(1, 0));
        frame.render_widget(block, area);
        let shown: Vec<Line> = self.lines.into_iter().skip(self.scroll).collect();
        frame.render_widget(Paragraph::new(shown), inner);
    }
}
