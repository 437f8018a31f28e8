//! One confirmation mechanism for every destructive action (gitui's ConfirmAction pattern):
//! a key asks for a [`Confirm`], and only `y` turns it into its [`ConfirmedAction`].

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::engine::{ResyncPlan, RunRequest};
use crate::store::{Run, RunId, SyncId};

use super::format;
use super::layout;
use super::new_run::Gate;
use super::status;
use super::theme::Theme;

/// What happens once the operator says yes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfirmedAction {
    CancelRun(RunId),
    /// Quit while a run is going (the loop cancels the run on the way out).
    Quit,
    /// Start a Full Live run past the safety gate.
    StartForced(RunRequest),
    /// Resync these report entries (a Resync run).
    Resync(Vec<SyncId>),
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

    /// Start a Full Live run the safety gate stops.
    pub fn forced_full_live(request: RunRequest, gate: &Gate) -> Confirm {
        let mut lines =
            vec!["Safety gate: a Full Live run writes to every record in scope, and".into()];
        lines.extend(gate.reasons.iter().map(|r| format!("  • {r}")));
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
        if !plan.refused.is_empty() {
            lines.push(format!(
                "{} left out, a resync cannot fix {}:",
                entries(plan.refused.len()),
                if plan.refused.len() == 1 {
                    "it"
                } else {
                    "them"
                }
            ));
            lines.extend(refusal_lines(plan, 3));
        }
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

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let width = area.width.saturating_sub(4).min(72);
        let text_width = width.saturating_sub(4) as usize;
        let mut lines: Vec<Line> = Vec::new();
        for line in &self.lines {
            // A bullet's continuation lines hang under its text.
            let hang = if line.trim_start().starts_with('•') {
                line.len() - line.trim_start().len() + 2
            } else {
                0
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
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled("y", theme.key()),
            Span::raw(format!(" {}   ", self.yes)),
            Span::styled("n", theme.key()),
            Span::raw("/"),
            Span::styled("Esc", theme.key()),
            Span::raw(" back"),
        ]));
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
        lines.push(format!(
            "  • {} more, for {} other reasons",
            format::count(rest as u64),
            groups.len() - max
        ));
    }
    lines
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
