//! The CSV export prompt (`e` in the report): the file to write, prefilled with the default
//! path under the data dir, and what will be exported.

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::crossterm::event::{Event as TermEvent, KeyEvent};
use ratatui::layout::{Margin, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use crate::ui::widgets::format;
use crate::ui::widgets::layout;
use crate::ui::widgets::theme::Theme;

/// The open prompt.
#[derive(Debug)]
pub struct ExportPrompt {
    pub input: Input,
    /// "37 entries matching status failed · connection mdm", or "every entry in the window".
    pub scope: String,
}

impl ExportPrompt {
    pub fn new(path: PathBuf, scope: String) -> ExportPrompt {
        ExportPrompt {
            input: Input::new(path.display().to_string()),
            scope,
        }
    }

    pub fn type_key(&mut self, key: KeyEvent) {
        self.input.handle_event(&TermEvent::Key(key));
    }

    /// The path typed, `~/` expanded to the home directory.
    pub fn path(&self) -> Option<PathBuf> {
        let text = self.input.value().trim();
        if text.is_empty() {
            return None;
        }
        if let Some(rest) = text.strip_prefix("~/")
            && let Some(home) = std::env::var_os("HOME")
        {
            return Some(PathBuf::from(home).join(rest));
        }
        Some(PathBuf::from(text))
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let width = area.width.saturating_sub(4).min(100);
        let text_width = width.saturating_sub(4) as usize;
        let mut lines: Vec<Line> =
            format::wrap(&format!("Export {} to CSV.", self.scope), text_width)
                .into_iter()
                .map(Line::raw)
                .collect();
        lines.push(Line::styled(
            format::fit(
                "A header row, RFC 4180 quoting, ISO 8601 times; mode 0600; never over an existing file.",
                text_width,
            ),
            theme.dim(),
        ));
        lines.push(Line::raw(""));
        let field_row = lines.len();
        let prompt = "file: ";
        let field = text_width.saturating_sub(prompt.len()).max(4);
        let scroll = self.input.visual_scroll(field);
        // A path longer than the field is cut from the left: an ellipsis says so.
        let shown: String = if scroll > 0 {
            std::iter::once('…')
                .chain(self.input.value().chars().skip(scroll + 1))
                .collect()
        } else {
            self.input.value().chars().collect()
        };
        lines.push(Line::from(vec![
            Span::styled(prompt, theme.key()),
            Span::raw(format::fit(&shown, field)),
        ]));
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled("Enter", theme.key()),
            Span::raw(" export   "),
            Span::styled("Esc", theme.key()),
            Span::raw(" cancel"),
        ]));
        let height = lines.len() as u16 + 2;
        let rect = layout::centered(area, width, height);
        frame.render_widget(Clear, rect);
        let block = Block::bordered()
            .border_style(theme.overlay_border())
            .title(Span::styled(" Export to CSV ", theme.title()));
        let inner = block.inner(rect).inner(Margin::new(1, 0));
        frame.render_widget(block, rect);
        frame.render_widget(Paragraph::new(lines), inner);
        let x = self.input.visual_cursor().saturating_sub(scroll) as u16;
        let x = (inner.x + prompt.len() as u16 + x).min(inner.right().saturating_sub(1));
        let y = inner.y + field_row as u16;
        if y < inner.bottom() {
            frame.set_cursor_position(Position::new(x, y));
        }
    }
}
