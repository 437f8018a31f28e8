//! The sync engine (SPEC section 3): lists the source, looks records up in each destination,
//! maps, compares, writes and records. No terminal code here: the TUI and `syncdeck run` are two
//! front ends on the same engine, which runs as a tokio task taking [`Command`]s and emitting
//! [`Event`]s.

mod apply;
pub mod body;
mod connection;
mod contracts;
pub mod deliver;
mod dispatch;
mod exact_numbers;
pub mod exchange;
pub mod health;
pub mod hints;
pub mod http;
mod ledger;
pub mod limit;
pub mod listing_request;
pub mod lookup;
pub mod mapping;
pub mod paging;
pub mod protocol;
mod record;
mod recorder;
pub mod resync;
pub mod retry;
pub mod source;
mod verify;

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use protocol::{Command, Event, LogLevel, RecordingFailure, RunRequest, RunScope};
pub use resync::{ResyncPlan, plan_resync};

use crate::config::Config;
use crate::store::{
    ConnectionRun, Counters, ReportEntry, Run, RunMode, RunStatus, RunType, Store, SyncId,
    WriteBatch,
};
use connection::{ConnectionJob, Work, panic_text};
use ledger::Ledger;

/// Settings key of a connection's dry-run override (`"true"` / `"false"`).
pub fn dry_run_override_key(connection: &str) -> String {
    format!("dry_run.{connection}")
}

/// Settings key holding the config hash of a connection's last clean Full Dry run.
pub fn clean_full_dry_key(connection: &str) -> String {
    format!("clean_full_dry.{connection}")
}

/// Where events go; sending never blocks (progress is coalesced at the source).
#[derive(Clone)]
pub struct EventSink(mpsc::UnboundedSender<Event>);

impl EventSink {
    pub fn send(&self, event: Event) {
        let _ = self.0.send(event);
    }

    /// A log line, to the log file and to the front end.
    pub fn log(&self, level: LogLevel, message: String) {
        match level {
            LogLevel::Info => tracing::info!("{message}"),
            LogLevel::Warn => tracing::warn!("{message}"),
            LogLevel::Error => tracing::error!("{message}"),
        }
        self.send(Event::Log { level, message });
    }
}

/// A running engine: send commands, receive events.
pub struct EngineHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub task: JoinHandle<()>,
}

/// Starts the engine task on the current tokio runtime.
pub fn spawn(config: Arc<Config>, store: Store) -> EngineHandle {
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(engine_loop(config, store, command_rx, EventSink(event_tx)));
    EngineHandle {
        commands: command_tx,
        events: event_rx,
        task,
    }
}

struct Current {
    run_id: u64,
    cancel: watch::Sender<bool>,
    task: JoinHandle<Run>,
}

async fn engine_loop(
    config: Arc<Config>,
    store: Store,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: EventSink,
) {
    let mut current: Option<Current> = None;
    loop {
        let finished = async {
            match current.as_mut() {
                Some(c) => (&mut c.task).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::StartRun(request)) => {
                    if let Some(c) = &current {
                        events.send(Event::Refused {
                            reason: format!("run {} is still going; cancel it or wait", c.run_id),
                        });
                        continue;
                    }
                    match start_run(&config, &store, &events, request).await {
                        Ok(started) => current = Some(started),
                        Err(reason) => events.send(Event::Refused { reason }),
                    }
                }
                Some(Command::Resync { entries }) => {
                    if let Some(c) = &current {
                        events.send(Event::Refused {
                            reason: format!("run {} is still going; cancel it or wait", c.run_id),
                        });
                        continue;
                    }
                    match start_resync(&config, &store, &events, entries).await {
                        Ok(started) => current = Some(started),
                        Err(reason) => events.send(Event::Refused { reason }),
                    }
                }
                Some(Command::Apply { run_id, connections }) => {
                    if let Some(c) = &current {
                        events.send(Event::Refused {
                            reason: format!("run {} is still going; cancel it or wait", c.run_id),
                        });
                        continue;
                    }
                    match start_apply(&config, &store, &events, run_id, connections).await {
                        Ok(started) => current = Some(started),
                        Err(reason) => events.send(Event::Refused { reason }),
                    }
                }
                Some(Command::Cancel { run_id }) => {
                    if let Some(c) = current.as_ref().filter(|c| c.run_id == run_id) {
                        events.log(LogLevel::Warn, format!("run {run_id}: cancel requested"));
                        let _ = c.cancel.send(true);
                    }
                }
                Some(Command::Shutdown) | None => {
                    if let Some(c) = current.take() {
                        let _ = c.cancel.send(true);
                        let _ = c.task.await;
                    }
                    break;
                }
            },
            result = finished => {
                if let Err(e) = result {
                    events.log(LogLevel::Error, format!("run task ended: {}", panic_text(e)));
                }
                current = None;
            }
        }
    }
}

/// Checks a request, records the new run and starts it.
async fn start_run(
    config: &Arc<Config>,
    store: &Store,
    events: &EventSink,
    request: RunRequest,
) -> Result<Current, String> {
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
    let run = new_run(run_type, mode, serial, &jobs);
    launch(config, store, events, run, jobs).await
}

/// Checks a resync, records its run and starts it: Live, one connection run per connection
/// involved in config order. Entries a retry cannot fix are left out and logged; no safety gate
/// (a resync is targeted).
async fn start_resync(
    config: &Arc<Config>,
    store: &Store,
    events: &EventSink,
    entries: Vec<SyncId>,
) -> Result<Current, String> {
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
        return Err(match plan.refused.as_slice() {
            [] => "nothing to resync: no entries chosen".to_string(),
            [(sync_id, reason)] => format!("nothing to resync: entry {sync_id}: {reason}"),
            refused => format!(
                "nothing to resync: none of the {} entries chosen can be fixed by a retry \
                 (first: entry {}: {})",
                refused.len(),
                refused[0].0,
                refused[0].1
            ),
        });
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
    let mut run = new_run(RunType::Resync, RunMode::Live, None, &jobs);
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
    plan_run: crate::store::RunId,
    connections: Vec<String>,
) -> Result<Current, String> {
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
    let mut run = new_run(RunType::Apply, RunMode::Live, None, &jobs);
    run.note = Some(format!(
        "the plan of run #{}: {} record{}",
        plan.plan_run,
        plan.records,
        if plan.records == 1 { "" } else { "s" }
    ));
    launch(config, store, events, run, jobs).await
}

/// A new run row, Running, over these jobs' connections.
fn new_run(run_type: RunType, mode: RunMode, serial: Option<String>, jobs: &[Job]) -> Run {
    let mut credential_contexts: Vec<String> = Vec::new();
    for (c, _, _) in jobs {
        if let Some(name) = &c.credential
            && !credential_contexts.contains(name)
        {
            credential_contexts.push(name.clone());
        }
    }
    Run {
        id: 0,
        run_type,
        mode,
        status: RunStatus::Running,
        started_at: Utc::now(),
        finished_at: None,
        serial,
        connections: jobs.iter().map(|(c, _, _)| c.name.clone()).collect(),
        credential_contexts,
        note: None,
    }
}

/// Reserves the space of the run's recovery file (a run that may write to destinations does
/// not start without it), records the run and starts its task.
async fn launch(
    config: &Arc<Config>,
    store: &Store,
    events: &EventSink,
    run: Run,
    jobs: Vec<Job>,
) -> Result<Current, String> {
    let writes = jobs.iter().any(|(_, mode, _)| *mode == RunMode::Live);
    let reservation = ledger::reserve(store, writes, events).await?;
    let created = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            let id = store.create_run(run.clone())?;
            Ok::<Run, crate::store::StoreError>(Run { id, ..run })
        })
        .await
        .map_err(panic_text)?
    };
    let run = match created {
        Ok(run) => run,
        // Nothing was sent yet: the run does not start, and the operator hears why.
        Err(error) => {
            let message = ledger::recording_message(store, &error);
            ledger::refuse(events, message.clone());
            return Err(format!("cannot record the run: {message}"));
        }
    };
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let run_id = run.id;
    let ledger = Arc::new(Ledger::new(store.clone(), run_id, reservation));
    let task = tokio::spawn(execute_run(
        config.clone(),
        store.clone(),
        ledger,
        events.clone(),
        run,
        jobs,
        cancel_rx,
    ));
    Ok(Current {
        run_id,
        cancel: cancel_tx,
        task,
    })
}

/// One connection of a run: its configuration, its mode and what it works through.
type Job = (crate::config::Connection, RunMode, Work);

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

async fn execute_run(
    config: Arc<Config>,
    store: Store,
    ledger: Arc<Ledger>,
    events: EventSink,
    mut run: Run,
    jobs: Vec<Job>,
    cancel: watch::Receiver<bool>,
) -> Run {
    events.send(Event::RunStarted { run: run.clone() });
    events.log(
        LogLevel::Info,
        format!(
            "run {} started: {:?} {:?} over {}",
            run.id,
            run.run_type,
            run.mode,
            run.connections.join(", ")
        ),
    );
    let mut rows: Vec<ConnectionRun> = Vec::new();
    for (position, (connection, mode, work)) in jobs.into_iter().enumerate() {
        let full = matches!(work, Work::Listing(RunScope::Full));
        let job = ConnectionJob {
            config: config.clone(),
            store: store.clone(),
            ledger: ledger.clone(),
            events: events.clone(),
            cancel: cancel.clone(),
            run_id: run.id,
            position: position as u32,
            connection,
            mode,
            work,
        };
        // The store stopped recording: no connection starts after that.
        if let Some(failure) = ledger.failure() {
            let mut row = connection::new_connection_run(&job);
            row.status = RunStatus::Failed;
            row.started_at = None;
            row.finished_at = Some(Utc::now());
            row.error = Some(crate::store::RunError {
                message: format!("not started: {failure}"),
                hint: Some(ledger::FREE_DISK_HINT.to_string()),
            });
            record_row(&ledger, &row).await;
            events.send(Event::ConnectionFinished {
                connection_run: row.clone(),
            });
            rows.push(row);
            continue;
        }
        if *cancel.borrow() {
            let mut row = connection::new_connection_run(&job);
            row.status = RunStatus::Canceled;
            row.started_at = None;
            row.finished_at = Some(Utc::now());
            row.note = Some("canceled before it started".into());
            record_row(&ledger, &row).await;
            events.send(Event::ConnectionFinished {
                connection_run: row.clone(),
            });
            rows.push(row);
            continue;
        }
        let fallback = connection::new_connection_run(&job);
        let name = job.connection.name.clone();
        let hash = job.connection.config_hash();
        let row = match tokio::spawn(connection::run(job)).await {
            Ok(row) => row,
            // A panic inside the connection run fails that connection, not the engine.
            Err(join) => {
                let mut row = fallback;
                row.status = RunStatus::Failed;
                row.finished_at = Some(Utc::now());
                row.error = Some(crate::store::RunError {
                    message: panic_text(join),
                    hint: None,
                });
                record_row(&ledger, &row).await;
                events.send(Event::ConnectionFinished {
                    connection_run: row.clone(),
                });
                row
            }
        };
        let clean = row.status == RunStatus::Completed
            && row.counters.errors == 0
            && row.mode == RunMode::Dry
            && full;
        if clean && !ledger.is_broken() {
            let _ = store.set_setting(&clean_full_dry_key(&name), &hash);
        }
        rows.push(row);
    }
    run.finished_at = Some(Utc::now());
    let recording = ledger.failure();
    run.status = if recording.is_some() {
        RunStatus::Failed
    } else if *cancel.borrow() {
        RunStatus::Canceled
    } else if rows.iter().any(|r| r.status == RunStatus::Failed) {
        RunStatus::Failed
    } else if rows.iter().any(|r| r.status == RunStatus::Incomplete) {
        RunStatus::Incomplete
    } else {
        RunStatus::Completed
    };
    if run.status == RunStatus::Canceled {
        let processed: u64 = rows.iter().map(|r| r.processed).sum();
        let total: u64 = rows.iter().map(|r| r.total).sum();
        let canceled = format!("canceled: {processed} of {total} processed");
        run.note = Some(match run.note.take() {
            Some(note) => format!("{canceled}; {note}"),
            None => canceled,
        });
    }
    if let Some(message) = &recording {
        run.note = Some(match run.note.take() {
            Some(note) => format!("{message}; {note}"),
            None => message.clone(),
        });
    }
    let mut batch = WriteBatch::new();
    batch.runs.push(run.clone());
    let committed = {
        let ledger = ledger.clone();
        tokio::task::spawn_blocking(move || ledger.record(batch)).await
    };
    if !matches!(committed, Ok(true)) && recording.is_none() {
        events.log(
            LogLevel::Error,
            format!("cannot record the end of run {}", run.id),
        );
    }
    ledger.settle_and_tell(&events).await;
    events.log(
        LogLevel::Info,
        format!("run {} finished: {}", run.id, run.status.as_str()),
    );
    events.send(Event::RunFinished { run: run.clone() });
    run
}

/// Records a connection run's row through the run's ledger, off the async threads.
async fn record_row(ledger: &Arc<Ledger>, row: &ConnectionRun) {
    let ledger = ledger.clone();
    let mut batch = WriteBatch::new();
    batch.connection_runs.push(row.clone());
    let _ = tokio::task::spawn_blocking(move || ledger.record(batch)).await;
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
    }
    total
}
