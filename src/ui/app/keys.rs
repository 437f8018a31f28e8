//! Which key table each context reads: the one place that knows every view's and overlay's
//! table. Key lookup, the key bar and the help all go through [`bindings`].

use crate::ui::keymap::{Binding, Context};
use crate::ui::overlays::keys::{CONFIRM, DIAGNOSTICS, HELP, PICKER};
use crate::ui::overlays::new_run::keys::{NEW_RUN, NEW_RUN_SERIAL};
use crate::ui::views::connections::keys::CONNECTIONS;
use crate::ui::views::contracts::keys::{CONTRACTS, CONTRACTS_SEARCH};
use crate::ui::views::jobs::keys::JOBS;
use crate::ui::views::logs::keys::{LOGS, LOGS_FILTER};
use crate::ui::views::report::keys::{DETAILS, EXPORT, REPORT, REPORT_SEARCH, TIMELINE};

/// The key map of a context.
pub fn bindings(context: Context) -> &'static [Binding] {
    match context {
        Context::Jobs => JOBS,
        Context::Logs => LOGS,
        Context::LogsFilter => LOGS_FILTER,
        Context::NewRun => NEW_RUN,
        Context::NewRunSerial => NEW_RUN_SERIAL,
        Context::Confirm => CONFIRM,
        Context::Help => HELP,
        Context::Report => REPORT,
        Context::ReportSearch => REPORT_SEARCH,
        Context::Details => DETAILS,
        Context::Picker => PICKER,
        Context::Export => EXPORT,
        Context::Timeline => TIMELINE,
        Context::Contracts => CONTRACTS,
        Context::ContractsSearch => CONTRACTS_SEARCH,
        Context::Connections => CONNECTIONS,
        Context::Diagnostics => DIAGNOSTICS,
    }
}

#[cfg(test)]
mod tests {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::ui::action::Action;
    use crate::ui::keymap::{self, Key};

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn keys_find_their_actions() {
        let none = KeyModifiers::NONE;
        assert_eq!(
            keymap::lookup(bindings(Context::Jobs), &press(KeyCode::Char('j'), none)),
            Some(Action::Down)
        );
        assert_eq!(
            keymap::lookup(bindings(Context::Jobs), &press(KeyCode::Down, none)),
            Some(Action::Down)
        );
        assert_eq!(
            keymap::lookup(
                bindings(Context::Jobs),
                &press(KeyCode::Char('G'), KeyModifiers::SHIFT)
            ),
            Some(Action::Bottom)
        );
        assert_eq!(
            keymap::lookup(
                bindings(Context::Jobs),
                &press(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Some(Action::Quit)
        );
        assert_eq!(
            keymap::lookup(bindings(Context::Jobs), &press(KeyCode::Char('c'), none)),
            Some(Action::CancelRun)
        );
        assert_eq!(
            keymap::lookup(bindings(Context::NewRun), &press(KeyCode::Char(' '), none)),
            Some(Action::ToggleChoice)
        );
        // In a text field, letters are text.
        assert_eq!(
            keymap::lookup(
                bindings(Context::NewRunSerial),
                &press(KeyCode::Char('a'), none)
            ),
            None
        );
        assert_eq!(
            keymap::lookup(
                bindings(Context::NewRunSerial),
                &press(KeyCode::Tab, KeyModifiers::SHIFT)
            ),
            Some(Action::PreviousField)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_a_context() {
        let contexts = [
            Context::Jobs,
            Context::Logs,
            Context::LogsFilter,
            Context::NewRun,
            Context::NewRunSerial,
            Context::Confirm,
            Context::Help,
            Context::Report,
            Context::ReportSearch,
            Context::Details,
            Context::Picker,
            Context::Export,
            Context::Timeline,
            Context::Contracts,
            Context::ContractsSearch,
            Context::Connections,
        ];
        for context in contexts {
            let keys: Vec<Key> = bindings(context)
                .iter()
                .flat_map(|b| b.keys.iter().copied())
                .collect();
            for (i, key) in keys.iter().enumerate() {
                assert!(!keys[i + 1..].contains(key), "{key:?} twice in {context:?}");
            }
            if context.takes_text() {
                assert!(
                    keys.iter().all(|k| !matches!(k, Key::Char(_) | Key::Space)),
                    "a text context binds a printable key"
                );
            }
        }
    }

    #[test]
    fn the_bar_keeps_help_and_quit_when_narrow() {
        let all = keymap::bar_entries(bindings(Context::Jobs), |_| true);
        assert!(all.len() > 4);
        let narrow = keymap::bar_entries(bindings(Context::Jobs), |entries| entries.len() <= 3);
        let words: Vec<&str> = narrow.iter().map(|(_, w)| *w).collect();
        assert_eq!(words, vec!["new run", "help", "quit"]);
    }
}
