//! Keys of the Contracts view and its search field, carried out.

use crate::engine::LogLevel;
use crate::store::StoreError;

use crate::ui::action::Action;
use crate::ui::app::App;
use crate::ui::keymap::Context;
use crate::ui::overlays::confirm::Confirm;
use crate::ui::overlays::help::Help;
use crate::ui::screen::background::StoreWrite;
use crate::ui::screen::overlay_stack::Overlay;
use crate::ui::views::contracts::sort_name;

impl App {
    pub(super) fn on_contracts(
        &mut self,
        context: Context,
        action: Action,
    ) -> Result<(), StoreError> {
        let view = &mut self.contracts;
        view.ensure(&self.config, &self.store);
        match action {
            Action::Up => view.move_by(-1),
            Action::Down => view.move_by(1),
            Action::PageUp => view.move_by(-(view.page() as isize)),
            Action::PageDown => view.move_by(view.page() as isize),
            Action::Top => view.first(),
            Action::Bottom => view.last(),
            Action::NextConnection => view.cycle_connection(&self.config, 1),
            Action::PreviousConnection => view.cycle_connection(&self.config, -1),
            Action::CycleSort | Action::ReverseSort => {
                if action == Action::CycleSort {
                    view.cycle_sort();
                } else {
                    view.reverse_sort();
                }
                let (sort, descending) = view.sort();
                let way = if descending {
                    "descending"
                } else {
                    "ascending"
                };
                self.show_message(format!("sorted by {} ({way})", sort_name(sort)), false);
            }
            Action::Search => view.start_search(),
            Action::Back if view.set_filter(String::new()) => {
                self.show_message("search cleared", false);
            }
            Action::DeleteContract => match view.current() {
                Some(contract) => self
                    .overlays
                    .push(Overlay::Confirm(Confirm::delete_contract(contract))),
                None => self.show_message("no contract here", false),
            },
            Action::OpenTimeline => match view.current() {
                Some(contract) => {
                    let (serial, connection) =
                        (contract.origin_id.clone(), contract.connection.clone());
                    self.open_timeline_on(&serial, &connection);
                }
                None => self.show_message("no contract here", false),
            },
            _ if action.is_common_to_views() => return self.on_view(context, action),
            _ => {}
        }
        Ok(())
    }

    pub(super) fn on_contracts_search(&mut self, action: Action) {
        match action {
            Action::FinishInput => {
                self.contracts.finish_search();
            }
            Action::Back => self.contracts.search.cancel(),
            Action::Help => self.overlays.push(Overlay::Help(Help::new(
                Context::ContractsSearch,
                crate::ui::app::keys::bindings(Context::ContractsSearch),
            ))),
            Action::Quit => self.request_quit(),
            _ => {}
        }
    }

    /// The confirmed delete: the contract goes (in the background), the next run treats the
    /// serial as new.
    pub(super) fn delete_contract(&mut self, connection: &str, origin_id: &str) {
        self.store_in_background(StoreWrite::ContractDeleted {
            connection: connection.to_string(),
            origin_id: origin_id.to_string(),
        });
    }

    /// How a delete went.
    pub(super) fn on_contract_deleted(
        &mut self,
        connection: &str,
        origin_id: &str,
        result: Result<bool, String>,
    ) {
        match result {
            Ok(true) => {
                let text = format!(
                    "deleted the contract of {origin_id} on {connection}: the next run treats \
                     it as new"
                );
                self.log(LogLevel::Info, text.clone());
                self.show_message(text, false);
            }
            Ok(false) => self.show_message(
                format!("{origin_id} had no contract on {connection} any more"),
                false,
            ),
            Err(e) => self.show_message(format!("cannot delete the contract: {e}"), true),
        }
        self.contracts.reload();
        self.connections.stale = true;
    }
}
