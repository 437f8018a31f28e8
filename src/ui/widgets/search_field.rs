//! The one search field the lists share (`/` in the report and the contracts): opened with the
//! search applied now and typed into, the list filtering as the text changes (as k9s and
//! lazygit do: the view applies [`SearchField::take_typed`] in its update step); Enter keeps
//! the text, Esc puts back the search there was before. Drawn by
//! `widgets::list::draw_first_line`.

use ratatui::crossterm::event::{Event as TermEvent, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use crate::ui::action::Action;

/// A search being typed, or none.
#[derive(Debug, Default)]
pub struct SearchField {
    input: Option<Input>,
    /// The search applied when the field opened: what Esc puts back.
    before: Option<String>,
    /// The text changed since the view last applied it.
    typed: bool,
}

impl SearchField {
    /// Opens the field with `current`, the search applied now.
    pub fn open(&mut self, current: Option<&str>) {
        self.input = Some(Input::new(current.unwrap_or_default().to_string()));
        self.before = current.map(str::to_string);
        self.typed = false;
    }

    /// True while the operator types in it.
    pub fn is_open(&self) -> bool {
        self.input.is_some()
    }

    /// A key typed into the open field.
    pub fn type_key(&mut self, key: KeyEvent) {
        if let Some(input) = &mut self.input {
            let before = input.value().to_string();
            input.handle_event(&TermEvent::Key(key));
            self.typed |= input.value() != before;
        }
    }

    /// The text typed since the last call, to filter the list with as the operator types;
    /// None when it did not change.
    pub fn take_typed(&mut self) -> Option<String> {
        if !std::mem::take(&mut self.typed) {
            return None;
        }
        self.input.as_ref().map(|input| input.value().to_string())
    }

    /// Esc: closes the field and gives the search there was when it opened (to put back: the
    /// list filtered as the text was typed).
    pub fn cancel(&mut self) -> String {
        self.input = None;
        self.typed = false;
        self.before.take().unwrap_or_default()
    }

    /// Enter: closes the field and gives what was typed (empty when it was not open).
    pub fn finish(&mut self) -> String {
        self.typed = false;
        self.input
            .take()
            .map(|input| input.value().to_string())
            .unwrap_or_default()
    }

    /// Enter or Esc while the field is open: closes it and gives the search to apply (what
    /// was typed, or the one there was before); None for any other action.
    pub fn close_on(&mut self, action: Action) -> Option<String> {
        match action {
            Action::FinishInput => Some(self.finish()),
            Action::Back => Some(self.cancel()),
            _ => None,
        }
    }

    /// The field while open, for drawing.
    pub fn input(&self) -> Option<&Input> {
        self.input.as_ref()
    }
}
