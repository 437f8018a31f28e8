//! The report pickers' counts: how many entries each choice would show with the other filters
//! kept, counted in the background when a filter picker opens.

use crate::store::ReportFilter;

use crate::ui::app::App;
use crate::ui::app::background::BackgroundResult;
use crate::ui::views::report::picker::{PickerKind, Value};

/// The report's query with the picker's condition set to `value` (or cleared for "any").
fn filter_for(base: &ReportFilter, kind: PickerKind, value: &Value) -> ReportFilter {
    let mut filter = base.clone();
    match (kind, value) {
        (PickerKind::Status, Value::Status(status)) => filter.statuses = vec![*status],
        (PickerKind::Status, _) => filter.statuses.clear(),
        (PickerKind::Outcome, Value::Outcome(outcome)) => filter.outcomes = vec![*outcome],
        (PickerKind::Outcome, _) => filter.outcomes.clear(),
        (PickerKind::Connection, Value::Connection(name)) => {
            filter.connections = vec![name.clone()]
        }
        (PickerKind::Connection, _) => filter.connections.clear(),
        (PickerKind::Run, Value::Run(run)) => filter.run = Some(*run),
        (PickerKind::Run, _) => filter.run = None,
        (PickerKind::Sort, _) => {}
    }
    filter
}

impl App {
    /// Counts the choices of the picker on top, in the background.
    pub(super) fn count_picker_choices(&mut self) {
        let Some(picker) = self.overlays.picker() else {
            return;
        };
        if !picker.counts_entries() {
            return;
        }
        let kind = picker.kind;
        let base = self.report.query();
        let filters: Vec<ReportFilter> = picker
            .choices
            .iter()
            .map(|choice| filter_for(&base, kind, &choice.value))
            .collect();
        let store = self.store.clone();
        self.background.spawn(
            "picker-counts",
            move |_| BackgroundResult::PickerCounted {
                kind,
                counts: Ok(filters
                    .iter()
                    .map(|filter| store.report_count(filter).ok())
                    .collect()),
            },
            move |panic| BackgroundResult::PickerCounted {
                kind,
                counts: Err(panic),
            },
        );
    }

    pub(super) fn on_picker_counted(
        &mut self,
        kind: PickerKind,
        counts: Result<Vec<Option<u64>>, String>,
    ) {
        match counts {
            Ok(counts) => {
                if let Some(picker) = self.overlays.picker()
                    && picker.kind == kind
                {
                    picker.set_counts(counts);
                }
            }
            Err(e) => self.show_message(format!("cannot count the choices: {e}"), true),
        }
    }
}
