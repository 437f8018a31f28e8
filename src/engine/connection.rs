//! One connection run: list the source (or, in a Resync, fetch the chosen records), dispatch
//! records to bounded workers, fold their results into counters, record entries and contracts
//! in batches, stop on cancel or `abort_after`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::contracts::Contracts;
use super::deliver::Deliverer;
use super::dispatch::{Dispatch, Finished, spawn_dispatcher};
use super::hints;
use super::http::HttpClient;
use super::ledger::{self, Ledger};
use super::limit::RateLimiter;
use super::listings::SourceListings;
use super::lookup::{self, BulkIndex};
use super::mapping::Mapping;
use super::protocol::{Event, LogLevel, RunScope};
use super::record::{Novelty, RecordContext, RecordResult};
use super::recorder::Recorder;
use super::refetch::SourceFetcher;
use super::resync;
use super::retry::RetryPolicy;
use super::run_log::RunLog;
use super::sink::EventSink;
use super::source::{self, ListingError, ListingSummary, SourceRecord};
use super::systems::{self, Systems};
use super::throttle::Throttle;
use super::units::Unit;
use super::units::{DRIFTED, Target};
use crate::config::{Config, Connection, Source};
use crate::panics::panic_text;
use crate::store::{
    ConnectionRun, Counters, EntryTally, LogSeverity, Recount, ReportEntry, RunError, RunId,
    RunMode, RunStatus, Store, StoreError, WriteBatch,
};

/// Entries per store commit.
const BATCH_SIZE: usize = 1_000;
/// A partly filled batch is committed after this long.
const BATCH_AGE: Duration = Duration::from_millis(250);
/// Progress events at most this often per connection run.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What a connection run needs from the run around it.
pub(crate) struct ConnectionJob {
    pub config: Arc<Config>,
    pub store: Store,
    /// Where the connection run records: the store, or what the run keeps when it cannot.
    pub ledger: Arc<Ledger>,
    pub events: EventSink,
    pub cancel: watch::Receiver<bool>,
    pub run_id: RunId,
    pub position: u32,
    pub connection: Connection,
    pub mode: RunMode,
    pub work: Work,
    /// The run's source listings: each source listed once however many connections read it.
    pub listings: Arc<SourceListings>,
    /// The throttle of the connection's source, shared by the run.
    pub source_throttle: Throttle,
    /// The connection run's warning and error lines, kept with the run when it ends.
    pub run_log: Arc<RunLog>,
}

/// What a connection run works through.
pub(crate) enum Work {
    /// List the source (every record, or one serial) and process what it lists.
    Listing(RunScope),
    /// Re-run these records' report entries (a Resync run).
    Resync(Vec<Target>),
    /// Write these records as Dry run `plan_run` planned them, unless they drifted (an Apply
    /// run).
    Apply {
        plan_run: RunId,
        targets: Vec<Target>,
    },
}

impl Work {
    /// True when the work is chosen records (Resync, Apply) rather than a listing.
    fn is_targeted(&self) -> bool {
        !matches!(self, Work::Listing(_))
    }

    /// The chosen records, taken out (the work still says what it is).
    fn take_targets(&mut self) -> Vec<Target> {
        match self {
            Work::Resync(targets) | Work::Apply { targets, .. } => std::mem::take(targets),
            Work::Listing(_) => Vec::new(),
        }
    }
}

/// A fresh connection run row, Running.
pub(crate) fn new_connection_run(job: &ConnectionJob) -> ConnectionRun {
    ConnectionRun {
        run_id: job.run_id,
        position: job.position,
        connection: job.connection.name.clone(),
        system: job.connection.system.clone(),
        credential: job.connection.credential.clone(),
        mode: job.mode,
        status: RunStatus::Running,
        total: 0,
        processed: 0,
        counters: Counters::default(),
        error: None,
        started_at: Some(Utc::now()),
        finished_at: None,
        config_hash: job.connection.config_hash(),
        note: None,
    }
}

/// Runs one connection to its end and returns its final row (already recorded).
pub(crate) async fn run(mut job: ConnectionJob) -> ConnectionRun {
    let mut row = new_connection_run(&job);
    let targets = job.work.take_targets();
    if job.work.is_targeted() {
        // A resync or an apply knows its "N" up front: the entries chosen on this connection.
        row.total = targets.iter().map(Target::weight).sum();
    }
    // From here the connection run records through its recorder only.
    let recorder = Recorder::new(
        job.ledger.clone(),
        job.events.clone(),
        job.run_id,
        job.position,
    );
    recorder.commit_row(&row).await;
    job.events.send(Event::ConnectionStarted {
        connection_run: row.clone(),
    });
    // The store refused even the start: nothing is dispatched.
    let executed = match recorder.failure() {
        Some(failure) => Err(store_stopped(failure)),
        None => execute(&job, &mut row, targets, &recorder).await,
    };
    match executed {
        Ok(()) => {}
        Err(error) => {
            row.status = RunStatus::Failed;
            job.events.log(
                LogLevel::Error,
                format!("{}: {}", row.connection, error.message),
            );
            job.run_log.push(
                LogSeverity::Error,
                match &error.hint {
                    Some(hint) => format!("stopped: {} · hint: {hint}", error.message),
                    None => format!("stopped: {}", error.message),
                },
            );
            row.error = Some(error);
        }
    }
    finish(&job, &mut row, &recorder).await;
    row
}

async fn finish(job: &ConnectionJob, row: &mut ConnectionRun, recorder: &Recorder) {
    row.finished_at = Some(Utc::now());
    if row.status == RunStatus::Running {
        row.status = RunStatus::Completed;
    }
    // The run-level hints read a listing's totals; a resync's or an apply's chosen records say
    // nothing about the source or the lookup path.
    if row.status == RunStatus::Completed
        && !job.work.is_targeted()
        && let Some(hint) = run_hint(row)
    {
        row.note = Some(match row.note.take() {
            Some(note) => format!("{note}; {hint}"),
            None => hint.to_string(),
        });
    }
    // The ledger keeps the row when the store does not take it, and logs why.
    recorder.commit_row(row).await;
    job.run_log.keep().await;
    job.events.send(Event::ConnectionFinished {
        connection_run: row.clone(),
    });
}

/// The error of the connection run during which the store stopped recording.
fn store_stopped(failure: String) -> RunError {
    RunError {
        message: format!("{failure}; dispatching stopped, the requests in flight finished"),
        hint: Some(ledger::FREE_DISK_HINT.to_string()),
    }
}

/// The run-level hint of SPEC section 4 that applies to a completed connection run, if any.
pub(crate) fn run_hint(row: &ConnectionRun) -> Option<&'static str> {
    let c = &row.counters;
    // Records that can never be written (missing source or destination) get no contract and
    // stay new on every run: a re-run whose only new records are those is still a re-run with
    // nothing new. (Unchanged records are skipped before any lookup, so when nothing changed
    // every such record is a new one.) Failed records are not in that count: they want looking
    // at, not the reassurance of a normal re-run.
    let unwritable = c.missing_source + c.missing_destination;
    let nothing_new = c.changed == 0
        && (c.new == 0 || (c.unchanged > 0 && c.failed + c.errors == 0 && c.new <= unwritable));
    if c.fetched == 0 {
        Some(hints::NOTHING_FETCHED)
    } else if c.missing_destination * 5 > c.fetched {
        Some(hints::MISSING_DESTINATION_SPIKE)
    } else if nothing_new {
        Some(hints::NOTHING_NEW)
    } else if row.mode == RunMode::Live
        && c.updated + c.created == 0
        && c.failed + c.missing_source + c.missing_destination == 0
    {
        Some(hints::NOTHING_WRITTEN)
    } else {
        None
    }
}

/// A connection run's records from start to end, in the order they go: [`prepare`] the systems
/// and what records are looked up in, [`start_listing`] the records' way from the source to the
/// workers (list, look up, map and compare, deliver: see [`super::record::process`]),
/// [`record_results`] as they come back, then [`conclude`] from how the listing ended.
async fn execute(
    job: &ConnectionJob,
    row: &mut ConnectionRun,
    targets: Vec<Target>,
    recorder: &Recorder,
) -> Result<(), RunError> {
    let prepared = prepare(job).await?;
    let throttle = prepared.throttle.clone();
    let source = prepared.source.clone();
    let running = start_listing(job, prepared, targets);
    let tally = record_results(job, row, running, &throttle, recorder).await?;
    conclude(job, row, tally, &source).await
}

/// What a connection run works with once its systems are ready.
struct Prepared {
    /// What every record task shares.
    ctx: Arc<RecordContext>,
    source: Source,
    source_client: HttpClient,
    source_policy: RetryPolicy,
    /// The destination's throttle (its gauge goes with the progress).
    throttle: Throttle,
}

/// Before any record: the clients, the lookup tables, the contracts (all at once in a Full
/// run, else per record) and, for a bulk lookup, the destination listed once.
async fn prepare(job: &ConnectionJob) -> Result<Prepared, RunError> {
    let config = &job.config;
    let connection = &job.connection;
    let source = config.source_of(connection).clone();
    let Systems {
        source_client,
        client,
        policy,
        source_policy,
    } = Systems::build(config, connection, &source, job.source_throttle.clone())?;
    let lookups =
        systems::load_lookups(&job.connection, &job.events, &job.cancel, &client, policy).await?;

    let full = matches!(job.work, Work::Listing(RunScope::Full));
    // A Full run reads nearly every contract of the connection: all at once, while the
    // destination is listed, rather than a read transaction per record.
    let contracts = full.then(|| {
        let store = job.store.clone();
        let name = connection.name.clone();
        tokio::task::spawn_blocking(move || Contracts::load(&store, &name))
    });
    let bulk = if full && connection.fetch.bulk {
        Some(list_destination(job, &client, policy).await?)
    } else {
        None
    };
    let contracts = match contracts {
        None => Contracts::PerRecord,
        Some(loading) => contracts_loaded(job, loading.await),
    };
    let deliverer = Deliverer::new(client.clone(), connection, RateLimiter::unlimited());
    let throttle = client.throttle().clone();
    let ctx = Arc::new(RecordContext {
        run_id: job.run_id,
        mode: job.mode,
        connection: connection.clone(),
        mapping: Mapping::with_lookups(&connection.mapping, Arc::new(lookups)),
        store: job.store.clone(),
        ledger: job.ledger.clone(),
        contracts,
        client,
        deliverer,
        bulk,
        policy,
        run_log: job.run_log.clone(),
        skip_unchanged: !job.work.is_targeted(),
        refetch: job.work.is_targeted().then(|| {
            SourceFetcher::new(
                source_client.clone(),
                source.clone(),
                source_policy,
                job.cancel.clone(),
            )
        }),
    });
    Ok(Prepared {
        ctx,
        source,
        source_client,
        source_policy,
        throttle,
    })
}

/// The destination listed for a bulk lookup, keeping only what the mapping compares so that
/// 100,000 records fit in little memory.
async fn list_destination(
    job: &ConnectionJob,
    client: &HttpClient,
    policy: RetryPolicy,
) -> Result<BulkIndex, RunError> {
    let connection = &job.connection;
    job.events.log(
        LogLevel::Info,
        format!(
            "{}: listing the destination for a bulk lookup",
            connection.name
        ),
    );
    let targets: Vec<&str> = connection
        .mapping
        .iter()
        .map(|r| r.compare.as_deref().unwrap_or(&r.target))
        .collect();
    lookup::list_destination(
        client,
        &connection.fetch,
        policy,
        &job.cancel,
        Some(&targets),
    )
    .await
    .map_err(|e| {
        let error = e.to_entry_error();
        RunError {
            message: format!("bulk lookup failed: {}", error.message),
            hint: error.hint,
        }
    })
}

/// The contracts loaded at once; when they cannot be, read per record instead, which treats a
/// contract it cannot read as absent.
fn contracts_loaded(
    job: &ConnectionJob,
    loaded: Result<Result<Contracts, StoreError>, tokio::task::JoinError>,
) -> Contracts {
    let why = match loaded {
        Ok(Ok(contracts)) => return contracts,
        Ok(Err(e)) => e.to_string(),
        Err(join) => panic_text(join),
    };
    job.events.log(
        LogLevel::Warn,
        format!(
            "{}: cannot load the contracts at once: {why}",
            job.connection.name
        ),
    );
    Contracts::PerRecord
}

/// A connection run's records under way: where they come from, the dispatcher handing them to
/// workers, and the workers' results.
struct Running {
    feed: Feed,
    dispatcher: JoinHandle<u64>,
    results: mpsc::Receiver<Finished>,
    /// Set to stop dispatching.
    stop: Arc<AtomicBool>,
    /// Records waiting for a retry.
    pending: Arc<AtomicU64>,
    /// Records listed so far: the "N" of the "X of N" gauge grows as pages arrive.
    listed: Arc<AtomicU64>,
}

/// List: records come through a small bounded channel, so the next page downloads while this
/// one is processed and a slow destination slows the listing down; the dispatcher runs one
/// worker task per record, at most `concurrency` at once.
fn start_listing(job: &ConnectionJob, prepared: Prepared, targets: Vec<Target>) -> Running {
    let Prepared {
        ctx,
        source,
        source_client,
        source_policy,
        ..
    } = prepared;
    let concurrency = job.connection.concurrency;
    let shared = Dispatch {
        ctx,
        stop: Arc::new(AtomicBool::new(false)),
        cancel: job.cancel.clone(),
        events: job.events.clone(),
        ledger: job.ledger.clone(),
        permits: Arc::new(Semaphore::new(concurrency)),
        position: job.position,
        pending: Arc::new(AtomicU64::new(0)),
        listed: Arc::new(AtomicU64::new(0)),
    };
    let stop = shared.stop.clone();
    let pending = shared.pending.clone();
    let listed = shared.listed.clone();
    let (result_tx, results) = mpsc::channel::<Finished>(concurrency * 2);
    let (feed, dispatcher) = match &job.work {
        Work::Listing(scope) => {
            let (page_tx, page_rx) = mpsc::channel::<Vec<SourceRecord>>(2);
            let scope = match scope {
                RunScope::Full => source::Scope::Full,
                RunScope::Single(serial) => source::Scope::Single(serial.clone()),
            };
            let listing = job.listings.feed(
                source_client,
                source,
                scope,
                source_policy,
                job.cancel.clone(),
                page_tx,
            );
            let dispatcher = spawn_dispatcher(shared, page_rx, result_tx);
            (Feed::Listing(listing), dispatcher)
        }
        Work::Resync(_) | Work::Apply { .. } => {
            let (unit_tx, unit_rx) = mpsc::channel::<Vec<Unit>>(2);
            let feed = resync::spawn_feed(
                targets,
                source_client,
                source,
                source_policy,
                job.cancel.clone(),
                unit_tx,
            );
            let dispatcher = spawn_dispatcher(shared, unit_rx, result_tx);
            (Feed::Resync(feed), dispatcher)
        }
    };
    Running {
        feed,
        dispatcher,
        results,
        stop,
        pending,
        listed,
    }
}

/// What the record phase leaves for the end.
struct Tally {
    feed: Feed,
    /// Records the dispatcher handed out.
    dispatched: u64,
    /// Records of an Apply run not written because they drifted from the plan.
    drifted: u64,
    /// What stops the connection run (a panic, too many contract errors, the store), if any.
    terminal: Option<RunError>,
}

/// Record: each worker's result is folded into the row's counters and batched with its
/// contract; batches go to the recorder's writer when full or old, the row with
/// them; progress is told as it goes. Returns once every result is in and every batch
/// committed.
async fn record_results(
    job: &ConnectionJob,
    row: &mut ConnectionRun,
    running: Running,
    throttle: &Throttle,
    recorder: &Recorder,
) -> Result<Tally, RunError> {
    let Running {
        feed,
        dispatcher,
        mut results,
        stop,
        pending,
        listed,
    } = running;
    let mut writer = recorder.writer();
    let mut store_failed = false;
    let mut collected = Collected::default();
    let mut last_commit = Instant::now();
    let mut last_progress = Instant::now();
    let mut ticker = tokio::time::interval(BATCH_AGE);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // The dispatcher and every worker hold a sender: None once all are done.
            received = results.recv() => {
                let Some(finished) = received else { break };
                let Some(result) = finished.result else { continue };
                if collected.add(result, &finished.originals, row, job.connection.abort_after) {
                    stop.store(true, Ordering::Relaxed);
                }
                row.counters.pending = pending.load(Ordering::Relaxed);
                row.total = row.total.max(listed.load(Ordering::Relaxed));
                if collected.batch.entries.len() >= BATCH_SIZE {
                    writer.record(&mut collected.batch, row).await?;
                    last_commit = Instant::now();
                }
                if last_progress.elapsed() >= PROGRESS_EVERY {
                    progress(job, row, throttle);
                    last_progress = Instant::now();
                }
            }
            // The store stopped recording (here or in an earlier connection run): stop
            // dispatching now; the requests in flight finish and are kept with the rest.
            () = recorder.broke(), if !store_failed => {
                store_failed = true;
                stop.store(true, Ordering::Relaxed);
                if let Some(failure) = recorder.failure() {
                    collected.terminal = Some(store_stopped(failure));
                }
            }
            // Before the end only a panic stops the writer.
            error = writer.failure() => return Err(error),
            _ = ticker.tick() => {
                row.counters.pending = pending.load(Ordering::Relaxed);
                row.total = row.total.max(listed.load(Ordering::Relaxed));
                // An old, partly filled batch waits for the next tick while a commit is queued.
                if !collected.batch.entries.is_empty()
                    && last_commit.elapsed() >= BATCH_AGE
                    && writer.offer(&mut collected.batch, row)
                {
                    last_commit = Instant::now();
                }
                progress(job, row, throttle);
                last_progress = Instant::now();
            }
        }
    }
    drop(results);
    let dispatched = dispatcher.await.unwrap_or(0);
    // Every batch committed before the connection run can finish.
    writer.finish(&mut collected.batch, row).await?;
    progress(job, row, throttle);
    Ok(Tally {
        feed,
        dispatched,
        drifted: collected.drifted,
        terminal: collected.terminal,
    })
}

/// The record phase's running state between results.
#[derive(Default)]
struct Collected {
    /// Entries and contracts waiting for the next commit.
    batch: WriteBatch,
    /// Contract-level failures in a row, toward `abort_after`.
    consecutive_contract_errors: u32,
    drifted: u64,
    /// What stops the connection run, once something does.
    terminal: Option<RunError>,
}

impl Collected {
    /// Folds one worker's result into the row's counters and the batch (a resynced record
    /// updates each chosen entry of it, in place); true when it stops the run: its task
    /// panicked, or it is the `abort_after`th contract-level failure in a row.
    fn add(
        &mut self,
        result: RecordResult,
        originals: &[ReportEntry],
        row: &mut ConnectionRun,
        abort_after: u32,
    ) -> bool {
        if result.entry.reason.as_deref() == Some(DRIFTED) {
            self.drifted += 1;
        }
        if originals.is_empty() {
            fold(row, &result);
        } else {
            for original in originals {
                fold(row, &result);
                let merged = resync::merge(original, &result.entry);
                // The original run's counters follow its entry (its card and `report` agree
                // with its entries after the resync).
                self.batch.recounts.push(Recount {
                    run_id: original.run_id,
                    connection: original.connection.clone(),
                    before: EntryTally::of(original),
                    after: EntryTally::of(&merged),
                });
                self.batch.entries.push(merged);
            }
        }
        let mut stops = false;
        if let Some(message) = &result.panic
            && self.terminal.is_none()
        {
            self.terminal = Some(RunError {
                message: message.clone(),
                hint: None,
            });
            stops = true;
        }
        match result.contract_level {
            Some(true) => self.consecutive_contract_errors += 1,
            Some(false) => self.consecutive_contract_errors = 0,
            None => {}
        }
        if self.terminal.is_none() && self.consecutive_contract_errors >= abort_after {
            let error = result.entry.error.clone().unwrap_or_default();
            self.terminal = Some(RunError {
                message: format!(
                    "{} consecutive contract errors; last: {}",
                    self.consecutive_contract_errors, error.message
                ),
                hint: error.hint,
            });
            stops = true;
        }
        if originals.is_empty() {
            self.batch.entries.push(result.entry);
        }
        if let Some(contract) = result.contract {
            self.batch.contracts.push(contract);
        }
        stops
    }
}

/// The end: how the listing (or a resync's feed) ended, the note of an Apply run, a cancel,
/// and what the listing says about the records it did not deliver.
async fn conclude(
    job: &ConnectionJob,
    row: &mut ConnectionRun,
    tally: Tally,
    source: &Source,
) -> Result<(), RunError> {
    let Tally {
        feed,
        dispatched,
        drifted,
        terminal,
    } = tally;
    let listing = match feed {
        Feed::Listing(listing) => listing.await,
        Feed::Resync(feed) => feed.await.map(|()| Ok(ListingSummary::default())),
    };
    let listing = match listing {
        Ok(outcome) => outcome,
        Err(join) => {
            return Err(RunError {
                message: format!("the source listing stopped: {}", panic_text(join)),
                hint: None,
            });
        }
    };
    if let Work::Apply { plan_run, .. } = &job.work {
        row.note = Some(match drifted {
            0 => format!("the plan of run #{plan_run}"),
            n => format!(
                "the plan of run #{plan_run}; {n} drifted since the plan and not written: run a \
                 Dry run again to see the new plan"
            ),
        });
    }
    if let Some(error) = terminal {
        return Err(error);
    }
    if *job.cancel.borrow() {
        row.status = RunStatus::Canceled;
        let canceled = format!(
            "canceled: {} of {} processed",
            crate::text::thousands(row.processed),
            crate::text::thousands(row.total.max(dispatched))
        );
        row.note = Some(match row.note.take() {
            Some(note) => format!("{canceled}; {note}"),
            None => canceled,
        });
        return Ok(());
    }
    // A resync's or an apply's per-record source problems are on its entries.
    if job.work.is_targeted() {
        return Ok(());
    }
    match listing {
        Ok(summary) => {
            row.total = row.total.max(summary.records);
            if let Work::Listing(RunScope::Single(serial)) = &job.work
                && row.processed == 0
                && summary.cut().is_none()
            {
                return Err(RunError {
                    message: format!(
                        "serial {serial} is not in the source ({} record{} listed)",
                        summary.records,
                        if summary.records == 1 { "" } else { "s" }
                    ),
                    hint: Some(format!(
                        "check the serial, and that the source's {} field holds it",
                        source.id_field
                    )),
                });
            }
            let mut notes = Vec::new();
            if let Some(cut) = summary.cut() {
                row.status = RunStatus::Incomplete;
                notes.push(format!(
                    "the source listing ended early: {}; records not seen are not reported missing",
                    cut.reason
                ));
            }
            if summary.without_serial > 0 {
                notes.push(format!(
                    "{} source record{} had no serial at {} and {} skipped",
                    summary.without_serial,
                    if summary.without_serial == 1 { "" } else { "s" },
                    source.id_field,
                    if summary.without_serial == 1 {
                        "was"
                    } else {
                        "were"
                    },
                ));
            }
            if summary.duplicates > 0 {
                notes.push(format!(
                    "{} duplicate serial{} in the source (first copy kept): {}",
                    summary.duplicates,
                    if summary.duplicates == 1 { "" } else { "s" },
                    summary.duplicate_serials.join(", ")
                ));
            }
            if !notes.is_empty() {
                row.note = Some(notes.join("; "));
            }
            Ok(())
        }
        Err(e) => Err(RunError {
            hint: hints::for_source_listing(&e),
            message: format!("source listing failed: {e}"),
        }),
    }
}

/// Where a connection run's records come from, and how that ended.
enum Feed {
    Listing(JoinHandle<Result<ListingSummary, ListingError>>),
    Resync(JoinHandle<()>),
}

/// Adds one record's result to the counters.
fn fold(row: &mut ConnectionRun, result: &RecordResult) {
    let c = &mut row.counters;
    row.processed += 1;
    row.total = row.total.max(row.processed);
    // A record whose source could not be had was not fetched, and is neither new nor known.
    if let Some(novelty) = result.novelty {
        c.fetched += 1;
        match novelty {
            Novelty::New => c.new += 1,
            Novelty::Changed => c.changed += 1,
            Novelty::Unchanged => c.unchanged += 1,
        }
    }
    c.count_entry(&result.entry);
}

fn progress(job: &ConnectionJob, row: &ConnectionRun, throttle: &Throttle) {
    job.events.send(Event::Progress {
        run_id: job.run_id,
        position: job.position,
        processed: row.processed,
        total: row.total,
        counters: row.counters,
    });
    if let Some(concurrency) = throttle.concurrency() {
        job.events.send(Event::Concurrency {
            run_id: job.run_id,
            position: job.position,
            concurrency,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mode: RunMode, counters: Counters) -> ConnectionRun {
        ConnectionRun {
            run_id: 1,
            position: 0,
            connection: "c".into(),
            system: "s".into(),
            credential: None,
            mode,
            status: RunStatus::Completed,
            total: counters.fetched,
            processed: counters.fetched,
            counters,
            error: None,
            started_at: None,
            finished_at: None,
            config_hash: String::new(),
            note: None,
        }
    }

    #[test]
    fn run_hints_follow_the_spec_table() {
        let nothing = Counters::default();
        assert_eq!(
            run_hint(&row(RunMode::Dry, nothing)),
            Some(hints::NOTHING_FETCHED)
        );
        let spike = Counters {
            fetched: 10,
            new: 10,
            missing_destination: 3,
            ..Counters::default()
        };
        assert_eq!(
            run_hint(&row(RunMode::Dry, spike)),
            Some(hints::MISSING_DESTINATION_SPIKE)
        );
        let rerun = Counters {
            fetched: 10,
            unchanged: 10,
            skipped: 10,
            ..Counters::default()
        };
        assert_eq!(
            run_hint(&row(RunMode::Live, rerun)),
            Some(hints::NOTHING_NEW)
        );
        // New only because a destination record is missing: still a re-run with nothing new.
        let rerun_with_missing = Counters {
            fetched: 11,
            new: 1,
            missing_destination: 1,
            ..rerun
        };
        assert_eq!(
            run_hint(&row(RunMode::Live, rerun_with_missing)),
            Some(hints::NOTHING_NEW)
        );
        let rerun_with_one_new = Counters {
            fetched: 11,
            new: 1,
            updated: 1,
            ..rerun
        };
        assert_eq!(run_hint(&row(RunMode::Live, rerun_with_one_new)), None);
        let skipped = Counters {
            fetched: 10,
            new: 10,
            skipped: 10,
            ..Counters::default()
        };
        assert_eq!(
            run_hint(&row(RunMode::Live, skipped)),
            Some(hints::NOTHING_WRITTEN)
        );
        let failed = Counters {
            failed: 1,
            ..skipped
        };
        assert_eq!(run_hint(&row(RunMode::Live, failed)), None);
        let healthy = Counters {
            fetched: 10,
            new: 10,
            updated: 4,
            skipped: 6,
            ..Counters::default()
        };
        assert_eq!(run_hint(&row(RunMode::Live, healthy)), None);
    }
}
