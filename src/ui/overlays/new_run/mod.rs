//! The new-run dialog's state: which connections, Full or Single (with the serial), Dry or Live,
//! the workflow step the chosen connections are on and the safety gate. Rendering lives in
//! [`crate::ui::overlays::new_run::draw`].

pub mod draw;
pub mod keys;
pub mod workflow;

use ratatui::crossterm::event::{Event as TermEvent, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use crate::config::Config;
use crate::engine::{self, RunRequest, RunScope};
use crate::store::{RunId, RunMode, Store, StoreError};

use crate::ui::action::Action;
use crate::ui::overlays::new_run::workflow::{Step, StepsDone};

/// Serials remembered in a session.
pub const RECENT_SERIALS: usize = 5;

/// One connection of the checkbox list.
#[derive(Clone, Debug)]
pub struct ConnectionChoice {
    pub name: String,
    pub system: String,
    /// Its own setting: `dry_run` from the config, or the override stored from the screen.
    pub configured: RunMode,
    pub chosen: bool,
    pub steps: StepsDone,
}

/// The dialog's fields, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Connections,
    Scope,
    Serial,
    Mode,
}

/// Dry or Live for the whole run, or each connection's own setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeChoice {
    AsConfigured,
    Dry,
    Live,
}

impl ModeChoice {
    /// In the order shown: the safe choice first.
    pub const ALL: [ModeChoice; 3] = [ModeChoice::Dry, ModeChoice::Live, ModeChoice::AsConfigured];

    /// The choice that matches a workflow step: Dry on the Dry steps, Live on the Live ones,
    /// each connection's setting once every step is done.
    pub fn for_step(step: Option<Step>) -> ModeChoice {
        match step {
            Some(Step::SingleDry | Step::FullDry) => ModeChoice::Dry,
            Some(Step::SingleLive | Step::FullLive) => ModeChoice::Live,
            None => ModeChoice::AsConfigured,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ModeChoice::AsConfigured => "each connection's setting",
            ModeChoice::Dry => "Dry",
            ModeChoice::Live => "Live",
        }
    }

    fn as_mode(self) -> Option<RunMode> {
        match self {
            ModeChoice::AsConfigured => None,
            ModeChoice::Dry => Some(RunMode::Dry),
            ModeChoice::Live => Some(RunMode::Live),
        }
    }
}

/// What a rerun fills the dialog with.
#[derive(Clone, Debug)]
pub struct Prefill {
    pub run_id: RunId,
    pub connections: Vec<String>,
    pub full: bool,
    pub serial: Option<String>,
    pub mode: Option<RunMode>,
}

/// Why a Full Live run needs an explicit confirmation: one line per gated connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gate {
    pub reasons: Vec<String>,
    /// Chosen connections that run Dry in this run (nothing is written to them).
    pub dry: Vec<String>,
}

/// The chosen connections by the mode they would run in, in config order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModeSplit {
    /// Written to: the run sends their changes.
    pub live: Vec<String>,
    /// Only compared: nothing is written to them.
    pub dry: Vec<String>,
}

/// What a key did to the dialog.
#[derive(Clone, Debug)]
pub enum DialogOutcome {
    Stay,
    Close,
    /// Start this run now (Dry on every connection).
    Start(RunRequest),
    /// This run writes to the `live` connections of the split: start it only after a
    /// confirmation that names them.
    ConfirmLive(RunRequest, ModeSplit),
    /// The safety gate stops this run: start it (forced) only after a confirmation.
    Gated(RunRequest, Gate),
}

/// The dialog.
#[derive(Debug)]
pub struct NewRunDialog {
    pub connections: Vec<ConnectionChoice>,
    pub cursor: usize,
    pub focus: Field,
    pub full: bool,
    pub serial: Input,
    /// Serials of this session, newest first.
    pub recent: Vec<String>,
    recent_pick: Option<usize>,
    pub mode: ModeChoice,
    /// True once the operator chose the mode (or a rerun copied it): it no longer follows the
    /// workflow step of the chosen connections.
    mode_chosen: bool,
    /// The safety gate for the current choices, if it applies.
    pub gate: Option<Gate>,
    /// Why Enter would not start a run.
    pub problem: Option<String>,
    /// The run a rerun copies.
    pub rerun_of: Option<RunId>,
}

impl NewRunDialog {
    /// Opens the dialog: reads the connections' settings and workflow steps from the store.
    pub fn open(
        config: &Config,
        store: &Store,
        recent: &[String],
        prefill: Option<Prefill>,
    ) -> Result<NewRunDialog, StoreError> {
        let mut steps = workflow::progress(config, store)?;
        let mut connections = Vec::with_capacity(config.connections.len());
        for c in &config.connections {
            let stored = store.get_setting(&engine::dry_run_override_key(&c.name))?;
            let dry = stored.map_or(c.dry_run, |v| v == "true");
            connections.push(ConnectionChoice {
                name: c.name.clone(),
                // With several sources, the one the connection reads goes beside its system.
                system: match config.shown_source(&c.name) {
                    Some(source) => format!("{} ← {source}", c.system),
                    None => c.system.clone(),
                },
                configured: if dry { RunMode::Dry } else { RunMode::Live },
                chosen: prefill
                    .as_ref()
                    .is_none_or(|p| p.connections.contains(&c.name)),
                steps: steps.remove(&c.name).unwrap_or_default(),
            });
        }
        let mut dialog = NewRunDialog {
            connections,
            cursor: 0,
            focus: Field::Connections,
            full: false,
            serial: Input::default(),
            recent: recent.to_vec(),
            recent_pick: None,
            mode: ModeChoice::Dry,
            mode_chosen: false,
            gate: None,
            problem: None,
            rerun_of: None,
        };
        match prefill {
            Some(p) => {
                dialog.full = p.full;
                dialog.serial = Input::new(p.serial.unwrap_or_default());
                dialog.mode = match p.mode {
                    None => ModeChoice::AsConfigured,
                    Some(RunMode::Dry) => ModeChoice::Dry,
                    Some(RunMode::Live) => ModeChoice::Live,
                };
                dialog.mode_chosen = true;
                dialog.rerun_of = Some(p.run_id);
            }
            None => {
                // Start on the step the operator is on.
                dialog.full = matches!(dialog.current_step(), Some(Step::FullDry | Step::FullLive));
            }
        }
        if !dialog.full {
            dialog.focus = Field::Serial;
        }
        dialog.refresh(config, store);
        Ok(dialog)
    }

    /// The mode a connection runs in with the current choice.
    pub fn effective_mode(&self, choice: &ConnectionChoice) -> RunMode {
        self.mode.as_mode().unwrap_or(choice.configured)
    }

    fn chosen(&self) -> impl Iterator<Item = &ConnectionChoice> {
        self.connections.iter().filter(|c| c.chosen)
    }

    /// The workflow step the chosen connections are on; None when all steps are done.
    pub fn current_step(&self) -> Option<Step> {
        let steps: Vec<StepsDone> = self.chosen().map(|c| c.steps).collect();
        workflow::current_step(&steps)
    }

    /// The request for the current choices (never forced).
    pub fn request(&self) -> RunRequest {
        RunRequest {
            scope: if self.full {
                RunScope::Full
            } else {
                RunScope::Single(self.serial.value().trim().to_string())
            },
            connections: self.chosen().map(|c| c.name.clone()).collect(),
            mode: self.mode.as_mode(),
            force: false,
        }
    }

    /// The chosen connections split by the mode they would run in.
    pub fn mode_split(&self) -> ModeSplit {
        let mut split = ModeSplit::default();
        for choice in self.chosen() {
            match self.effective_mode(choice) {
                RunMode::Live => split.live.push(choice.name.clone()),
                RunMode::Dry => split.dry.push(choice.name.clone()),
            }
        }
        split
    }

    /// Recomputes the mode (while it follows the step), the gate and the problem after a
    /// change of choices.
    pub fn refresh(&mut self, config: &Config, store: &Store) {
        if !self.mode_chosen {
            self.mode = ModeChoice::for_step(self.current_step());
        }
        self.gate = None;
        self.problem = None;
        if self.chosen().next().is_none() {
            self.problem = Some("choose at least one connection (Space toggles, a all)".into());
            return;
        }
        let request = self.request();
        if let Err(reason) = engine::plan_run(config, store, &request) {
            let forced = RunRequest {
                force: true,
                ..request
            };
            if engine::plan_run(config, store, &forced).is_ok() {
                self.gate = Some(self.gate_reasons(config, store));
            } else {
                self.problem = Some(reason);
            }
        }
    }

    fn gate_reasons(&self, config: &Config, store: &Store) -> Gate {
        let mut never = Vec::new();
        let mut changed = Vec::new();
        for choice in self.chosen() {
            if self.effective_mode(choice) != RunMode::Live {
                continue;
            }
            let Some(connection) = config.connection(&choice.name) else {
                continue;
            };
            let clean = store
                .get_setting(&engine::clean_full_dry_key(&choice.name))
                .ok()
                .flatten();
            match clean {
                Some(hash) if hash == connection.config_hash() => {}
                Some(_) => changed.push(choice.name.as_str()),
                None => never.push(choice.name.as_str()),
            }
        }
        let mut reasons = Vec::new();
        if !never.is_empty() {
            reasons.push(format!("{}: no clean Full Dry run yet", never.join(", ")));
        }
        if !changed.is_empty() {
            reasons.push(format!(
                "{}: configuration changed since the last clean Full Dry run",
                changed.join(", ")
            ));
        }
        Gate {
            reasons,
            dry: self.mode_split().dry,
        }
    }

    /// Chosen connections whose run here would be past the workflow step they are on.
    pub fn ahead_of_workflow(&self) -> Vec<(&str, Step, Step)> {
        self.chosen()
            .filter_map(|c| {
                let on = workflow::current_step(&[c.steps])?;
                let this = Step::of(self.full, self.effective_mode(c));
                (this > on).then_some((c.name.as_str(), this, on))
            })
            .collect()
    }

    fn fields(&self) -> Vec<Field> {
        if self.full {
            vec![Field::Connections, Field::Scope, Field::Mode]
        } else {
            vec![Field::Connections, Field::Scope, Field::Serial, Field::Mode]
        }
    }

    fn move_focus(&mut self, forward: bool) {
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.focus).unwrap_or(0);
        let n = fields.len();
        self.focus = fields[if forward {
            (at + 1) % n
        } else {
            (at + n - 1) % n
        }];
    }

    fn switch_choice(&mut self, forward: bool) {
        match self.focus {
            Field::Scope => self.full = !self.full,
            Field::Mode => {
                self.mode_chosen = true;
                let all = ModeChoice::ALL;
                let at = all.iter().position(|m| *m == self.mode).unwrap_or(0);
                self.mode = all[if forward { (at + 1) % 3 } else { (at + 2) % 3 }];
            }
            Field::Connections | Field::Serial => {}
        }
    }

    fn pick_recent(&mut self, older: bool) {
        if self.recent.is_empty() {
            return;
        }
        self.recent_pick = match (self.recent_pick, older) {
            (None, true) => Some(0),
            (None, false) => None,
            (Some(i), true) => Some((i + 1).min(self.recent.len() - 1)),
            (Some(0), false) => None,
            (Some(i), false) => Some(i - 1),
        };
        let value = self
            .recent_pick
            .map(|i| self.recent[i].clone())
            .unwrap_or_default();
        self.serial = Input::new(value);
    }

    /// Carries out an action of the dialog's key map.
    pub fn act(&mut self, action: Action, config: &Config, store: &Store) -> DialogOutcome {
        let last = self.connections.len().saturating_sub(1);
        match (action, self.focus) {
            (Action::CloseDialog, _) => return DialogOutcome::Close,
            (Action::StartRun, _) => return self.submit(config, store),
            (Action::NextField, _) => self.move_focus(true),
            (Action::PreviousField, _) => self.move_focus(false),
            (Action::Up, Field::Connections) => self.cursor = self.cursor.saturating_sub(1),
            (Action::Down, Field::Connections) if self.cursor < last => self.cursor += 1,
            (Action::Up, Field::Serial) => self.pick_recent(true),
            (Action::Down, Field::Serial) => self.pick_recent(false),
            (Action::Up, _) => self.move_focus(false),
            (Action::Down, _) => self.move_focus(true),
            (Action::Left, _) => self.switch_choice(false),
            (Action::Right, _) => self.switch_choice(true),
            (Action::ToggleChoice, Field::Connections) => {
                if let Some(c) = self.connections.get_mut(self.cursor) {
                    c.chosen = !c.chosen;
                }
            }
            (Action::ToggleChoice, _) => self.switch_choice(true),
            (Action::AllConnections, _) => {
                let all = self.connections.iter().all(|c| c.chosen);
                for c in &mut self.connections {
                    c.chosen = !all;
                }
            }
            _ => return DialogOutcome::Stay,
        }
        self.refresh(config, store);
        DialogOutcome::Stay
    }

    /// A key the serial field edits.
    pub fn type_key(&mut self, key: KeyEvent) {
        if self.serial.handle_event(&TermEvent::Key(key)).is_some() {
            self.recent_pick = None;
            self.problem = None;
        }
    }

    fn submit(&mut self, config: &Config, store: &Store) -> DialogOutcome {
        self.refresh(config, store);
        if !self.full && self.serial.value().trim().is_empty() {
            self.problem =
                Some("type the serial of the record to sync (↑ recalls recent ones)".into());
            self.focus = Field::Serial;
            return DialogOutcome::Stay;
        }
        if self.problem.is_some() {
            return DialogOutcome::Stay;
        }
        let split = self.mode_split();
        match &self.gate {
            Some(gate) => DialogOutcome::Gated(self.request(), gate.clone()),
            None if !split.live.is_empty() => DialogOutcome::ConfirmLive(self.request(), split),
            None => DialogOutcome::Start(self.request()),
        }
    }
}

/// Remembers a serial, newest first, without duplicates, at most [`RECENT_SERIALS`].
pub fn remember_serial(recent: &mut Vec<String>, serial: &str) {
    let serial = serial.trim();
    if serial.is_empty() {
        return;
    }
    recent.retain(|s| s != serial);
    recent.insert(0, serial.to_string());
    recent.truncate(RECENT_SERIALS);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_serials_are_newest_first_and_capped() {
        let mut recent = Vec::new();
        for s in ["A", "B", "C", "A", "D", "E", "F", " "] {
            remember_serial(&mut recent, s);
        }
        assert_eq!(recent, vec!["F", "E", "D", "A", "C"]);
    }
}
