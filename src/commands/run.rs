//! `syncdeck run`: the engine with a printer instead of a screen.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::exit::{CommandError, Exit};
use crate::config::Config;
use crate::engine::{self, Command, Event, LogLevel, RecordingFailure, RunRequest};
use crate::store::{ConnectionRun, Run, RunMode, RunStatus, Store, StoreError, Trigger};
use crate::text::{terminal_line, to_json_string_pretty};

/// Runs one job to its end; the exit code says whether records failed.
pub fn run(
    config: Config,
    store: Store,
    trigger: Trigger,
    request: RunRequest,
    json_output: bool,
) -> Result<Exit, CommandError> {
    run_command(
        config,
        store,
        trigger,
        Command::StartRun(request),
        json_output,
    )
}

/// Applies Dry run `run_id`'s plan on these connections (all of that run's when empty).
pub fn apply(
    config: Config,
    store: Store,
    trigger: Trigger,
    run_id: u64,
    connections: Vec<String>,
    json_output: bool,
) -> Result<Exit, CommandError> {
    let command = Command::Apply {
        run_id,
        connections,
    };
    run_command(config, store, trigger, command, json_output)
}

/// Starts a run with `command`, follows it to its end and prints its summary.
fn run_command(
    config: Config,
    store: Store,
    trigger: Trigger,
    command: Command,
    json_output: bool,
) -> Result<Exit, CommandError> {
    let len_at_start = store.file_len();
    let Some(followed) = follow(config, store.clone(), trigger, command)? else {
        return Ok(Exit::Usage);
    };
    let run = &followed.run;
    // When the store could not record, the rows are the engine's: the store may hold none.
    let rows = match &followed.recording {
        Some(_) => followed.rows.clone(),
        None => store.connection_runs(run.id)?,
    };
    let mut stdout = std::io::stdout().lock();
    let text = if json_output {
        format!(
            "{}\n",
            to_json_string_pretty(&run_json(run, &rows)).unwrap_or_default()
        )
    } else {
        summary(run, &rows)
    };
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    if let Some(failure) = &followed.recording {
        report_recording_failure(failure);
        return Ok(Exit::Store);
    }
    // The run is recorded and its summary out: what the file need not keep goes back now.
    if let Some(compacted) = store.compact_if_worthwhile(len_at_start) {
        eprintln!(
            "syncdeck: store compacted: {:.1} MiB -> {:.1} MiB",
            compacted.bytes_before as f64 / (1024.0 * 1024.0),
            compacted.bytes_after as f64 / (1024.0 * 1024.0)
        );
    }
    Ok(followed
        .stopped_by
        .map_or_else(|| exit_for(&rows), Exit::Signal))
}

/// The store could not record: says so on stderr, where the run's records went and what to do.
pub(super) fn report_recording_failure(failure: &RecordingFailure) {
    for line in failure.lines() {
        eprintln!("syncdeck: {}", terminal_line(&line));
    }
}

/// How a followed run ended: the run as recorded, and the signal that canceled it, if one did
/// (the exit code is then 128 + N, as a scheduler expects of a process a signal stopped).
pub(super) struct Followed {
    pub run: Run,
    pub stopped_by: Option<i32>,
    /// Each connection run's final row, in position order, as the engine finished it.
    pub rows: Vec<ConnectionRun>,
    /// Set when the store could not record the run (a full disk).
    pub recording: Option<RecordingFailure>,
}

/// 1 when a connection run failed or any record failed; 0 otherwise.
pub fn exit_for(rows: &[ConnectionRun]) -> Exit {
    let failed = rows.iter().any(|r| {
        r.status == RunStatus::Failed
            || match r.mode {
                RunMode::Live => {
                    r.counters.failed + r.counters.missing_source + r.counters.missing_destination
                        > 0
                }
                RunMode::Dry => r.counters.errors > 0,
            }
    });
    if failed {
        Exit::RecordsFailed
    } else {
        Exit::Success
    }
}

/// Starts a run (`StartRun`, `Resync` or `Apply`) on an engine of its own, recorded with
/// `trigger`, and follows it to its end, with a live progress line on a terminal; Ctrl-C,
/// SIGTERM and SIGHUP cancel it (in-flight requests finish, the run is recorded Canceled and its
/// connections let go). None when the engine refused it (reason printed); a connection held by
/// another process's run is an error (exit 3) naming that run.
pub(super) fn follow(
    config: Config,
    store: Store,
    trigger: Trigger,
    start: Command,
) -> Result<Option<Followed>, CommandError> {
    let runtime = tokio::runtime::Runtime::new().map_err(|source| CommandError::Io {
        context: "cannot start the async runtime".into(),
        source,
    })?;
    runtime.block_on(drive(Arc::new(config), store, trigger, start))
}

async fn drive(
    config: Arc<Config>,
    store: Store,
    trigger: Trigger,
    start: Command,
) -> Result<Option<Followed>, CommandError> {
    let mut stop = Stop::new().map_err(|source| CommandError::Io {
        context: "cannot listen for signals".into(),
        source,
    })?;
    let mut engine = engine::spawn_as(config, store, trigger);
    let _ = engine.commands.send(start);
    let live_line = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut run_id = None;
    let mut cancels = 0;
    let mut stopped_by = None;
    let mut current = String::new();
    let mut rows: BTreeMap<u32, ConnectionRun> = BTreeMap::new();
    let mut recording: Option<RecordingFailure> = None;
    loop {
        tokio::select! {
            event = engine.events.recv() => {
                let Some(event) = event else { return Ok(None) };
                match event {
                    Event::Refused { reason } => {
                        let _ = engine.commands.send(Command::Shutdown);
                        // A run the store has no room for: exit 3, like any store failure.
                        if let Some(failure) = recording {
                            return Err(CommandError::Recording(failure.lines()));
                        }
                        eprintln!("syncdeck: {}", terminal_line(&reason));
                        return Ok(None);
                    }
                    Event::RecordingFailed { failure, .. } => {
                        if live_line {
                            eprint!("\r\x1b[2K");
                        }
                        recording = Some(failure);
                    }
                    Event::ConnectionHeld { holder } => {
                        let _ = engine.commands.send(Command::Shutdown);
                        return Err(StoreError::ConnectionHeld(Box::new(holder)).into());
                    }
                    Event::RunStarted { run } => {
                        run_id = Some(run.id);
                        // Stopped before the run had an id: cancel it now.
                        if cancels > 0 {
                            let _ = engine.commands.send(Command::Cancel { run_id: run.id });
                        }
                    }
                    Event::ConnectionStarted { connection_run } => {
                        current = terminal_line(&connection_run.connection).into_owned();
                    }
                    Event::Progress { processed, total, counters, .. } if live_line => {
                        eprint!(
                            "\r\x1b[2K{current}: {processed} of {total} · ok {} · skipped {} · failed {} · {:.0}s",
                            counters.updated + counters.created + counters.would_update,
                            counters.skipped,
                            counters.failed + counters.errors,
                            started.elapsed().as_secs_f64()
                        );
                    }
                    Event::ConnectionFinished { connection_run } => {
                        if live_line {
                            eprintln!(
                                "\r\x1b[2K{}: {}",
                                terminal_line(&connection_run.connection),
                                connection_run.status.as_str()
                            );
                        }
                        rows.insert(connection_run.position, connection_run);
                    }
                    Event::RunFinished { run } => {
                        let _ = engine.commands.send(Command::Shutdown);
                        // Shutting down, the engine waits for the run's alerts to be posted;
                        // what went wrong with them is said here, never in stdout's summary.
                        let _ = engine.task.await;
                        while let Ok(event) = engine.events.try_recv() {
                            if let Event::Log { level: LogLevel::Warn | LogLevel::Error, message } = event {
                                eprintln!("syncdeck: {}", terminal_line(&message));
                            }
                        }
                        return Ok(Some(Followed {
                            run,
                            stopped_by,
                            rows: rows.into_values().collect(),
                            recording,
                        }));
                    }
                    _ => {}
                }
            }
            signal = stop.recv() => {
                cancels += 1;
                stopped_by = stopped_by.or(Some(signal));
                if let Some(run_id) = run_id {
                    eprintln!("\nsyncdeck: canceling run {run_id} (in-flight requests finish)...");
                    let _ = engine.commands.send(Command::Cancel { run_id });
                }
                if cancels > 1 {
                    eprintln!("syncdeck: still finishing in-flight requests; the run is recorded as canceled");
                }
            }
        }
    }
}

/// Ctrl-C, SIGTERM (`systemctl stop`, a Kubernetes pod ending) and SIGHUP (the SSH session
/// gone) as one stream: each cancels the run, which is then recorded as such.
struct Stop {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Stop {
    fn new() -> std::io::Result<Stop> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Stop {
                term: signal(SignalKind::terminate())?,
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Stop {})
        }
    }

    /// The number of the next signal.
    async fn recv(&mut self) -> i32 {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => 2,
                _ = self.term.recv() => 15,
                _ = self.hup.recv() => 1,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            2
        }
    }
}

/// The machine-readable summary of SPEC section 6.
pub fn run_json(run: &Run, rows: &[ConnectionRun]) -> serde_json::Value {
    json!({
        "run_id": run.id,
        "type": run.run_type,
        "mode": run.mode,
        "status": run.status.as_str(),
        "serial": run.serial,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "trigger": run.trigger.as_ref().map(|t| t.label()),
        "trigger_kind": run.trigger.as_ref().map(|t| t.kind),
        "owner": run.owner.as_ref().map(|o| json!({
            "user": o.user,
            "host": o.host,
            "pid": o.pid,
            "process_started_at": o.process_started_at,
        })),
        "note": run.note,
        "connections": rows.iter().map(connection_json).collect::<Vec<_>>(),
    })
}

fn connection_json(row: &ConnectionRun) -> serde_json::Value {
    let c = &row.counters;
    json!({
        "name": row.connection,
        "system": row.system,
        "mode": row.mode,
        "status": row.status.as_str(),
        "total": row.total,
        "processed": row.processed,
        "fetched": c.fetched,
        "new": c.new,
        "changed": c.changed,
        "unchanged": c.unchanged,
        "counters": {
            "would_update": c.would_update,
            "updated": c.updated,
            "created": c.created,
            "skipped": c.skipped,
            "missing_source": c.missing_source,
            "missing_destination": c.missing_destination,
            "failed": c.failed,
            "pending": c.pending,
            "errors": c.errors,
            "fixable": c.fixable,
            "not_syncable": c.not_syncable,
        },
        "note": row.note,
        "error": row.error.as_ref().map(|e| json!({"message": e.message, "hint": e.hint})),
    })
}

/// A table for people.
fn summary(run: &Run, rows: &[ConnectionRun]) -> String {
    let mut out = format!(
        "run {} · {:?} {:?} · {}{}\n",
        run.id,
        run.run_type,
        run.mode,
        run.status.as_str(),
        run.note
            .as_deref()
            .map(|n| format!(" · {}", terminal_line(n)))
            .unwrap_or_default()
    );
    for row in rows {
        let c = &row.counters;
        out.push_str(&format!(
            "  {:<20} {:<11} {} of {}",
            terminal_line(&row.connection),
            row.status.as_str(),
            row.processed,
            row.total
        ));
        match row.mode {
            RunMode::Dry => out.push_str(&format!(
                " · would update {} · skipped {} · missing source {} · missing destination {} · errors {}\n",
                c.would_update, c.skipped, c.missing_source, c.missing_destination, c.errors
            )),
            RunMode::Live => out.push_str(&format!(
                " · updated {} · created {} · skipped {} · missing source {} · missing destination {} · failed {}\n",
                c.updated, c.created, c.skipped, c.missing_source, c.missing_destination, c.failed
            )),
        }
        out.push_str(&format!(
            "  {:<20} fetched {} · new {} · changed {} · unchanged {}\n",
            "", c.fetched, c.new, c.changed, c.unchanged
        ));
        if c.fixable + c.not_syncable > 0 {
            out.push_str(&format!(
                "  {:<20} Failed entries: {} a resync may fix · {} not syncable (syncdeck report --run {} --status failed)\n",
                "", c.fixable, c.not_syncable, row.run_id
            ));
        }
        if let Some(error) = &row.error {
            out.push_str(&format!(
                "  {:<20} error: {}\n",
                "",
                terminal_line(&error.message)
            ));
            if let Some(hint) = &error.hint {
                out.push_str(&format!("  {:<20} hint: {}\n", "", terminal_line(hint)));
            }
        }
        if let Some(note) = &row.note {
            out.push_str(&format!("  {:<20} note: {}\n", "", terminal_line(note)));
        }
    }
    out
}
