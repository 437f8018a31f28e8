//! The Logs view's actions: scrolling, the filter field.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use crate::ui::action::Action;
use crate::ui::keymap::Context;
use crate::ui::screen::{Lend, Outcome, Screen};
use crate::ui::views::logs::LogsView;

impl Screen for LogsView {
    fn context(&self) -> Context {
        if self.editing {
            Context::LogsFilter
        } else {
            Context::Logs
        }
    }

    fn handle(&mut self, action: Action, _lend: &mut Lend) -> Vec<Outcome> {
        match action {
            Action::Up => self.scroll_up(1),
            Action::Down => self.scroll_down(1),
            Action::PageUp => self.scroll_up(self.page()),
            Action::PageDown => self.scroll_down(self.page()),
            Action::Top => self.oldest(),
            Action::Bottom => self.follow(),
            // Esc clears the filter first, then leaves a run's kept lines.
            Action::Back if !self.clear_filter() && self.show_session() => {
                return vec![Outcome::say("this session's lines")];
            }
            Action::FinishInput => self.editing = false,
            Action::Search => self.editing = true,
            _ => {}
        }
        Vec::new()
    }

    fn type_key(&mut self, key: KeyEvent) {
        LogsView::type_key(self, key);
    }

    /// A run's kept lines, when they wait to be read.
    fn update(&mut self, lend: &mut Lend, _area: Option<Rect>) -> Vec<Outcome> {
        let Some(run_id) = self.run_to_read() else {
            return Vec::new();
        };
        match lend.store.run_log(run_id) {
            Ok(kept) => {
                self.set_run_lines(run_id, kept);
                vec![Outcome::Redraw]
            }
            Err(e) => {
                self.show_session();
                vec![Outcome::error(format!(
                    "cannot read the lines of run #{run_id}: {e}"
                ))]
            }
        }
    }

    /// Opened with no line this session (after a restart): the selected run's kept lines;
    /// showing a run's: the selected run's, read again (it may have ended since).
    fn shown(&mut self, lend: &mut Lend) -> Vec<Outcome> {
        let selected = lend.runs.selected_run().map(|r| (r.id, r.status));
        // A run going: this session's lines follow it live ("2 follows its log").
        if let Some((_, crate::store::RunStatus::Running)) = selected {
            self.show_session();
            return Vec::new();
        }
        if let Some((run_id, _)) = selected
            && (self.run().is_some() || self.is_empty())
        {
            let filter = self.filter_text();
            self.show_run(run_id, (!filter.is_empty()).then_some(filter.as_str()));
        }
        Vec::new()
    }
}
