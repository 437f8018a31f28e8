//! A run's life: recorded together with the leases of its Live connections (all or none),
//! executed connection after connection, canceled from this process or from another one (a
//! cancel request in the store, looked for twice a second), and ended — completed, failed,
//! canceled or panicked — with its leases let go. Every commit of a run goes through its
//! [`Ledger`]: when the store stops recording, nothing more is written to destinations.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::connection::{self, ConnectionJob, Work};
use super::ledger::{self, Ledger};
use super::listings;
use super::protocol::{Event, LogLevel, RunScope};
use super::setting_keys::clean_full_dry_key;
use super::sink::EventSink;
use super::throttle::Throttle;
use crate::config::Config;
use crate::panics::panic_text;
use crate::store::{
    CancelRequest, ConnectionRun, LeaseHolder, Run, RunMode, RunOwner, RunStatus, RunType, Store,
    StoreError, Trigger, WriteBatch,
};

/// One connection of a run: its configuration, its mode and what it works through.
pub(crate) type Job = (crate::config::Connection, RunMode, Work);

/// How often a running run looks for a cancel request written by another process: it honours
/// one within a second (SPEC section 8).
const CANCEL_POLL: Duration = Duration::from_millis(500);

/// The run going on an engine.
pub(super) struct Current {
    pub(super) run_id: u64,
    pub(super) cancel: watch::Sender<bool>,
    pub(super) task: JoinHandle<Run>,
}

/// Why a run did not start.
pub(super) enum Refusal {
    /// The request cannot run (unknown connection, safety gate, nothing to resync...).
    Invalid(String),
    /// Another process's run holds one of its connections.
    Held(Box<LeaseHolder>),
}

impl From<String> for Refusal {
    fn from(reason: String) -> Refusal {
        Refusal::Invalid(reason)
    }
}

/// A new run row, Running, over these jobs' connections, owned by this process.
pub(super) fn new_run(
    trigger: &Trigger,
    run_type: RunType,
    mode: RunMode,
    serial: Option<String>,
    jobs: &[Job],
) -> Run {
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
        owner: Some(RunOwner::current()),
        trigger: Some(trigger.clone()),
    }
}

/// Reserves the space of the run's recovery file (a run that writes to destinations does not
/// start without it), records the run with a lease on each connection it writes to (Dry
/// connections take none) and starts its task.
pub(super) async fn launch(
    config: &Arc<Config>,
    store: &Store,
    events: &EventSink,
    run: Run,
    jobs: Vec<Job>,
) -> Result<Current, Refusal> {
    let leased: Vec<String> = jobs
        .iter()
        .filter(|(_, mode, _)| *mode == RunMode::Live)
        .map(|(connection, _, _)| connection.name.clone())
        .collect();
    // A read-only store refuses the run below, with its own reason.
    let reservation = match store.read_only_reason() {
        Some(_) => None,
        None => ledger::reserve(store, !leased.is_empty(), events).await?,
    };
    let begun = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            let id = store.begin_run(run.clone(), &leased)?;
            Ok::<Run, StoreError>(Run { id, ..run })
        })
        .await
        .map_err(panic_text)?
    };
    let run = match begun {
        Ok(run) => run,
        Err(StoreError::ConnectionHeld(holder)) => return Err(Refusal::Held(holder)),
        // Nothing was sent yet: the run does not start, and the operator hears why.
        Err(e) => {
            let message = ledger::recording_message(store, &e);
            ledger::refuse(events, message.clone());
            return Err(Refusal::Invalid(format!(
                "cannot record the run: {message}"
            )));
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
        (cancel_tx.clone(), cancel_rx),
    ));
    Ok(Current {
        run_id,
        cancel: cancel_tx,
        task,
    })
}

/// Looks for a cancel request for the run until one comes (then cancels and returns it) or the
/// run is canceled here.
async fn follow_cancel_requests(
    store: Store,
    events: EventSink,
    run_id: u64,
    cancel: watch::Sender<bool>,
) -> Option<CancelRequest> {
    let mut tick = tokio::time::interval(CANCEL_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if *cancel.borrow() {
            return None;
        }
        let store = store.clone();
        let found = tokio::task::spawn_blocking(move || store.cancel_request(run_id)).await;
        if let Ok(Ok(Some(request))) = found {
            events.log(
                LogLevel::Warn,
                format!("run {run_id}: cancel requested by {}", request.requester()),
            );
            let _ = cancel.send(true);
            return Some(request);
        }
    }
}

async fn execute_run(
    config: Arc<Config>,
    store: Store,
    ledger: Arc<Ledger>,
    events: EventSink,
    mut run: Run,
    jobs: Vec<Job>,
    (cancel_tx, cancel): (watch::Sender<bool>, watch::Receiver<bool>),
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
    let requests = tokio::spawn(follow_cancel_requests(
        store.clone(),
        events.clone(),
        run.id,
        cancel_tx,
    ));
    let mut rows: Vec<ConnectionRun> = Vec::new();
    let listings = Arc::new(listings::SourceListings::new(
        jobs.iter()
            .filter(|(_, _, work)| matches!(work, Work::Listing(_)))
            .map(|(connection, _, _)| connection.source.as_str()),
    ));
    // One throttle per source for the whole run: its rate limit holds across connections.
    let source_throttles: HashMap<String, Throttle> = config
        .sources
        .iter()
        .map(|source| {
            let throttle = Throttle::new(source.rate_limit_per_sec, false, 1, 1);
            (source.name.clone(), throttle)
        })
        .collect();
    for (position, (connection, mode, work)) in jobs.into_iter().enumerate() {
        let full = matches!(work, Work::Listing(RunScope::Full));
        let source_throttle = source_throttles
            .get(&connection.source)
            .cloned()
            .unwrap_or_else(Throttle::unlimited);
        let connection_name = connection.name.clone();
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
            listings: listings.clone(),
            source_throttle,
            run_log: super::run_log::RunLog::new(store.clone(), run.id, &connection_name),
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
    let requested = if requests.is_finished() {
        requests.await.ok().flatten()
    } else {
        requests.abort();
        None
    };
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
        let mut canceled = format!(
            "canceled: {} of {} processed",
            crate::text::thousands(processed),
            crate::text::thousands(total)
        );
        if let Some(request) = requested {
            canceled.push_str(&format!("; requested by {}", request.requester()));
        }
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
    // Written as finished, the run lets go of its leases and of any cancel request (when the
    // store does not take it, the recovery file's import does).
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

/// The run task panicked: the run ends Failed with the panic's message (its Running connection
/// runs too, its Pending entries Failed), its leases are let go, and the front end hears of the
/// end like any other.
pub(super) async fn end_after_panic(
    store: &Store,
    events: &EventSink,
    run_id: u64,
    text: String,
) -> Option<Run> {
    events.log(LogLevel::Error, format!("run {run_id} stopped: {text}"));
    let note = format!("the run stopped: {text}");
    let ended = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.end_run_as_failed(run_id, &note)).await
    };
    match ended {
        Ok(Ok(Some(run))) => {
            events.send(Event::RunFinished { run: run.clone() });
            return Some(run);
        }
        Ok(Ok(None)) => {}
        Ok(Err(e)) => events.log(
            LogLevel::Error,
            format!("cannot record the end of run {run_id}: {e}"),
        ),
        Err(join) => events.log(
            LogLevel::Error,
            format!(
                "cannot record the end of run {run_id}: {}",
                panic_text(join)
            ),
        ),
    }
    None
}
