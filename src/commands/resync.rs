//! `syncdeck resync`: re-run chosen report entries live, after a confirmation that states the
//! count, and say which turned OK and which still fail.

use std::io::{BufRead, IsTerminal, Write};

use chrono::Utc;
use serde_json::json;

use super::exit::{CommandError, Exit};
use super::run::{follow, run_json};
use crate::config::Config;
use crate::engine::queries::plan_resync;
use crate::engine::{Command, ResyncPlan};
use crate::store::{EntryQuery, EntryStatus, ReportEntry, Run, Store, SyncId, Trigger};
use crate::text::{terminal_line, terminal_lines, to_json_string_pretty};

/// How far back `--failed` looks: the report's widest window.
const FAILED_WINDOW_DAYS: i64 = 15;
/// Refused entries listed one by one before "... and N more".
const LISTED: usize = 20;
/// The width of the "left out: ..." summary (an 80-column terminal).
const LEFT_OUT_WIDTH: usize = 78;

/// Which entries to resync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chosen {
    /// These sync ids.
    Entries(Vec<SyncId>),
    /// Every Failed entry of the window, of these connections (all when empty).
    Failed { connections: Vec<String> },
}

/// Plans, confirms, runs and reports a resync; the exit code says whether every entry turned OK.
pub fn run(
    config: Config,
    store: Store,
    trigger: Trigger,
    chosen: Chosen,
    yes: bool,
    json_output: bool,
) -> Result<Exit, CommandError> {
    let ids = match chosen {
        Chosen::Entries(ids) => ids,
        Chosen::Failed { connections } => {
            for name in &connections {
                if config.connection(name).is_none() {
                    let known: Vec<&str> =
                        config.connections.iter().map(|c| c.name.as_str()).collect();
                    eprintln!(
                        "syncdeck: unknown connection \"{name}\" (known: {})",
                        known.join(", ")
                    );
                    return Ok(Exit::Usage);
                }
            }
            failed_entries(&store, &connections)?
        }
    };
    let plan = plan_resync(&config, &store, &ids)?;
    eprint!("{}", terminal_lines(&plan_text(&plan)));
    if plan.is_empty() {
        eprintln!("syncdeck: nothing to resync");
        return Ok(Exit::Usage);
    }
    let question = format!(
        "Resync {} on {}? [y/N] ",
        entries_word(plan.accepted.len()),
        plan.connections.join(", ")
    );
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            eprintln!(
                "syncdeck: a resync writes to the destinations and needs a confirmation: pass \
                 --yes to resync {} without asking",
                entries_word(plan.accepted.len())
            );
            return Ok(Exit::Usage);
        }
        if !confirm(&question, &mut stdin.lock()) {
            eprintln!("syncdeck: not confirmed; nothing was resynced");
            return Ok(Exit::Usage);
        }
    }
    let accepted: Vec<SyncId> = plan.accepted.iter().map(|(id, _)| *id).collect();
    let Some(followed) = follow(
        config,
        store.clone(),
        trigger,
        Command::Resync {
            entries: accepted.clone(),
        },
    )?
    else {
        return Ok(Exit::Usage);
    };
    let run = followed.run;
    let stopped_by = followed.stopped_by;
    // The store could not record: what it holds says nothing of this run's results.
    if let Some(failure) = &followed.recording {
        if json_output {
            let text = to_json_string_pretty(&json!({ "run": run_json(&run, &followed.rows) }))
                .unwrap_or_default();
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
        super::run::report_recording_failure(failure);
        return Ok(Exit::Store);
    }
    let outcome = Outcome::read(&store, &run, &accepted)?;
    let rows = store.connection_runs(run.id)?;
    let text = if json_output {
        let value = json!({
            "run": run_json(&run, &rows),
            "accepted": accepted,
            "refused": plan.refused.iter()
                .map(|(id, reason)| json!({"sync_id": id, "reason": reason}))
                .collect::<Vec<_>>(),
            "ok": outcome.ok.iter().map(|e| e.sync_id).collect::<Vec<_>>(),
            "sent": outcome.sent.iter().map(|e| e.sync_id).collect::<Vec<_>>(),
            "still_failing": outcome.failing.iter().map(failing_json).collect::<Vec<_>>(),
            "not_reached": outcome.not_reached.iter().map(|e| e.sync_id).collect::<Vec<_>>(),
        });
        format!("{}\n", to_json_string_pretty(&value).unwrap_or_default())
    } else {
        outcome.text(&run)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if let Some(signal) = stopped_by {
        return Ok(Exit::Signal(signal));
    }
    Ok(
        if outcome.failing.is_empty() && outcome.not_reached.is_empty() {
            Exit::Success
        } else {
            Exit::RecordsFailed
        },
    )
}

/// Sync ids of every Failed entry of the window, newest first, of these connections (all when
/// none is named).
fn failed_entries(store: &Store, connections: &[String]) -> Result<Vec<SyncId>, CommandError> {
    let since = Utc::now() - chrono::Duration::days(FAILED_WINDOW_DAYS);
    let filters: Vec<Option<String>> = if connections.is_empty() {
        vec![None]
    } else {
        connections.iter().cloned().map(Some).collect()
    };
    let mut ids = Vec::new();
    for connection in filters {
        let query = EntryQuery {
            status: Some(EntryStatus::Failed),
            connection,
            since: Some(since),
            ..EntryQuery::default()
        };
        let mut cursor = None;
        loop {
            let page = store.entries_page(&query, cursor, 1_000)?;
            ids.extend(page.entries.iter().map(|e| e.sync_id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(ids)
}

/// What the plan will do, for stderr.
fn plan_text(plan: &ResyncPlan) -> String {
    let mut out = String::new();
    if !plan.accepted.is_empty() {
        out.push_str(&format!(
            "resync: {} on {}\n",
            entries_word(plan.accepted.len()),
            plan.connections
                .iter()
                .map(|name| {
                    let n = plan.accepted.iter().filter(|(_, c)| c == name).count();
                    format!("{name} ({n})")
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !plan.refused.is_empty() {
        // The same lines as the console's confirmation: grouped by reason, with counts.
        for line in plan.left_out_lines(LEFT_OUT_WIDTH, 2) {
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(&format!(
            "{} left out (a retry cannot fix them):\n",
            entries_word(plan.refused.len())
        ));
        for (id, reason) in plan.refused.iter().take(LISTED) {
            out.push_str(&format!("  entry {id}: {reason}\n"));
        }
        if plan.refused.len() > LISTED {
            out.push_str(&format!("  ... and {} more\n", plan.refused.len() - LISTED));
        }
    }
    out
}

/// Asks on stderr, reads one line; yes only for "y" or "yes".
fn confirm(question: &str, input: &mut impl BufRead) -> bool {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if input.read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

fn entries_word(n: usize) -> String {
    format!("{n} entr{}", if n == 1 { "y" } else { "ies" })
}

/// The accepted entries as the run left them.
struct Outcome {
    ok: Vec<ReportEntry>,
    /// Accepted by the destination (202) but not confirmed.
    sent: Vec<ReportEntry>,
    failing: Vec<ReportEntry>,
    /// Untouched: the run was canceled or its connection stopped before them.
    not_reached: Vec<ReportEntry>,
}

impl Outcome {
    fn read(store: &Store, run: &Run, accepted: &[SyncId]) -> Result<Outcome, CommandError> {
        let mut outcome = Outcome {
            ok: Vec::new(),
            sent: Vec::new(),
            failing: Vec::new(),
            not_reached: Vec::new(),
        };
        for &id in accepted {
            let Some(entry) = store.get_entry(id)? else {
                continue;
            };
            if entry.time < run.started_at {
                outcome.not_reached.push(entry);
                continue;
            }
            match entry.status {
                EntryStatus::Ok => outcome.ok.push(entry),
                EntryStatus::Sent => outcome.sent.push(entry),
                _ => outcome.failing.push(entry),
            }
        }
        Ok(outcome)
    }

    /// A summary for people.
    fn text(&self, run: &Run) -> String {
        let mut out = format!(
            "resync run {} · {}{}\n",
            run.id,
            run.status.as_str(),
            run.note
                .as_deref()
                .map(|n| format!(" · {}", terminal_line(n)))
                .unwrap_or_default()
        );
        out.push_str(&format!("  {} resynced OK\n", self.ok.len()));
        if !self.sent.is_empty() {
            out.push_str(&format!(
                "  {} sent (accepted by the destination, not confirmed yet)\n",
                self.sent.len()
            ));
        }
        if !self.failing.is_empty() {
            out.push_str(&format!("  {} still failing:\n", self.failing.len()));
            for entry in &self.failing {
                out.push_str(&format!("    {}\n", failing_line(entry)));
            }
        }
        if !self.not_reached.is_empty() {
            out.push_str(&format!(
                "  {} not reached (the run stopped before them): {}\n",
                self.not_reached.len(),
                self.not_reached
                    .iter()
                    .map(|e| e.sync_id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out
    }
}

/// "entry 12 · SD-000123 on mdm · 401 · credential rejected ..." (the error's first line).
fn failing_line(entry: &ReportEntry) -> String {
    let mut line = format!(
        "entry {} · {} on {} · {}",
        entry.sync_id,
        terminal_line(&entry.reference),
        terminal_line(&entry.connection),
        entry.status.as_str()
    );
    if let Some(error) = &entry.error {
        if let Some(status) = error.http_status {
            line.push_str(&format!(" · {status}"));
        }
        line.push_str(&format!(
            " · {}",
            terminal_line(error.message.lines().next().unwrap_or_default())
        ));
    }
    line
}

fn failing_json(entry: &ReportEntry) -> serde_json::Value {
    json!({
        "sync_id": entry.sync_id,
        "reference": entry.reference,
        "connection": entry.connection,
        "status": entry.status.as_str(),
        "outcome": entry.outcome.as_str(),
        "error": entry.error.as_ref().map(|e| json!({
            "http_status": e.http_status,
            "code": e.code,
            "message": e.message,
            "hint": e.hint,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_y_or_yes_confirms() {
        for (answer, expected) in [
            ("y\n", true),
            ("YES\n", true),
            (" yes \n", true),
            ("\n", false),
            ("n\n", false),
            ("yep\n", false),
            ("", false),
        ] {
            let mut input = answer.as_bytes();
            assert_eq!(confirm("? ", &mut input), expected, "{answer:?}");
        }
    }

    #[test]
    fn the_plan_names_counts_connections_and_reasons() {
        let plan = ResyncPlan {
            accepted: vec![(1, "cmdb".into()), (2, "mdm".into()), (3, "mdm".into())],
            refused: vec![(4, "already synced".into())],
            connections: vec!["cmdb".into(), "mdm".into()],
            left_out: vec![("already synced".into(), 1)],
        };
        let text = plan_text(&plan);
        assert!(
            text.contains("resync: 3 entries on cmdb (1), mdm (2)"),
            "{text}"
        );
        assert!(text.contains("left out: 1 already synced\n"), "{text}");
        assert!(text.contains("1 entry left out"), "{text}");
        assert!(text.contains("entry 4: already synced"), "{text}");
    }
}
