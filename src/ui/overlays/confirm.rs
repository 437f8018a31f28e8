//! One confirmation mechanism for every destructive action (gitui's ConfirmAction pattern):
//! a key asks for a [`Confirm`], and only `y` turns it into its [`ConfirmedAction`].

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::engine::health::HealthReport;
use crate::engine::{ResyncPlan, RunRequest, RunScope};
use crate::store::{Run, RunId, SyncContract, SyncId};

use crate::ui::overlays::new_run::{Gate, ModeSplit};
use crate::ui::widgets::format;
use crate::ui::widgets::layout;
use crate::ui::widgets::status;
use crate::ui::widgets::theme::Theme;

/// What happens once the operator says yes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfirmedAction {
    CancelRun(RunId),
    /// Quit while a run is going (the loop cancels the run on the way out).
    Quit,
    /// Start a run that writes to at least one connection.
    StartLive(RunRequest),
    /// Start a Full Live run past the safety gate.
    StartForced(RunRequest),
    /// Resync these report entries (a Resync run).
    Resync(Vec<SyncId>),
    /// Forget one sync contract, so the next run treats the serial as new.
    DeleteContract {
        connection: String,
        origin_id: String,
    },
    /// Apply a Dry run's plan live on these connections.
    Apply {
        run_id: RunId,
        connections: Vec<String>,
    },
    /// Nothing to go ahead with: the question only explains why (Esc backs out).
    Blocked,
}

/// A question waiting for y or n.
#[derive(Clone, Debug)]
pub struct Confirm {
    pub action: ConfirmedAction,
    pub title: String,
    pub lines: Vec<String>,
    /// What `y` does, in words.
    pub yes: &'static str,
}

fn describe(run: &Run) -> String {
    format!(
        "run #{} ({} {}, {} connection{})",
        run.id,
        status::run_type(run.run_type),
        status::mode(run.mode),
        run.connections.len(),
        if run.connections.len() == 1 { "" } else { "s" }
    )
}

impl Confirm {
    /// Cancel the running run; `progress` says where it is ("registry, 1,204 of 2,400").
    pub fn cancel_run(run: &Run, progress: Option<String>) -> Confirm {
        let mut lines = vec![format!("Cancel {}?", describe(run))];
        if let Some(progress) = progress {
            lines.push(format!("Now at: {progress}."));
        }
        lines.push(
            "Dispatching stops at once; requests in flight finish, what finished is recorded, \
             and the run is marked Canceled with \"N of M processed\"."
                .into(),
        );
        Confirm {
            action: ConfirmedAction::CancelRun(run.id),
            title: "Cancel the run?".into(),
            lines,
            yes: "cancel the run",
        }
    }

    /// Ask the process running another process's run to cancel it; `progress` as above.
    pub fn cancel_elsewhere(run: &Run, progress: Option<String>) -> Confirm {
        let mut lines = vec![format!("Cancel {}?", describe(run))];
        let origin = crate::store::origin(run.owner.as_ref(), run.trigger.as_ref());
        let owner = run.owner.as_ref().map_or_else(
            || "another process".to_string(),
            |owner| format!("process {} on {}", owner.pid, owner.host),
        );
        lines.push(format!(
            "It runs in {owner} ({origin}), not in this console: a cancel request is written to \
             the store, and that process cancels the run within a second."
        ));
        if let Some(progress) = progress {
            lines.push(format!("Now at: {progress}."));
        }
        lines.push(
            "Requests in flight finish, what finished is recorded, and the run is marked \
             Canceled with \"N of M processed\" and who asked."
                .into(),
        );
        Confirm {
            action: ConfirmedAction::CancelRun(run.id),
            title: "Cancel another process's run?".into(),
            lines,
            yes: "ask for the cancel",
        }
    }

    /// Quit while a run is going.
    pub fn quit(run: &Run) -> Confirm {
        Confirm {
            action: ConfirmedAction::Quit,
            title: "Quit during a run?".into(),
            lines: vec![
                format!("{} is still going.", capitalise(&describe(run))),
                "Quitting cancels it; it is recorded as Canceled with what it processed.".into(),
            ],
            yes: "cancel the run and quit",
        }
    }

    /// Quit the demo whose scratch store (deleted on the way out) holds `runs` runs.
    pub fn quit_demo(runs: usize, more: bool) -> Confirm {
        let runs = format!(
            "{}{} run{}",
            format::count(runs as u64),
            if more { "+" } else { "" },
            if runs == 1 && !more { "" } else { "s" }
        );
        Confirm {
            action: ConfirmedAction::Quit,
            title: "Quit the demo and drop its history?".into(),
            lines: vec![
                format!(
                    "The demo keeps its history in a scratch store, deleted when the demo ends: \
                     {runs} and their report entries go with it."
                ),
                "To keep a demo's history, start it with: syncdeck demo --store PATH".into(),
            ],
            yes: "quit and drop the history",
        }
    }

    /// Start a run that is Live on at least one connection: which ones are written to, and
    /// which ones only compared.
    pub fn live_run(request: RunRequest, split: &ModeSplit) -> Confirm {
        let (scope, what) = match &request.scope {
            RunScope::Full => ("Full", "every record in scope".to_string()),
            RunScope::Single(serial) => ("Single", format!("the record {serial}")),
        };
        let mut lines = vec![format!("LIVE: writes {what} to {}.", names(&split.live))];
        if !split.dry.is_empty() {
            lines.push(format!(
                "Dry on {}: nothing is written there.",
                names(&split.dry)
            ));
        }
        lines.push(
            "A Dry run of the same scope shows first what this one would change, writing \
             nothing."
                .into(),
        );
        Confirm {
            action: ConfirmedAction::StartLive(request),
            title: format!("Start a {scope} LIVE run?"),
            lines,
            yes: "start it live",
        }
    }

    /// Start a Full Live run the safety gate stops.
    pub fn forced_full_live(request: RunRequest, gate: &Gate) -> Confirm {
        let mut lines =
            vec!["Safety gate: a Full Live run writes to every record in scope, and".into()];
        lines.extend(gate.reasons.iter().map(|r| format!("  • {r}")));
        if !gate.dry.is_empty() {
            lines.push(format!(
                "Dry on {}: nothing is written there.",
                names(&gate.dry)
            ));
        }
        lines.push(
            "Recommended: a Full Dry run of this configuration first, then review its \
             diagnostics."
                .into(),
        );
        Confirm {
            action: ConfirmedAction::StartForced(RunRequest {
                force: true,
                ..request
            }),
            title: "Start a Full Live run anyway?".into(),
            lines,
            yes: "start it anyway (forced)",
        }
    }

    /// Resync the entries a plan accepted: the count, the connections, and what was left out
    /// and why, grouped by reason.
    pub fn resync(plan: &ResyncPlan) -> Confirm {
        let count = plan.accepted.len();
        let entries = |n: usize| {
            format!(
                "{} entr{}",
                format::count(n as u64),
                if n == 1 { "y" } else { "ies" }
            )
        };
        let mut lines = Vec::new();
        if let [(id, connection)] = plan.accepted.as_slice() {
            lines.push(format!(
                "Resync entry #{id} on {connection} live, as a Resync run in the jobs history."
            ));
        } else {
            lines.push(format!(
                "Resync {} live, as a Resync run in the jobs history, on {}:",
                entries(count),
                if plan.connections.len() == 1 {
                    "1 connection".to_string()
                } else {
                    format!("{} connections", plan.connections.len())
                }
            ));
            for connection in &plan.connections {
                let n = plan
                    .accepted
                    .iter()
                    .filter(|(_, c)| c == connection)
                    .count();
                lines.push(format!("  • {connection}: {}", entries(n)));
            }
        }
        // What a retry cannot fix, in two lines at most (the dialog's text is 68 wide at most).
        lines.extend(plan.left_out_lines(RESYNC_TEXT_WIDTH, 2));
        lines.push(
            "Entries that succeed turn OK; their earlier failures stay in the attempt history."
                .into(),
        );
        let title = match plan.accepted.as_slice() {
            [(id, _)] => format!("Resync entry #{id}?"),
            _ => format!("Resync {}?", entries(count)),
        };
        Confirm {
            action: ConfirmedAction::Resync(plan.accepted.iter().map(|(id, _)| *id).collect()),
            title,
            lines,
            yes: "resync",
        }
    }

    /// Delete one contract: what the next run does with the serial then.
    pub fn delete_contract(contract: &SyncContract) -> Confirm {
        let serial = &contract.origin_id;
        let mut lines = vec![
            format!(
                "Delete the sync contract of {serial} on {}?",
                contract.connection
            ),
            format!(
                "The next run treats {serial} as new: it will be compared in full and created if \
                 missing."
            ),
        ];
        let target = contract.target_id.as_deref().unwrap_or("none");
        let hash: String = contract.last_hash.chars().take(12).collect();
        lines.push(format!(
            "Forgotten: target id {target}, last hash {hash}. The destination record itself is \
             not touched."
        ));
        Confirm {
            action: ConfirmedAction::DeleteContract {
                connection: contract.connection.clone(),
                origin_id: serial.clone(),
            },
            title: format!("Delete the contract of {serial}?"),
            lines,
            yes: "delete the contract",
        }
    }

    /// Apply the plan of Dry run `run_id`: per connection (name, would update, would create).
    pub fn apply(run_id: RunId, counts: &[(String, u64, u64)]) -> Confirm {
        let numbers = |update: u64, create: u64| {
            format!(
                "{} would update, {} would create",
                format::count(update),
                format::count(create)
            )
        };
        let mut lines = Vec::new();
        match counts {
            [(name, update, create)] => lines.push(format!(
                "Apply the plan of run #{run_id} on {name}: {}.",
                numbers(*update, *create)
            )),
            _ => {
                lines.push(format!(
                    "Apply the plan of run #{run_id} on {} connections:",
                    counts.len()
                ));
                for (name, update, create) in counts {
                    lines.push(format!("  • {name}: {}", numbers(*update, *create)));
                }
            }
        }
        lines.push(
            "This runs Live exactly these records, as an Apply run in the jobs history; \
             anything that changed since the Dry run is reported drifted, not written."
                .into(),
        );
        Confirm {
            action: ConfirmedAction::Apply {
                run_id,
                connections: counts.iter().map(|(name, _, _)| name.clone()).collect(),
            },
            title: format!("Apply the plan of run #{run_id}?"),
            lines,
            yes: "apply live",
        }
    }

    /// A mass resync whose connections' health checks passed: says so.
    pub fn with_health_ok(mut self, reports: &[HealthReport]) -> Confirm {
        let names: Vec<&str> = reports.iter().map(|r| r.connection.as_str()).collect();
        let at = self.lines.len().saturating_sub(1);
        self.lines.insert(
            at,
            format!("health ✔ {} (checked just now)", names.join(", ")),
        );
        self
    }

    /// A mass resync stopped by a failed health check: which connection, which step, the
    /// hint; nothing to confirm.
    pub fn resync_blocked(
        plan: &ResyncPlan,
        failures: &[(String, String, Option<String>)],
    ) -> Confirm {
        let mut lines = vec![format!(
            "A resync of {} entr{} would go to {}, but the health check failed:",
            format::count(plan.accepted.len() as u64),
            if plan.accepted.len() == 1 { "y" } else { "ies" },
            plan.connections.join(", ")
        )];
        for (connection, what, hint) in failures {
            lines.push(format!("  • {connection}: {what}"));
            if let Some(hint) = hint {
                lines.push(format!("    hint: {hint}"));
            }
        }
        lines.push(
            "Nothing was sent. Fix it, check again with H in 5 Connections, then resync.".into(),
        );
        let title = match failures {
            [(connection, _, _)] => format!("Resync blocked: {connection} is not healthy"),
            _ => format!(
                "Resync blocked: {} connections are not healthy",
                failures.len()
            ),
        };
        Confirm {
            action: ConfirmedAction::Blocked,
            title,
            lines,
            yes: "",
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let width = area.width.saturating_sub(4).min(DIALOG_WIDTH);
        let text_width = width.saturating_sub(4) as usize;
        let mut lines: Vec<Line> = Vec::new();
        for line in &self.lines {
            // A bullet's continuation lines hang under its text.
            // An indented line's hang under its own indent.
            let indent = line.len() - line.trim_start().len();
            let hang = if line.trim_start().starts_with('•') {
                indent + 2
            } else {
                indent
            };
            let body: String = line.chars().skip(hang).collect();
            let lead: String = line.chars().take(hang).collect();
            for (i, piece) in format::wrap(&body, text_width.saturating_sub(hang))
                .into_iter()
                .enumerate()
            {
                let prefix = if i == 0 {
                    lead.clone()
                } else {
                    " ".repeat(hang)
                };
                lines.push(Line::raw(format!("{prefix}{piece}")));
            }
        }
        // Too tall for the screen: the text is cut (with an ellipsis), never the key line.
        let room = area.height.saturating_sub(4) as usize;
        if lines.len() > room {
            lines.truncate(room.saturating_sub(1));
            lines.push(Line::styled(
                "… (more than the screen holds: a taller terminal shows it all)",
                theme.dim(),
            ));
        }
        lines.push(Line::raw(""));
        if self.action == ConfirmedAction::Blocked {
            lines.push(Line::from(vec![
                Span::styled("Esc", theme.key()),
                Span::raw(" back"),
            ]));
        } else {
            lines.push(Line::from(vec![
                Span::styled("y", theme.key()),
                Span::raw(format!(" {}   ", self.yes)),
                Span::styled("n", theme.key()),
                Span::raw("/"),
                Span::styled("Esc", theme.key()),
                Span::raw(" back"),
            ]));
        }
        let height = lines.len() as u16 + 2;
        let rect = layout::centered(area, width, height);
        frame.render_widget(Clear, rect);
        let block = Block::bordered()
            .border_style(theme.warn())
            .title(Span::styled(format!(" {} ", self.title), theme.warn()));
        let inner = block.inner(rect).inner(ratatui::layout::Margin::new(1, 0));
        frame.render_widget(block, rect);
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

/// The widest a confirmation is, borders included.
const DIALOG_WIDTH: u16 = 72;
/// The text width of a confirmation at its widest (80 columns and more): borders and margins off.
const RESYNC_TEXT_WIDTH: usize = DIALOG_WIDTH as usize - 4;

/// The refusals of a plan grouped by reason, most frequent first, at most `max` groups:
/// `  • 2 × already synced`.
pub fn refusal_lines(plan: &ResyncPlan, max: usize) -> Vec<String> {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for (_, reason) in &plan.refused {
        match groups.iter_mut().find(|(r, _)| r == reason) {
            Some((_, n)) => *n += 1,
            None => groups.push((reason, 1)),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1));
    let mut lines: Vec<String> = groups
        .iter()
        .take(max)
        .map(|(reason, n)| format!("  • {} × {reason}", format::count(*n as u64)))
        .collect();
    if groups.len() > max {
        let rest: usize = groups[max..].iter().map(|(_, n)| n).sum();
        let others = groups.len() - max;
        lines.push(format!(
            "  • {} more, for {} other reason{}",
            format::count(rest as u64),
            format::count(others as u64),
            if others == 1 { "" } else { "s" }
        ));
    }
    lines
}

/// Names as a reader lists them: `a`, `a and b`, `a, b and c`.
fn names(list: &[String]) -> String {
    match list {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
