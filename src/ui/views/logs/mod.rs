//! The Logs view: the engine's recent log lines (the last 2,000), scrollable, filtered with `/`;
//! or one run's warning and error lines, kept with the run in the store (`L` in the jobs view,
//! Enter on a connection row without failures, or the view opened with no line this session:
//! after a restart, the selected run's), read by the update step.

mod actions;
pub mod keys;

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::crossterm::event::{Event as TermEvent, KeyEvent};
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Padding, Paragraph};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use crate::engine::LogLevel;
use crate::store::RunId;
use crate::store::{LogLine as KeptLine, LogSeverity};

use crate::ui::widgets::format;
use crate::ui::widgets::status;
use crate::ui::widgets::theme::Theme;

/// Lines kept; older ones drop off.
pub const CAPACITY: usize = 2_000;

/// One engine log line, stamped when the screen received it.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub level: LogLevel,
    pub message: String,
}

/// One run's lines, kept with it in the store.
#[derive(Debug)]
struct RunLog {
    run_id: RunId,
    /// None until the update step reads them.
    lines: Option<VecDeque<LogLine>>,
}

/// The kept lines, the filter and the scroll position.
#[derive(Debug, Default)]
pub struct LogsView {
    lines: VecDeque<LogLine>,
    /// Showing one run's kept lines instead of this session's.
    run: Option<RunLog>,
    filter: Input,
    /// The filter field has the keys.
    editing: bool,
    /// Matching lines hidden below the view; 0 follows new lines.
    scroll: usize,
    /// Rows of the last drawn view, for page moves.
    page: usize,
}

fn level_word(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Info => "INFO ",
        LogLevel::Warn => "WARN ",
        LogLevel::Error => "ERROR",
    }
}

impl LogsView {
    pub fn push(&mut self, line: LogLine) {
        if self.lines.len() == CAPACITY {
            self.lines.pop_front();
        }
        if self.scroll > 0 && self.matches(&line) {
            // Keep the lines in view where they are while the operator reads.
            self.scroll += 1;
        }
        self.lines.push_back(line);
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn matches(&self, line: &LogLine) -> bool {
        let needle = self.filter.value().trim();
        needle.is_empty()
            || line.message.to_lowercase().contains(&needle.to_lowercase())
            || level_word(line.level).trim().eq_ignore_ascii_case(needle)
    }

    /// The lines on show: the run's kept ones, or this session's.
    fn shown(&self) -> &VecDeque<LogLine> {
        static NONE: VecDeque<LogLine> = VecDeque::new();
        match &self.run {
            Some(run) => run.lines.as_ref().unwrap_or(&NONE),
            None => &self.lines,
        }
    }

    fn matching(&self) -> Vec<&LogLine> {
        self.shown().iter().filter(|l| self.matches(l)).collect()
    }

    /// Shows a run's kept lines (read by the next update step), filtered on a connection's
    /// name when one is given.
    pub fn show_run(&mut self, run_id: RunId, connection: Option<&str>) {
        self.run = Some(RunLog {
            run_id,
            lines: None,
        });
        self.filter = Input::new(connection.unwrap_or_default().to_string());
        self.editing = false;
        self.scroll = 0;
    }

    /// Back to this session's lines; false when they were on show.
    pub fn show_session(&mut self) -> bool {
        self.scroll = 0;
        self.run.take().is_some()
    }

    /// The run whose kept lines are on show.
    pub fn run(&self) -> Option<RunId> {
        self.run.as_ref().map(|r| r.run_id)
    }

    /// The run whose kept lines wait to be read.
    pub fn run_to_read(&self) -> Option<RunId> {
        self.run
            .as_ref()
            .filter(|r| r.lines.is_none())
            .map(|r| r.run_id)
    }

    /// The kept lines of the run on show, as read from the store.
    pub fn set_run_lines(&mut self, run_id: RunId, kept: Vec<KeptLine>) {
        let Some(run) = self.run.as_mut().filter(|r| r.run_id == run_id) else {
            return;
        };
        run.lines = Some(
            kept.into_iter()
                .map(|line| {
                    let message = match &line.connection {
                        Some(name) if !line.message.contains(name.as_str()) => {
                            format!("{name}: {}", line.message)
                        }
                        _ => line.message,
                    };
                    LogLine {
                        at: line.at,
                        level: match line.severity {
                            LogSeverity::Warn => LogLevel::Warn,
                            LogSeverity::Error => LogLevel::Error,
                        },
                        message,
                    }
                })
                .collect(),
        );
    }

    /// Scrolls towards older lines.
    pub fn scroll_up(&mut self, lines: usize) {
        let max = self.matching().len().saturating_sub(1);
        self.scroll = self.scroll.saturating_add(lines).min(max);
    }

    /// Scrolls towards newer lines.
    pub fn scroll_down(&mut self, lines: usize) {
        self.scroll = self.scroll.saturating_sub(lines);
    }

    pub fn page(&self) -> usize {
        self.page.max(1)
    }

    pub fn oldest(&mut self) {
        self.scroll = usize::MAX;
        self.scroll_up(0);
    }

    pub fn follow(&mut self) {
        self.scroll = 0;
    }

    /// The filter's text.
    pub fn filter_text(&self) -> String {
        self.filter.value().to_string()
    }

    /// Clears the filter; false when there was none.
    pub fn clear_filter(&mut self) -> bool {
        let had = !self.filter.value().is_empty() || self.editing;
        self.filter.reset();
        self.editing = false;
        self.scroll = 0;
        had
    }

    /// A key the filter field edits.
    pub fn type_key(&mut self, key: KeyEvent) {
        if self.filter.handle_event(&TermEvent::Key(key)).is_some() {
            self.filter_changed();
        }
    }

    /// The filter changed: show the newest matching lines.
    pub fn filter_changed(&mut self) {
        self.scroll = 0;
    }

    pub fn draw(&mut self, frame: &mut Frame, area: Rect, theme: Theme) {
        let match_count = self.matching().len();
        let filter = self.filter.value().to_string();
        let whose = match self.run() {
            Some(run_id) => format!("run #{run_id}, kept with the run (Esc: this session's)"),
            None => "this session".to_string(),
        };
        let mut title = vec![
            Span::styled(" Logs ", theme.title()),
            Span::styled(
                format!(
                    "· {whose} · {} ",
                    status::counted(self.shown().len() as u64, "line", "lines")
                ),
                theme.dim(),
            ),
        ];
        if !filter.is_empty() {
            title.push(Span::styled(
                format!(
                    "· filter \"{filter}\": {} ",
                    status::counted(match_count as u64, "match", "matches")
                ),
                theme.warn(),
            ));
        }
        if self.scroll > 0 {
            title.push(Span::styled(
                format!(
                    "· {} newer below (G follows) ",
                    format::count(self.scroll as u64)
                ),
                theme.dim(),
            ));
        }
        let block = Block::bordered()
            .border_style(theme.border())
            .padding(Padding::horizontal(1))
            .title(Line::from(title));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if inner.height == 0 || inner.width == 0 {
            return;
        }
        let show_input = self.editing || !filter.is_empty();
        let text_rows = if show_input {
            inner.height - 1
        } else {
            inner.height
        } as usize;
        self.page = text_rows;
        let matching = self.matching();
        let width = inner.width as usize;
        let mut lines: Vec<Line> = Vec::new();
        if matching.is_empty() {
            let message = match &self.run {
                _ if !self.shown().is_empty() => {
                    "No line matches the filter (Esc clears it).".to_string()
                }
                Some(RunLog { lines: None, .. }) => "Reading the run's lines…".to_string(),
                Some(RunLog { run_id, .. }) => format!(
                    "Run #{run_id} kept no warning or error line (retries, aborts, refusals \
                     and hints are kept; Esc: this session's lines)."
                ),
                None => "No log lines yet this session: the engine's messages appear here \
                         while runs go; L in the jobs view shows a run's kept lines."
                    .to_string(),
            };
            for piece in format::wrap(&message, width) {
                lines.push(Line::styled(piece, theme.dim()));
            }
        } else {
            let bottom = matching.len() - 1 - self.scroll.min(matching.len() - 1);
            let mut above: Vec<Vec<Line>> = Vec::new();
            let mut used = 0;
            let mut index = bottom as isize;
            while index >= 0 && used < text_rows {
                let wrapped = log_lines(matching[index as usize], width, theme);
                used += wrapped.len();
                above.push(wrapped);
                index -= 1;
            }
            above.reverse();
            lines = above.into_iter().flatten().collect();
            // Scrolled to the oldest lines: fill the view downwards too.
            let mut next = bottom + 1;
            while lines.len() < text_rows && next < matching.len() {
                lines.extend(log_lines(matching[next], width, theme));
                next += 1;
            }
            if lines.len() > text_rows {
                lines.drain(..lines.len() - text_rows);
            }
        }
        let text_area = Rect {
            height: text_rows as u16,
            ..inner
        };
        frame.render_widget(Paragraph::new(lines), text_area);
        if show_input {
            let y = inner.y + inner.height - 1;
            let prompt_width = 8u16;
            let field = inner.width.saturating_sub(prompt_width) as usize;
            let scroll = self.filter.visual_scroll(field.max(1));
            let shown: String = self.filter.value().chars().skip(scroll).collect();
            let line = Line::from(vec![
                Span::styled("filter: ", theme.key()),
                Span::raw(format::fit(&shown, field)),
            ]);
            frame.render_widget(Paragraph::new(line), Rect::new(inner.x, y, inner.width, 1));
            if self.editing {
                let x = (self.filter.visual_cursor().saturating_sub(scroll)) as u16;
                let x = (inner.x + prompt_width + x).min(inner.right().saturating_sub(1));
                frame.set_cursor_position(Position::new(x, y));
            }
        }
    }
}

/// One log line wrapped to the width, continuation lines indented under the message.
fn log_lines(line: &LogLine, width: usize, theme: Theme) -> Vec<Line<'static>> {
    let prefix = 16; // "HH:MM:SS LEVEL  "
    let room = width.saturating_sub(prefix).max(10);
    let pieces = format::wrap(&line.message, room);
    let mut out = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.into_iter().enumerate() {
        if i == 0 {
            out.push(Line::from(vec![
                Span::styled(format::clock_time(line.at), theme.dim()),
                Span::raw(" "),
                Span::styled(level_word(line.level), theme.level(line.level)),
                Span::raw("  "),
                Span::raw(piece),
            ]));
        } else {
            out.push(Line::from(vec![
                Span::raw(" ".repeat(prefix)),
                Span::raw(piece),
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str) -> LogLine {
        LogLine {
            at: DateTime::UNIX_EPOCH,
            level: LogLevel::Info,
            message: message.into(),
        }
    }

    #[test]
    fn keeps_the_last_lines_only() {
        let mut book = LogsView::default();
        for i in 0..CAPACITY + 5 {
            book.push(line(&format!("line {i}")));
        }
        assert_eq!(book.len(), CAPACITY);
        assert_eq!(book.lines.front().unwrap().message, "line 5");
    }

    #[test]
    fn a_reader_scrolled_up_keeps_their_place() {
        let mut book = LogsView::default();
        for i in 0..10 {
            book.push(line(&format!("cmdb {i}")));
        }
        book.scroll_up(3);
        book.push(line("cmdb 10"));
        assert_eq!(book.scroll, 4);
        book.filter = Input::new("mdm".into());
        assert!(book.matching().is_empty());
        book.filter = Input::new("CMDB 1".into());
        assert_eq!(book.matching().len(), 2);
    }
}
