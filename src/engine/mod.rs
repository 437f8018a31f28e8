//! The sync engine (SPEC section 3): lists the source, looks records up in each destination,
//! maps, compares, writes and records. No terminal code here: the TUI and `syncdeck run` are two
//! front ends on the same engine, which runs as a tokio task taking [`Command`]s and emitting
//! [`Event`]s.

pub mod alerts;
mod answers;
mod apply;
pub mod body;
mod connection;
mod contracts;
pub mod credentials;
pub mod deliver;
mod dispatch;
mod exact_numbers;
pub mod exchange;
pub mod health;
pub mod hints;
pub mod http;
mod launch;
mod ledger;
pub mod limit;
mod link_header;
pub mod listing_request;
mod listings;
pub mod lookup;
mod lookup_index;
pub mod lookup_tables;
pub mod mapping;
pub mod paging;
pub mod placeholder;
pub mod protocol;
pub mod queries;
mod record;
mod recorder;
mod refetch;
pub mod resync;
pub mod retry;
mod setting_keys;
mod sink;
pub mod source;
mod systems;
pub mod throttle;
mod units;
mod values;
mod verify;
mod wire;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use protocol::{Command, Event, LogLevel, RecordingFailure, RunRequest, RunScope};
pub use resync::{ResyncPlan, plan_resync};
pub use setting_keys::{clean_full_dry_key, dry_run_override_key};
pub use sink::EventSink;

use crate::config::Config;
use crate::panics::panic_text;
use crate::store::{
    ConnectionRun, Counters, ReportEntry, RunMode, RunType, Store, SyncId, Trigger,
};
use alerts::Alerts;
use connection::Work;
use launch::{Current, Job, Refusal, end_after_panic, launch, new_run};

/// A running engine: send commands, receive events.
pub struct EngineHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub task: JoinHandle<()>,
}

/// Starts the engine task on the current tokio runtime; its runs are recorded as started
/// headless (see [`spawn_as`]).
pub fn spawn(config: Arc<Config>, store: Store) -> EngineHandle {
    spawn_as(config, store, Trigger::headless())
}

/// Starts the engine task; each run it starts is owned by this process and records `trigger`
/// (SPEC section 10).
pub fn spawn_as(config: Arc<Config>, store: Store, trigger: Trigger) -> EngineHandle {
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let engine = Engine {
        config,
        store,
        events: EventSink::new(event_tx),
        trigger,
    };
    let task = tokio::spawn(engine.run(command_rx));
    EngineHandle {
        commands: command_tx,
        events: event_rx,
        task,
    }
}

/// What every run of an engine shares.
struct Engine {
    config: Arc<Config>,
    store: Store,
    events: EventSink,
    trigger: Trigger,
}

impl Engine {
    async fn run(self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut current: Option<Current> = None;
        let mut alerts = Alerts::new(self.config.clone(), self.store.clone(), self.events.clone());
        // Runs this process's open of the store found interrupted (their process died).
        for run_id in self.store.recovery().runs_interrupted.clone() {
            if let Ok(Some(run)) = self.store.get_run(run_id) {
                alerts.run_ended(&run);
            }
        }
        loop {
            let finished = async {
                match current.as_mut() {
                    Some(c) => (&mut c.task).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Cancel { run_id }) => {
                        if let Some(c) = current.as_ref().filter(|c| c.run_id == run_id) {
                            self.events.log(LogLevel::Warn, format!("run {run_id}: cancel requested"));
                            let _ = c.cancel.send(true);
                        }
                    }
                    Some(Command::Shutdown) | None => {
                        if let Some(c) = current.take() {
                            let _ = c.cancel.send(true);
                            let run_id = c.run_id;
                            let ended = match c.task.await {
                                Ok(run) => Some(run),
                                Err(e) => end_after_panic(&self.store, &self.events, run_id, panic_text(e)).await,
                            };
                            if let Some(run) = ended {
                                alerts.run_ended(&run);
                            }
                        }
                        alerts.drain().await;
                        break;
                    }
                    Some(start) => {
                        if let Some(c) = &current {
                            self.events.send(Event::Refused {
                                reason: format!("run {} is still going; cancel it or wait", c.run_id),
                            });
                            continue;
                        }
                        match self.start(start).await {
                            Ok(started) => current = Some(started),
                            Err(Refusal::Invalid(reason)) => self.events.send(Event::Refused { reason }),
                            Err(Refusal::Held(holder)) => {
                                self.events.send(Event::ConnectionHeld { holder: *holder })
                            }
                        }
                    }
                },
                result = finished => {
                    let run_id = current.take().map_or(0, |c| c.run_id);
                    // A panic in the run task ends the run Failed and lets its leases go.
                    let ended = match result {
                        Ok(run) => Some(run),
                        Err(e) => end_after_panic(&self.store, &self.events, run_id, panic_text(e)).await,
                    };
                    if let Some(run) = ended {
                        alerts.run_ended(&run);
                    }
                }
            }
        }
    }

    /// Starts a run, a resync or an apply.
    async fn start(&self, command: Command) -> Result<Current, Refusal> {
        let (config, store, events) = (&self.config, &self.store, &self.events);
        match command {
            Command::StartRun(request) => {
                start_run(config, store, events, &self.trigger, request).await
            }
            Command::Resync { entries } => {
                start_resync(config, store, events, &self.trigger, entries).await
            }
            Command::Apply {
                run_id,
                connections,
            } => start_apply(config, store, events, &self.trigger, run_id, connections).await,
            Command::Cancel { .. } | Command::Shutdown => {
                Err(Refusal::Invalid("not a run to start".to_string()))
            }
        }
    }
}

/// Checks a request, records the new run and starts it.
async fn start_run(
    config: &Arc<Config>,
    store: &Store,
    events: &EventSink,
    trigger: &Trigger,
    request: RunRequest,
) -> Result<Current, Refusal> {
    let plan = plan_run(config, store, &request)?;
    let mode = if plan.iter().all(|(_, m)| *m == RunMode::Dry) {
        RunMode::Dry
    } else {
        RunMode::Live
    };
    let (run_type, serial) = match &request.scope {
        RunScope::Full => (RunType::Full, None),
        RunScope::Single(serial) => (RunType::Single, Some(serial.clone())),
    };
    let jobs: Vec<Job> = plan
        .into_iter()
        .map(|(connection, mode)| (connection, mode, Work::Listing(request.scope.clone())))
        .collect();
    let run = new_run(trigger, run_type, mode, serial, &jobs);
    launch(config, store, events, run, jobs).await
}

/// Checks a resync, records its run and starts it: Live, one connection run per connection
/// involved in config order. Entries a retry cannot fix are left out and logged; no safety gate
/// (a resync is targeted).
async fn start_resync(
    config: &Arc<Config>,
    store: &Store,
    events: &EventSink,
    trigger: &Trigger,
    entries: Vec<SyncId>,
) -> Result<Current, Refusal> {
    let (plan, chosen) = {
        let config = config.clone();
        let store = store.clone();
        tokio::task::spawn_blocking(move || resync::plan_entries(&config, &store, &entries))
            .await
            .map_err(panic_text)?
            .map_err(|e| format!("cannot read the entries to resync: {e}"))?
    };
    for (sync_id, reason) in &plan.refused {
        events.log(
            LogLevel::Warn,
            format!("resync: entry {sync_id} left out: {reason}"),
        );
    }
    if plan.accepted.is_empty() {
        return Err(Refusal::Invalid(match plan.refused.as_slice() {
            [] => "nothing to resync: no entries chosen".to_string(),
            [(sync_id, reason)] => format!("nothing to resync: entry {sync_id}: {reason}"),
            refused => format!(
                "nothing to resync: none of the {} entries chosen can be fixed by a retry \
                 (first: entry {}: {})",
                refused.len(),
                refused[0].0,
                refused[0].1
            ),
        }));
    }
    let mut chosen = chosen;
    let mut jobs = Vec::new();
    for name in &plan.connections {
        let Some(connection) = config.connection(name) else {
            continue;
        };
        let (mine, rest): (Vec<ReportEntry>, Vec<ReportEntry>) =
            chosen.into_iter().partition(|e| e.connection == *name);
        chosen = rest;
        jobs.push((
            connection.clone(),
            RunMode::Live,
            Work::Resync(resync::targets(mine)),
        ));
    }
    let mut run = new_run(trigger, RunType::Resync, RunMode::Live, None, &jobs);
    let count = plan.accepted.len();
    run.note = Some(match plan.refused.len() {
        0 => format!(
            "{count} entr{} chosen",
            if count == 1 { "y" } else { "ies" }
        ),
        left_out => format!(
            "{count} entr{} chosen; {left_out} left out (see the logs)",
            if count == 1 { "y" } else { "ies" }
        ),
    });
    launch(config, store, events, run, jobs).await
}

/// Checks an apply of Dry run `plan_run`'s plan, records its run and starts it: Live, type
/// Apply, one connection run per connection with planned records, in config order, over exactly
/// the planned records. No safety gate: the plan is the Dry run the gate asks for, and a record
/// that drifted from it is not written.
async fn start_apply(
    config: &Arc<Config>,
    store: &Store,
    events: &EventSink,
    trigger: &Trigger,
    plan_run: crate::store::RunId,
    connections: Vec<String>,
) -> Result<Current, Refusal> {
    let plan = {
        let config = config.clone();
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            apply::plan_apply(&config, &store, plan_run, &connections)
        })
        .await
        .map_err(panic_text)??
    };
    let jobs: Vec<Job> = plan
        .jobs
        .into_iter()
        .map(|(connection, targets)| {
            let work = Work::Apply {
                plan_run: plan.plan_run,
                targets,
            };
            (connection, RunMode::Live, work)
        })
        .collect();
    let mut run = new_run(trigger, RunType::Apply, RunMode::Live, None, &jobs);
    run.note = Some(format!(
        "the plan of run #{}: {} record{}",
        plan.plan_run,
        plan.records,
        if plan.records == 1 { "" } else { "s" }
    ));
    launch(config, store, events, run, jobs).await
}

/// The connections of a request with the mode each runs in; refuses unknown names and Full Live
/// runs the safety gate stops.
pub fn plan_run(
    config: &Config,
    store: &Store,
    request: &RunRequest,
) -> Result<Vec<(crate::config::Connection, RunMode)>, String> {
    let names: Vec<String> = if request.connections.is_empty() {
        config.connections.iter().map(|c| c.name.clone()).collect()
    } else {
        request.connections.clone()
    };
    let mut plan = Vec::new();
    for name in &names {
        let Some(connection) = config.connection(name) else {
            let known: Vec<&str> = config.connections.iter().map(|c| c.name.as_str()).collect();
            return Err(format!(
                "unknown connection \"{name}\" (known: {})",
                known.join(", ")
            ));
        };
        let mode = match request.mode {
            Some(mode) => mode,
            None => {
                let dry = store
                    .get_setting(&dry_run_override_key(name))
                    .ok()
                    .flatten()
                    .map_or(connection.dry_run, |v| v == "true");
                if dry { RunMode::Dry } else { RunMode::Live }
            }
        };
        plan.push((connection.clone(), mode));
    }
    if request.scope == RunScope::Full && !request.force {
        let mut gated = Vec::new();
        for (connection, mode) in &plan {
            if *mode != RunMode::Live {
                continue;
            }
            let clean = store
                .get_setting(&clean_full_dry_key(&connection.name))
                .ok()
                .flatten();
            match clean {
                Some(hash) if hash == connection.config_hash() => {}
                Some(_) => gated.push(format!(
                    "{}: its configuration changed since its last clean Full Dry run",
                    connection.name
                )),
                None => gated.push(format!(
                    "{}: it has no clean Full Dry run yet",
                    connection.name
                )),
            }
        }
        if !gated.is_empty() {
            return Err(format!(
                "safety gate: a Full Live run writes to every record, and {}. Run a Full Dry run \
                 of the same configuration first (or confirm with --force).",
                gated.join("; ")
            ));
        }
    }
    Ok(plan)
}

/// Sums the counters of connection runs.
pub fn total_counters(rows: &[ConnectionRun]) -> Counters {
    let mut total = Counters::default();
    for c in rows.iter().map(|r| &r.counters) {
        total.would_update += c.would_update;
        total.updated += c.updated;
        total.created += c.created;
        total.skipped += c.skipped;
        total.missing_source += c.missing_source;
        total.missing_destination += c.missing_destination;
        total.failed += c.failed;
        total.pending += c.pending;
        total.errors += c.errors;
        total.fetched += c.fetched;
        total.new += c.new;
        total.changed += c.changed;
        total.unchanged += c.unchanged;
        total.fixable += c.fixable;
        total.not_syncable += c.not_syncable;
    }
    total
}
