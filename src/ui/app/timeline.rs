//! Keys of the serial timeline ([`crate::ui::views::report::timeline`]), carried out: it opens
//! over whatever is on screen, and entry details open over it.

use crate::store::{StoreError, SyncId};
use crate::ui::action::Action;
use crate::ui::app::App;
use crate::ui::keymap::Context;
use crate::ui::overlays::help::Help;
use crate::ui::screen::overlay_stack::Overlay;
use crate::ui::views::report::entry_details::EntryDetails;
use crate::ui::views::report::timeline::Timeline;

impl App {
    /// Opens the timeline of `serial` over whatever is on screen (pushed: details open now show
    /// again when it closes), its newest entry on `connection` selected (a contract's), else its
    /// newest.
    pub(super) fn open_timeline_on(&mut self, serial: &str, connection: &str) {
        self.open_timeline_with(serial, |timeline| timeline.newest_on(connection));
    }

    /// Opens the timeline of `serial` with the entry `sync_id` selected (else the newest).
    pub(super) fn open_timeline_at(&mut self, serial: &str, sync_id: Option<SyncId>) {
        self.open_timeline_with(serial, |_| sync_id);
    }

    fn open_timeline_with(&mut self, serial: &str, pick: impl FnOnce(&Timeline) -> Option<SyncId>) {
        match Timeline::load(&self.store, serial) {
            Ok(mut timeline) => {
                let sync_id = pick(&timeline);
                timeline.select(sync_id);
                self.overlays.push(Overlay::Timeline(timeline));
            }
            Err(e) => self.show_message(format!("cannot read the timeline of {serial}: {e}"), true),
        }
        self.dirty = true;
    }

    pub(super) fn on_timeline(&mut self, action: Action) -> Result<(), StoreError> {
        let Some(timeline) = self.overlays.timeline() else {
            return Ok(());
        };
        match action {
            Action::Up => timeline.up(),
            Action::Down => timeline.down(),
            Action::PageUp => timeline.page(false),
            Action::PageDown => timeline.page(true),
            Action::Top => timeline.top(),
            Action::Bottom => timeline.bottom(),
            Action::Expand => match timeline.selected_entry().cloned() {
                Some(entry) => self
                    .overlays
                    .push(Overlay::Details(Box::new(EntryDetails::load(
                        &self.store,
                        entry,
                    )?))),
                None => self.show_message("no entry here", false),
            },
            Action::Copy => {
                let text = timeline.text();
                let what = format!("the timeline of {}", timeline.serial);
                self.copy_to_clipboard(&what, &text);
            }
            Action::Back => self.overlays.close_top(),
            Action::Help => self.overlays.push(Overlay::Help(Help::new(
                Context::Timeline,
                crate::ui::app::keys::bindings(Context::Timeline),
            ))),
            Action::Quit => self.request_quit(),
            _ => {}
        }
        Ok(())
    }
}
