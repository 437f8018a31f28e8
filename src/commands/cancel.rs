//! `syncdeck cancel RUN_ID`: asks the process that runs a run to cancel it, through a request in
//! the store (SPEC section 8), and waits a little for the run to end so that it can say how.

use std::time::{Duration, Instant};

use super::exit::{CommandError, Exit};
use crate::store::{CancelOutcome, CancelRequest, Liveness, RunOwner, RunStatus, Store, Trigger};

/// How long the command waits for the run to end: its owner honours a request within a second,
/// and in-flight requests finish (or time out) before the run is recorded Canceled.
const WAIT_FOR_END: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// Writes the request; exit 1 when the run is not running (or unknown).
pub fn run(store: &Store, run_id: u64) -> Result<Exit, CommandError> {
    let trigger = Trigger::for_headless(None).unwrap_or_else(|_| Trigger::headless());
    let request = CancelRequest::from_here(trigger);
    let run = match store.request_cancel(run_id, &request)? {
        CancelOutcome::Requested(run) => run,
        CancelOutcome::NotRunning(run) => {
            eprintln!(
                "syncdeck: run {run_id} is not running: it is {}{}",
                run.status.as_str(),
                run.note
                    .as_deref()
                    .map(|note| format!(" ({note})"))
                    .unwrap_or_default()
            );
            return Ok(Exit::RecordsFailed);
        }
        CancelOutcome::Unknown => {
            eprintln!(
                "syncdeck: there is no run {run_id} in {}",
                store.path().display()
            );
            return Ok(Exit::RecordsFailed);
        }
    };
    let owner = run
        .owner
        .as_ref()
        .map_or_else(|| "its process".to_string(), |owner| owner.describe());
    eprintln!("syncdeck: cancel of run {run_id} requested from {owner}; waiting for it to end...");
    let deadline = Instant::now() + WAIT_FOR_END;
    while Instant::now() < deadline {
        std::thread::sleep(POLL);
        let Some(now) = store.get_run(run_id)? else {
            break;
        };
        match (now.status, now.note.as_deref()) {
            (RunStatus::Running, _) => continue,
            // "canceled: 1,204 of 2,000 processed; requested by alice@jump1 (...)".
            (RunStatus::Canceled, Some(note)) => {
                println!("run {run_id} {}", crate::text::terminal_line(note));
            }
            (status, _) => println!(
                "run {run_id} ended {} before the request was read",
                status.as_str()
            ),
        }
        return Ok(Exit::Success);
    }
    println!(
        "run {run_id}: cancel requested; it has not ended within {} s (in-flight requests \
         finish first), and is recorded Canceled when it does",
        WAIT_FOR_END.as_secs()
    );
    if let Some(Liveness::Unknown(why)) = run.owner.as_ref().map(RunOwner::liveness) {
        println!(
            "its process is on {why}, which cannot be checked from here: if that process is \
             gone (a pod killed outright), `syncdeck cancel --abandon {run_id}` marks the run \
             Interrupted and frees its connections"
        );
    }
    Ok(Exit::Success)
}

/// `--abandon`: the operator says the run's process is gone; exit 1 when the run is not
/// running, or when its process runs on this host (it can be asked to cancel instead).
pub fn abandon(store: &Store, run_id: u64) -> Result<Exit, CommandError> {
    let Some(run) = store.get_run(run_id)? else {
        eprintln!(
            "syncdeck: there is no run {run_id} in {}",
            store.path().display()
        );
        return Ok(Exit::RecordsFailed);
    };
    if run.status != RunStatus::Running {
        eprintln!(
            "syncdeck: run {run_id} is not running: it is {}",
            run.status.as_str()
        );
        return Ok(Exit::RecordsFailed);
    }
    if let Some(owner) = run
        .owner
        .as_ref()
        .filter(|o| o.liveness() == Liveness::Alive)
    {
        eprintln!(
            "syncdeck: run {run_id} belongs to a process that still runs ({}): cancel it with \
             `syncdeck cancel {run_id}` instead",
            owner.describe()
        );
        return Ok(Exit::RecordsFailed);
    }
    let me = RunOwner::current();
    let note = format!(
        "interrupted: abandoned by {} (pid {}), its process being gone but out of sight",
        me.user_at_host(),
        me.pid
    );
    match store.abandon_run(run_id, &note)? {
        Some(run) => {
            println!(
                "run {run_id} {}",
                run.note.as_deref().unwrap_or("interrupted")
            );
            Ok(Exit::Success)
        }
        None => {
            eprintln!("syncdeck: run {run_id} ended meanwhile");
            Ok(Exit::RecordsFailed)
        }
    }
}
