//! The Contracts view's actions: moving, the connection shown, sorting, the search field, and
//! deleting a contract (asks first; written in the background).

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use crate::engine::LogLevel;

use crate::ui::action::Action;
use crate::ui::keymap::Context;
use crate::ui::overlays::confirm::Confirm;
use crate::ui::overlays::picker::{Choice, Picker, PickerKind, Value};
use crate::ui::screen::background::{BackgroundResult, StoreWrite};
use crate::ui::screen::overlay_stack::Overlay;
use crate::ui::screen::{Lend, Outcome, Screen, TimelinePick};
use crate::ui::views::contracts::{self as contracts_view, ContractsView, sort_name};

impl ContractsView {
    /// The confirmed delete: the contract goes (in the background), the next run treats the
    /// serial as new.
    pub fn delete(&self, connection: &str, origin_id: &str, lend: &mut Lend) {
        lend.background.write(
            lend.store,
            StoreWrite::ContractDeleted {
                connection: connection.to_string(),
                origin_id: origin_id.to_string(),
            },
        );
    }
}

impl ContractsView {
    /// "sorted by last seen (descending)".
    fn sorted_line(&self) -> Outcome {
        let (sort, descending) = self.sort();
        let way = if descending {
            "descending"
        } else {
            "ascending"
        };
        Outcome::say(format!("sorted by {} ({way})", sort_name(sort)))
    }
}

impl Screen for ContractsView {
    fn context(&self) -> Context {
        if self.search.is_open() {
            Context::ContractsSearch
        } else {
            Context::Contracts
        }
    }

    fn handle(&mut self, action: Action, lend: &mut Lend) -> Vec<Outcome> {
        if self.search.is_open() {
            if let Some(text) = self.search.close_on(action) {
                self.set_filter(text.trim().to_string());
            }
            return Vec::new();
        }
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(self.page() as isize)),
            Action::PageDown => self.move_by(self.page() as isize),
            Action::Top => self.first(),
            Action::Bottom => self.last(),
            Action::NextConnection => self.cycle_connection(lend.config, 1),
            Action::PreviousConnection => self.cycle_connection(lend.config, -1),
            Action::PickSort => {
                let (current, _) = self.sort();
                let choices = ContractsView::SORTS
                    .iter()
                    .map(|s| Choice::new(sort_name(*s), Value::ContractSort(*s), current == *s))
                    .collect();
                let picker = Picker::new(
                    PickerKind::ContractSort,
                    "Sort contracts by (S reverses)",
                    choices,
                    false,
                );
                return vec![Outcome::Open(Overlay::Picker(picker))];
            }
            Action::ReverseSort => {
                self.reverse_sort();
                return vec![self.sorted_line()];
            }
            Action::Search => self.start_search(),
            Action::Back if self.set_filter(String::new()) => {
                return vec![Outcome::say("search cleared")];
            }
            Action::DeleteContract => {
                return vec![match self.current() {
                    Some(contract) => {
                        Outcome::Open(Overlay::Confirm(Confirm::delete_contract(contract)))
                    }
                    None => Outcome::say("no contract here"),
                }];
            }
            Action::OpenTimeline => {
                return vec![match self.current() {
                    Some(contract) => Outcome::OpenTimeline {
                        serial: contract.origin_id.clone(),
                        pick: TimelinePick::NewestOn(contract.connection.clone()),
                    },
                    None => Outcome::say("no contract here"),
                }];
            }
            _ => {}
        }
        Vec::new()
    }

    fn type_key(&mut self, key: KeyEvent) {
        self.search.type_key(key);
    }

    fn picked(&mut self, kind: PickerKind, values: Vec<Value>, _lend: &mut Lend) -> Vec<Outcome> {
        let sort = values.iter().find_map(|v| match v {
            Value::ContractSort(s) => Some(*s),
            _ => None,
        });
        match sort {
            Some(sort) if kind == PickerKind::ContractSort => {
                self.set_sort(sort);
                vec![self.sorted_line()]
            }
            _ => Vec::new(),
        }
    }

    /// The page around the cursor: the rows a frame of `area` shows, or (before a key, the
    /// view maybe not drawn since the query changed) the last drawn height.
    fn update(&mut self, lend: &mut Lend, area: Option<Rect>) -> Vec<Outcome> {
        // The search filters as it is typed.
        if let Some(text) = self.search.take_typed() {
            self.set_filter(text.trim().to_string());
        }
        match area {
            Some(area) => {
                let rows = contracts_view::rows(area);
                if rows > 0 {
                    self.prepare(lend.config, lend.store, rows);
                }
            }
            None => self.ensure(lend.config, lend.store),
        }
        Vec::new()
    }

    fn on_background(&mut self, done: BackgroundResult, _lend: &mut Lend) -> Vec<Outcome> {
        let BackgroundResult::Stored {
            write:
                StoreWrite::ContractDeleted {
                    connection,
                    origin_id,
                },
            result,
        } = done
        else {
            return Vec::new();
        };
        let mut out = match result {
            Ok(true) => {
                let text = format!(
                    "deleted the contract of {origin_id} on {connection}: the next run treats \
                     it as new"
                );
                vec![
                    Outcome::Log(LogLevel::Info, text.clone()),
                    Outcome::say(text),
                ]
            }
            Ok(false) => vec![Outcome::say(format!(
                "{origin_id} had no contract on {connection} any more"
            ))],
            Err(e) => vec![Outcome::error(format!("cannot delete the contract: {e}"))],
        };
        out.push(Outcome::ContractsChanged);
        out
    }
}
