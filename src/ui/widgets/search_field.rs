//! The one search field the lists share (`/` in the report and the contracts): opened with the
//! search applied now, typed into, then closed by Enter (its text is applied) or Esc (nothing
//! changes). Drawn by `widgets::list::draw_first_line`.

use ratatui::crossterm::event::{Event as TermEvent, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

/// A search being typed, or none.
#[derive(Debug, Default)]
pub struct SearchField {
    input: Option<Input>,
}

impl SearchField {
    /// Opens the field with `current`, the search applied now.
    pub fn open(&mut self, current: Option<&str>) {
        self.input = Some(Input::new(current.unwrap_or_default().to_string()));
    }

    /// True while the operator types in it.
    pub fn is_open(&self) -> bool {
        self.input.is_some()
    }

    /// A key typed into the open field.
    pub fn type_key(&mut self, key: KeyEvent) {
        if let Some(input) = &mut self.input {
            input.handle_event(&TermEvent::Key(key));
        }
    }

    /// Esc: closes the field, the search as it was.
    pub fn cancel(&mut self) {
        self.input = None;
    }

    /// Enter: closes the field and gives what was typed (empty when it was not open).
    pub fn finish(&mut self) -> String {
        self.input
            .take()
            .map(|input| input.value().to_string())
            .unwrap_or_default()
    }

    /// The field while open, for drawing.
    pub fn input(&self) -> Option<&Input> {
        self.input.as_ref()
    }
}
