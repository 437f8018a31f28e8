//! What an open found left behind by processes that are gone: runs settled as interrupted and
//! recovery files imported. Plain data, below the recovery and the open that fill it in.

use std::path::PathBuf;

use super::types::RunId;

/// What the last open found left behind by processes that are gone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Runs that were Running and are now Interrupted.
    pub runs_interrupted: Vec<RunId>,
    /// Connection runs that were Running and are now Interrupted.
    pub connection_runs_interrupted: u64,
    /// Entries that were Pending and are now Failed ("interrupted").
    pub entries_failed: u64,
    /// Recovery files of runs that could not record (a full disk) imported into the store.
    pub imported: Vec<Imported>,
}

impl Recovery {
    /// True when nothing was left behind.
    pub fn is_empty(&self) -> bool {
        self.runs_interrupted.is_empty()
            && self.connection_runs_interrupted == 0
            && self.entries_failed == 0
            && self.imported.is_empty()
    }

    /// One line for the operator, or None when there is nothing to say.
    pub fn summary(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let imported: Vec<String> = self.imported.iter().map(|i| i.summary()).collect();
        if self.runs_interrupted.is_empty()
            && self.connection_runs_interrupted == 0
            && self.entries_failed == 0
        {
            return Some(imported.join("; "));
        }
        let imported = if imported.is_empty() {
            String::new()
        } else {
            format!("; {}", imported.join("; "))
        };
        let runs: Vec<String> = self
            .runs_interrupted
            .iter()
            .map(|id| format!("#{id}"))
            .collect();
        Some(format!(
            "a syncdeck process ended during a run: {} run(s) marked interrupted{}, \
             {} connection run(s) interrupted, {} pending entr{} marked failed{imported}",
            runs.len(),
            if runs.is_empty() {
                String::new()
            } else {
                format!(" ({})", runs.join(", "))
            },
            self.connection_runs_interrupted,
            self.entries_failed,
            if self.entries_failed == 1 { "y" } else { "ies" },
        ))
    }

    pub(super) fn add(&mut self, other: Recovery) {
        self.runs_interrupted.extend(other.runs_interrupted);
        self.connection_runs_interrupted += other.connection_runs_interrupted;
        self.entries_failed += other.entries_failed;
    }
}

/// A recovery file imported by an open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The file, now removed.
    pub file: PathBuf,
    pub run_id: RunId,
    pub entries: u64,
    pub contracts: u64,
    /// Lines that could not be read (a line cut off when the file could not be written to the
    /// end): their batches are lost, and the operator is told how many.
    pub unreadable_lines: u64,
}

impl Imported {
    /// One line for the operator.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "imported {} entr{} and {} contract{} that run #{} could not record at the time \
             (from {}, now removed)",
            self.entries,
            if self.entries == 1 { "y" } else { "ies" },
            self.contracts,
            if self.contracts == 1 { "" } else { "s" },
            self.run_id,
            self.file.display()
        );
        if self.unreadable_lines > 0 {
            text.push_str(&format!(
                "; {} line{} of it could not be read",
                self.unreadable_lines,
                if self.unreadable_lines == 1 { "" } else { "s" }
            ));
        }
        text
    }
}
