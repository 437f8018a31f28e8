//! What the report's background work is doing now (counting, selecting every match, planning a
//! resync, exporting), for the report's bottom border. The work itself is started and finished
//! in `work.rs` beside it.

use crate::store::SyncId;
use crate::ui::widgets::format;

/// What is going on in the background, for the report's bottom border.
#[derive(Debug, Default)]
pub struct ReportActivity {
    pub(super) counting: bool,
    /// The query changed while counting: count again when the count ends.
    pub(super) recount: bool,
    pub(super) selecting: bool,
    pub(super) planning: bool,
    /// A mass resync's plan is followed by the health check of its connections.
    pub(super) checking_health: bool,
    /// Rows written and the total of the export going on.
    pub(super) exporting: Option<(u64, u64)>,
    /// A run recorded entries since the report's page was read.
    pub(super) stale: bool,
    /// The entries of the resync sent last, to tell how they ended when its run finishes.
    pub(super) resyncing: Option<Vec<SyncId>>,
}

impl ReportActivity {
    /// "exporting 120,000 of 1,000,000", "counting…", or nothing.
    pub fn activity(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some((written, total)) = self.exporting {
            parts.push(format!(
                "exporting {} of {}",
                format::count(written),
                format::count(total)
            ));
        }
        if self.selecting {
            parts.push("selecting every match…".to_string());
        }
        if self.planning {
            parts.push(if self.checking_health {
                "checking what a resync can fix and the connections' health…".to_string()
            } else {
                "checking what a resync can fix…".to_string()
            });
        }
        if self.counting && parts.is_empty() {
            parts.push("counting…".to_string());
        }
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
}
