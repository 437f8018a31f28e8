//! Everything the operator can do from the keyboard, named once. Key maps ([`crate::ui::keymap`])
//! turn keys into these; [`crate::ui::app::App`] carries them out.

/// One thing the operator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Expand a run; on a connection row, open its logs.
    Expand,
    /// Collapse a run; on a connection row, go back to its run.
    Collapse,
    /// Back out: clear a filter, close an overlay.
    Back,
    ShowJobs,
    ShowLogs,
    NextView,
    Help,
    Quit,
    NewRun,
    /// Open the dialog prefilled with the selected run's parameters.
    Rerun,
    /// Cancel the running run (asks first).
    CancelRun,
    ToggleFailuresOnly,
    /// Open the logs filter.
    Search,
    /// Keep what was typed and leave the text field.
    FinishInput,
    ToggleChoice,
    AllConnections,
    NextField,
    PreviousField,
    Left,
    Right,
    StartRun,
    CloseDialog,
    Confirm,
    Dismiss,
    ShowReport,
    PreviousView,
    /// From the jobs view: the selected run's entries in the sync report (its failed ones
    /// when it has any); elsewhere, the failed entries of the run on the card.
    OpenEntries,
    /// From the jobs view: the selected run's kept log lines in the Logs view.
    RunLogs,
    /// In the report: only failed entries a retry may fix (again: off).
    FilterFixable,
    /// From the jobs view: the diagnostics panel of the selected connection run.
    Diagnose,
    /// Check or uncheck the report row under the cursor.
    ToggleSelect,
    /// Select every entry matching the report's filters.
    SelectAll,
    ClearSelection,
    FilterStatus,
    FilterOutcome,
    FilterConnection,
    FilterRun,
    PickSort,
    ReverseSort,
    WiderWindow,
    NarrowerWindow,
    ToggleColumns,
    Export,
    /// Resync the selection (or every failed entry in the filter), or the entry in details.
    Resync,
    /// Copy the entry's details to the clipboard (OSC 52).
    Copy,
    NextEntry,
    PreviousEntry,
    /// The serial timeline of the entry under the cursor (report, details).
    OpenTimeline,
    ShowContracts,
    ShowConnections,
    /// Contracts view: the next / previous connection.
    NextConnection,
    PreviousConnection,
    /// Contracts view: delete the selected contract (asks first).
    DeleteContract,
    /// Connections view: flip the selected connection's dry-run default (a store override).
    ToggleDryRun,
    /// Connections view: check the selected connection's health in the background.
    CheckHealth,
    /// Jobs view: apply a finished Dry run's plan live (asks first).
    ApplyPlan,
}

impl Action {
    /// What every view does alike: switching views, opening the new-run dialog, help and quit.
    pub fn is_common_to_views(self) -> bool {
        matches!(
            self,
            Action::ShowJobs
                | Action::ShowLogs
                | Action::ShowReport
                | Action::ShowContracts
                | Action::ShowConnections
                | Action::NextView
                | Action::PreviousView
                | Action::NewRun
                | Action::Help
                | Action::Quit
        )
    }
}
