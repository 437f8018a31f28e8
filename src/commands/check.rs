//! `syncdeck check`: the health check of each connection (see [`crate::engine::health`]).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::exit::{CommandError, Exit};
use super::setup::{Access, open_store};
use crate::config::Config;
use crate::engine::health::{self, HealthReport, HealthStep, StepStatus};
use crate::store::Store;
use crate::text::{terminal_line, to_json_string_pretty};

/// Checks the named connections (all when empty), prints each step, keeps the results in the
/// store when it can be opened; exit 1 when any step failed.
pub fn run(
    config: Config,
    store: Option<&Path>,
    connections: Vec<String>,
    json: bool,
) -> Result<Exit, CommandError> {
    let names = match chosen(&config, connections) {
        Ok(names) => names,
        Err(message) => {
            eprintln!("syncdeck: {message}");
            return Ok(Exit::Usage);
        }
    };
    // A store that cannot be written must not stop the check: only keeping its results.
    let store = match open_store(store, &config, Access::Write) {
        Ok(store) => Some(store),
        Err(error) => {
            eprintln!("syncdeck: {error}; checking anyway, the results will not be kept");
            None
        }
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|source| CommandError::Io {
        context: "cannot start the async runtime".into(),
        source,
    })?;
    let reports = runtime.block_on(check_all(Arc::new(config), store.clone(), names, json));
    let mut exit = Exit::Success;
    for report in &reports {
        match report {
            Ok(report) if report.is_ok() => {}
            Ok(_) => exit = Exit::RecordsFailed,
            // Names were checked before: only a panicked check ends here.
            Err(message) => {
                eprintln!("syncdeck: {}", terminal_line(message));
                exit = Exit::RecordsFailed;
            }
        }
    }
    let reports: Vec<HealthReport> = reports.into_iter().filter_map(Result::ok).collect();
    if let Some(store) = &store {
        for report in &reports {
            if let Err(error) = health::save(store, report) {
                eprintln!(
                    "syncdeck: the check of {} was not kept: {error}",
                    report.connection
                );
            }
        }
    }
    if json {
        let text = to_json_string_pretty(&reports).unwrap_or_default();
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }
    Ok(exit)
}

/// The connections to check, in the order given (config order when none), or the message for
/// the first unknown one.
fn chosen(config: &Config, connections: Vec<String>) -> Result<Vec<String>, String> {
    if connections.is_empty() {
        return Ok(config.connections.iter().map(|c| c.name.clone()).collect());
    }
    let mut names: Vec<String> = Vec::with_capacity(connections.len());
    for name in connections {
        if config.connection(&name).is_none() {
            return Err(health::unknown_connection(config, &name));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// Runs every check at once (a destination that times out does not hold the others back) and
/// prints each report in order as soon as it and those before it are in (unless `json`).
async fn check_all(
    config: Arc<Config>,
    store: Option<Store>,
    names: Vec<String>,
    json: bool,
) -> Vec<Result<HealthReport, String>> {
    let checks: Vec<_> = names
        .into_iter()
        .map(|name| {
            let shared = config.clone();
            let store = store.clone();
            let task = tokio::spawn(async move {
                health::check_connection(&shared, store.as_ref(), &name).await
            });
            (task, config.clone())
        })
        .collect();
    let mut reports = Vec::with_capacity(checks.len());
    for (task, config) in checks {
        let report = match task.await {
            Ok(report) => report,
            Err(join) => Err(format!("a health check stopped: {join}")),
        };
        if let (Ok(report), false) = (&report, json) {
            let text = render(&config, report);
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
        reports.push(report);
    }
    reports
}

/// Width of the step labels ("destination reachable").
const LABEL_WIDTH: usize = 21;

/// A report for people: a header, one line per step, a hint under a failed one.
pub fn render(config: &Config, report: &HealthReport) -> String {
    let system = config
        .connection(&report.connection)
        .map(|c| format!(" · {}", c.system))
        .unwrap_or_default();
    let verdict = if report.is_ok() { "healthy" } else { "failing" };
    let mut out = format!("{}{system} · {verdict}\n", report.connection);
    for step in &report.steps {
        out.push_str(&step_line(step));
    }
    out
}

fn step_line(step: &HealthStep) -> String {
    let label = step.kind.label();
    let latency = step
        .latency_ms
        .map(crate::engine::health::latency_text)
        .unwrap_or_default();
    // The detail quotes what the systems answered: shown, never obeyed, by the terminal.
    let detail = terminal_line(&step.detail);
    let mut line = match step.status {
        StepStatus::Ok => format!("  ✔ {label:<LABEL_WIDTH$} {latency:>7}  {detail}\n"),
        StepStatus::Failed => format!("  ✖ {label:<LABEL_WIDTH$} {latency:>7}  {detail}\n"),
        // The write path a destination does not describe: not checked, and why.
        StepStatus::Skipped if step.detail.starts_with("write path not checked") => {
            format!("  – {label:<LABEL_WIDTH$} {latency:>7}  {detail}\n")
        }
        StepStatus::Skipped => format!("  – {label:<LABEL_WIDTH$}  skipped\n"),
    };
    if let Some(hint) = &step.hint {
        line.push_str(&format!("      hint: {}\n", terminal_line(hint)));
    }
    line
}
