//! What is open over the view, as a stack: the top one takes the keys and is drawn last. The
//! serial timeline opened from an entry's details is pushed over them, and closing it shows the
//! details again; a confirmation asked for while another is on top replaces it.

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::ui::keymap::Context;
use crate::ui::overlays::confirm::Confirm;
use crate::ui::overlays::diagnostics::DiagnosticsPanel;
use crate::ui::overlays::help::Help;
use crate::ui::overlays::new_run::{Field, NewRunDialog};
use crate::ui::overlays::picker::Picker;
use crate::ui::views::report::entry_details::EntryDetails;
use crate::ui::views::report::export_prompt::ExportPrompt;
use crate::ui::views::report::timeline::Timeline;
use crate::ui::widgets::theme::Theme;

/// One thing open over the view.
pub enum Overlay {
    /// Every entry of one serial across runs and connections.
    Timeline(Timeline),
    /// One report entry in full (boxed: it is by far the largest).
    Details(Box<EntryDetails>),
    /// The file name of a CSV export.
    Export(ExportPrompt),
    /// A filter or sort picker over the report.
    Picker(Picker),
    NewRun(NewRunDialog),
    /// The diagnostics of one connection run.
    Diagnostics(DiagnosticsPanel),
    Help(Help),
    Confirm(Confirm),
}

impl Overlay {
    /// Where keys go while this overlay is on top.
    fn context(&self) -> Context {
        match self {
            Overlay::Timeline(_) => Context::Timeline,
            Overlay::Details(_) => Context::Details,
            Overlay::Export(_) => Context::Export,
            Overlay::Picker(_) => Context::Picker,
            Overlay::NewRun(dialog) if dialog.focus == Field::Serial => Context::NewRunSerial,
            Overlay::NewRun(_) => Context::NewRun,
            Overlay::Diagnostics(_) => Context::Diagnostics,
            Overlay::Help(_) => Context::Help,
            Overlay::Confirm(_) => Context::Confirm,
        }
    }

    /// True for the overlays that cover the whole view (nothing under them shows).
    fn covers_view(&self) -> bool {
        matches!(self, Overlay::Timeline(_) | Overlay::Details(_))
    }

    fn same_kind(&self, other: &Overlay) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// Generates the typed access to the top overlay for one kind: borrow it, or take it off.
macro_rules! top_of_kind {
    ($variant:ident, $ty:ty, $top:ident, $take:ident) => {
        /// The top overlay, when it is of this kind.
        pub fn $top(&mut self) -> Option<&mut $ty> {
            match self.open.last_mut() {
                Some(Overlay::$variant(overlay)) => Some(overlay),
                _ => None,
            }
        }

        /// Takes the top overlay off, when it is of this kind.
        pub fn $take(&mut self) -> Option<$ty> {
            match self.open.pop() {
                Some(Overlay::$variant(overlay)) => Some(overlay),
                Some(other) => {
                    self.open.push(other);
                    None
                }
                None => None,
            }
        }
    };
}

/// The overlays open, bottom first.
#[derive(Default)]
pub struct OverlayStack {
    open: Vec<Overlay>,
}

impl OverlayStack {
    /// Opens `overlay` on top; one of the same kind already on top is replaced (the next entry's
    /// details, a second question).
    pub fn push(&mut self, overlay: Overlay) {
        if self.open.last().is_some_and(|top| top.same_kind(&overlay)) {
            self.open.pop();
        }
        self.open.push(overlay);
    }

    /// Closes the top overlay.
    pub fn close_top(&mut self) {
        self.open.pop();
    }

    /// Closes every overlay `close` picks, wherever it is in the stack.
    pub fn close_where(&mut self, close: impl Fn(&Overlay) -> bool) {
        self.open.retain(|overlay| !close(overlay));
    }

    /// The overlay on top, which takes the keys.
    pub fn top(&mut self) -> Option<&mut Overlay> {
        self.open.last_mut()
    }

    /// Where keys go, when an overlay is open.
    pub fn context(&self) -> Option<Context> {
        self.open.last().map(Overlay::context)
    }

    /// True when an entry's details are open, on top or under the timeline.
    pub fn has_details(&self) -> bool {
        self.open.iter().any(|o| matches!(o, Overlay::Details(_)))
    }

    /// The entry details nearest the top, whatever is over them (a confirmation, the help).
    pub fn topmost_details(&mut self) -> Option<&mut EntryDetails> {
        self.open.iter_mut().rev().find_map(|o| match o {
            Overlay::Details(details) => Some(&mut **details),
            _ => None,
        })
    }

    top_of_kind!(Timeline, Timeline, timeline, take_timeline);
    top_of_kind!(Details, Box<EntryDetails>, details, take_details);
    top_of_kind!(Export, ExportPrompt, export_prompt, take_export_prompt);
    top_of_kind!(Picker, Picker, picker, take_picker);
    top_of_kind!(NewRun, NewRunDialog, dialog, take_dialog);
    top_of_kind!(Diagnostics, DiagnosticsPanel, diagnostics, take_diagnostics);
    top_of_kind!(Help, Help, help, take_help);
    top_of_kind!(Confirm, Confirm, confirm, take_confirm);

    /// Draws the overlays bottom first, from the topmost one that covers the view: `area` is
    /// the screen between the title and the key bar, `view_area` leaves the message line free
    /// (the details and the timeline keep "copied", "resync refused: …" visible).
    pub fn draw(&mut self, frame: &mut Frame, area: Rect, view_area: Rect, theme: Theme) {
        let from = self
            .open
            .iter()
            .rposition(Overlay::covers_view)
            .unwrap_or(0);
        for overlay in &mut self.open[from..] {
            match overlay {
                Overlay::Timeline(timeline) => timeline.draw(frame, view_area, theme),
                Overlay::Details(details) => details.draw(frame, view_area, theme),
                Overlay::Export(prompt) => prompt.draw(frame, area, theme),
                Overlay::Picker(picker) => picker.draw(frame, area, theme),
                Overlay::NewRun(dialog) => dialog.draw(frame, area, theme),
                Overlay::Diagnostics(panel) => panel.draw(frame, area, theme),
                Overlay::Help(help) => help.draw(frame, area, theme),
                Overlay::Confirm(confirm) => confirm.draw(frame, area, theme),
            }
        }
    }
}
