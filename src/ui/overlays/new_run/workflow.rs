//! The recommended workflow (SPEC section 1): Single Dry → Single Live → Full Dry → Full Live,
//! and which step the chosen connections are on, read from their run history with the current
//! configuration (a changed mapping or contract starts the workflow again).

use std::collections::HashMap;

use crate::config::Config;
use crate::engine;
use crate::store::{RunMode, RunStatus, RunType, Store, StoreError};

/// Runs read, newest first, to find the steps done.
const HISTORY_SCAN: usize = 200;

/// One step of the recommended workflow, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    SingleDry,
    SingleLive,
    FullDry,
    FullLive,
}

impl Step {
    pub const ALL: [Step; 4] = [
        Step::SingleDry,
        Step::SingleLive,
        Step::FullDry,
        Step::FullLive,
    ];

    pub fn of(full: bool, mode: RunMode) -> Step {
        match (full, mode) {
            (false, RunMode::Dry) => Step::SingleDry,
            (false, RunMode::Live) => Step::SingleLive,
            (true, RunMode::Dry) => Step::FullDry,
            (true, RunMode::Live) => Step::FullLive,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Step::SingleDry => "Single Dry",
            Step::SingleLive => "Single Live",
            Step::FullDry => "Full Dry",
            Step::FullLive => "Full Live",
        }
    }

    /// What to do at this step.
    pub fn advice(self) -> &'static str {
        match self {
            Step::SingleDry => "Single + Dry on one serial; fix until the diagnostics look right",
            Step::SingleLive => "Single + Live; verify the destination data changed correctly",
            Step::FullDry => "Full + Dry to estimate fleet-wide behaviour",
            Step::FullLive => "Full + Live, once the results are validated",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The steps one connection has done with its current configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepsDone([bool; 4]);

impl StepsDone {
    pub fn has(self, step: Step) -> bool {
        self.0[step.index()]
    }

    pub fn mark(&mut self, step: Step) {
        self.0[step.index()] = true;
    }

    fn all(self) -> bool {
        self.0.iter().all(|d| *d)
    }
}

/// The steps each configured connection has done, by connection name.
pub fn progress(config: &Config, store: &Store) -> Result<HashMap<String, StepsDone>, StoreError> {
    let mut done: HashMap<String, StepsDone> = HashMap::new();
    let mut hashes = HashMap::new();
    for connection in &config.connections {
        let hash = connection.config_hash();
        let mut steps = StepsDone::default();
        // The engine's own record of a clean Full Dry run: the same one the safety gate reads.
        let clean = store.get_setting(&engine::clean_full_dry_key(&connection.name))?;
        if clean.as_deref() == Some(hash.as_str()) {
            steps.mark(Step::FullDry);
        }
        done.insert(connection.name.clone(), steps);
        hashes.insert(connection.name.clone(), hash);
    }
    for run in store.list_runs(None, HISTORY_SCAN)? {
        if done.values().all(|s| s.all()) {
            break;
        }
        if run.run_type == RunType::Resync
            || !run
                .connections
                .iter()
                .any(|c| done.get(c).is_some_and(|s| !s.all()))
        {
            continue;
        }
        for row in store.connection_runs(run.id)? {
            let current = hashes.get(&row.connection) == Some(&row.config_hash);
            if !current || row.status != RunStatus::Completed {
                continue;
            }
            let step = Step::of(run.run_type == RunType::Full, row.mode);
            // A Full Dry counts only when clean, which the settings key above already says.
            if step == Step::FullDry {
                continue;
            }
            if let Some(steps) = done.get_mut(&row.connection) {
                steps.mark(step);
            }
        }
    }
    Ok(done)
}

/// The first step not done by every one of `chosen`; None when all are done.
pub fn current_step(chosen: &[StepsDone]) -> Option<Step> {
    Step::ALL
        .into_iter()
        .find(|step| chosen.iter().any(|s| !s.has(*step)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_step_is_the_first_one_any_connection_lacks() {
        let mut a = StepsDone::default();
        let mut b = StepsDone::default();
        assert_eq!(current_step(&[a, b]), Some(Step::SingleDry));
        a.mark(Step::SingleDry);
        a.mark(Step::SingleLive);
        assert_eq!(current_step(&[a]), Some(Step::FullDry));
        b.mark(Step::SingleDry);
        assert_eq!(current_step(&[a, b]), Some(Step::SingleLive));
        for step in Step::ALL {
            a.mark(step);
        }
        assert_eq!(current_step(&[a]), None);
        assert_eq!(current_step(&[]), None);
    }
}
