//! The Logs view's actions: scrolling, the filter field.

use ratatui::crossterm::event::KeyEvent;

use crate::ui::action::Action;
use crate::ui::keymap::Context;
use crate::ui::screen::{Lend, Outcome, Screen};
use crate::ui::views::logs::LogsView;

impl LogsView {
    /// Shows only the lines that name `connection` (Enter on a connection row of the jobs).
    pub fn filter_on(&mut self, connection: &str) {
        self.filter = tui_input::Input::new(connection.to_string());
        self.filter_changed();
    }
}

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
            Action::Back => {
                self.clear_filter();
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
}
