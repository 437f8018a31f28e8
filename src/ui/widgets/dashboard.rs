//! The dashboard card at the top of the screen: the run going now (type, mode, connection in
//! progress, overall gauge, counters, elapsed, ETA, and `c` to cancel), or the last run's
//! outcome when idle.

use chrono::{DateTime, TimeDelta, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Padding, Paragraph};

use crate::config::Config;
use crate::engine;
use crate::store::{ConnectionRun, Run, RunMode, RunStatus};

use crate::ui::widgets::diagnostics;
use crate::ui::widgets::format;
use crate::ui::widgets::gauge;
use crate::ui::widgets::status;
use crate::ui::widgets::theme::Theme;

/// Lines the card takes, borders included.
pub const HEIGHT: u16 = 6;

/// Lines the card takes: the whole card, or one line (views other than the jobs, where the
/// list needs the rows: the report shows 14 entries or more at 80x24).
pub fn height(whole: bool) -> u16 {
    if whole { HEIGHT } else { 1 }
}

/// Records done and the estimated records in scope of a run, over all its connections; the
/// total is an estimate while some connections have not listed yet.
pub fn overall(run: &Run, rows: &[ConnectionRun]) -> (u64, u64, bool) {
    let processed: u64 = rows.iter().map(|r| r.processed).sum();
    let known: Vec<u64> = rows
        .iter()
        .filter(|r| r.total > 0)
        .map(|r| r.total)
        .collect();
    let unknown = run.connections.len().max(rows.len()) - known.len();
    let mean = if known.is_empty() {
        0
    } else {
        known.iter().sum::<u64>() / known.len() as u64
    };
    let total = known.iter().sum::<u64>() + mean * unknown as u64;
    (processed, total.max(processed), unknown == 0)
}

/// Time left at the pace so far; None before anything was processed.
pub fn eta(elapsed: TimeDelta, processed: u64, total: u64) -> Option<TimeDelta> {
    if processed == 0 || total == 0 {
        return None;
    }
    let remaining = total.saturating_sub(processed) as i64;
    Some(TimeDelta::milliseconds(
        elapsed.num_milliseconds().saturating_mul(remaining) / processed as i64,
    ))
}

/// A line with `right` flush against the right edge when there is room.
fn spread(mut left: Vec<Span<'static>>, right: Vec<Span<'static>>, width: usize) -> Line<'static> {
    let used: usize = left.iter().map(Span::width).sum();
    let right_width: usize = right.iter().map(Span::width).sum();
    if used + right_width < width {
        left.push(Span::raw(" ".repeat(width - used - right_width)));
        left.extend(right);
    }
    Line::from(left)
}

/// What the card shows: a run (the one going, else the last), its connection runs, and
/// whether a cancel of it was asked for.
pub struct Card<'a> {
    pub run: Option<&'a Run>,
    pub rows: &'a [ConnectionRun],
    pub cancel_requested: bool,
    /// `c` cancels in the view on screen (in Contracts it switches connections): the one-line
    /// card names it only then.
    pub cancel_key: bool,
}

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    card: &Card,
    config: &Config,
    now: DateTime<Utc>,
    theme: Theme,
) {
    let (run, rows) = (card.run, card.rows);
    if area.height < HEIGHT {
        let line = one_line(card, config, area.width as usize, now, theme);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    // Room for the title's right end (" c cancel " or " cancel requested ") and the corners.
    let right = if card.cancel_requested { 19 } else { 12 };
    let room = (area.width as usize).saturating_sub(right);
    let (title, lines) = match run {
        None => empty(config, area, theme),
        Some(run) if run.status == RunStatus::Running => running(run, rows, area, now, room, theme),
        Some(run) => idle(run, rows, area, room, theme),
    };
    let mut block = Block::bordered()
        .border_style(theme.border())
        .padding(Padding::horizontal(1))
        .title(title);
    if run.is_some_and(|r| r.status == RunStatus::Running) {
        let right = if card.cancel_requested {
            Line::styled(" cancel requested ", theme.warn())
        } else {
            Line::from(vec![Span::styled(" c", theme.key()), Span::raw(" cancel ")])
        };
        block = block.title(right.right_aligned());
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `Last run #12 · Full Live · ✔ completed · by alice@jump1 · console`, the origin cut to
/// what `width` leaves (or left out).
/// " Last run #7 · Full Live · ": the card's title before the status.
fn run_title(run: &Run, prefix: &str, theme: Theme) -> Vec<Span<'static>> {
    vec![
        Span::styled(format!(" {prefix} #{} ", run.id), theme.title()),
        Span::styled(
            format!(
                "· {} {} · ",
                status::run_type(run.run_type),
                status::mode(run.mode)
            ),
            theme.strong(),
        ),
    ]
}

fn heading(
    run: &Run,
    rows: &[ConnectionRun],
    prefix: &str,
    width: usize,
    theme: Theme,
) -> Line<'static> {
    let failed = status::run_failed_entries(rows);
    let mut spans = run_title(run, prefix, theme);
    spans.push(Span::styled(
        format!("{} ", status::label_with(run.status, failed)),
        theme.status_with(run.status, failed),
    ));
    let used: usize = spans.iter().map(Span::width).sum();
    let room = width.saturating_sub(used + 3);
    let origin = status::origin(run, room);
    if !origin.is_empty() {
        spans.push(Span::styled(format!("· {origin} "), theme.dim()));
    }
    Line::from(spans)
}

fn running(
    run: &Run,
    rows: &[ConnectionRun],
    area: Rect,
    now: DateTime<Utc>,
    title_room: usize,
    theme: Theme,
) -> (Line<'static>, Vec<Line<'static>>) {
    let width = area.width.saturating_sub(4) as usize;
    let elapsed = now - run.started_at;
    let (processed, total, exact) = overall(run, rows);
    let eta = eta(elapsed, processed, total).map_or("—".to_string(), |t| {
        format!("{}{}", if exact { "" } else { "~" }, format::duration(t))
    });
    let clock = vec![
        Span::styled("elapsed ", theme.dim()),
        Span::styled(format::duration(elapsed), theme.strong()),
        Span::styled("  ETA ", theme.dim()),
        Span::styled(eta, theme.strong()),
    ];
    let n = run.connections.len().max(rows.len());
    let current = rows.iter().rev().find(|r| r.status == RunStatus::Running);
    let now_line = match current {
        Some(r) => vec![
            Span::styled("now ", theme.dim()),
            Span::styled(r.connection.clone(), theme.strong()),
            Span::styled(format!(" ({} of {n}) ", r.position + 1), theme.dim()),
            Span::raw(gauge::x_of_n(r.processed, r.total, r.total > 0)),
            Span::styled(format!(" · {}", r.system), theme.dim()),
        ],
        None => vec![Span::styled(
            "starting: waiting for the first connection",
            theme.dim(),
        )],
    };
    let fits = |spans: &[Span]| -> bool {
        spans
            .iter()
            .chain(clock.iter())
            .map(Span::width)
            .sum::<usize>()
            < width
    };
    let mut now_line = now_line;
    // Drop the system name, then the count, before the elapsed time and ETA.
    while !fits(&now_line) && now_line.len() > 2 {
        now_line.pop();
    }
    let first = spread(now_line, clock, width);
    let stats = format!(
        " {}  {} of {}{}",
        gauge::percent(processed, total),
        format::count(processed),
        if exact { "" } else { "~" },
        format::count(total)
    );
    let cells = width.saturating_sub(8 + stats.len()).clamp(1, 60);
    let mut bar = vec![Span::styled("overall ", theme.dim())];
    bar.extend(gauge::bar(processed, total, cells, theme));
    bar.push(Span::styled(stats, theme.strong()));
    let counters = engine::total_counters(rows);
    let cells = diagnostics::cells(run.mode, &counters, theme);
    let [labels, values] = diagnostics::panel(&cells, width, "", theme);
    let lines = vec![first, Line::from(bar), labels, values];
    (heading(run, rows, "▶ Run", title_room, theme), lines)
}

fn idle(
    run: &Run,
    rows: &[ConnectionRun],
    area: Rect,
    title_room: usize,
    theme: Theme,
) -> (Line<'static>, Vec<Line<'static>>) {
    let width = area.width.saturating_sub(4) as usize;
    let mut facts = Vec::new();
    if let Some(end) = run.finished_at {
        facts.push(format!("finished {} UTC", format::started(end, false)));
        facts.push(format!("took {}", format::duration(end - run.started_at)));
    }
    let n = run.connections.len();
    facts.push(format!("{n} connection{}", if n == 1 { "" } else { "s" }));
    if let Some(serial) = &run.serial {
        facts.push(format!("serial {serial}"));
    }
    let never = status::run_never_tried(rows);
    if never > 0 {
        facts.push(format!("{} never tried", format::count(never)));
    }
    if !run.credential_contexts.is_empty() {
        facts.push(run.credential_contexts.join(", "));
    }
    let first = Line::styled(format::fit(&facts.join(" · "), width), theme.dim());
    let counters = engine::total_counters(rows);
    let cells = diagnostics::cells(run.mode, &counters, theme);
    let failed = status::run_failed_entries(rows);
    let mut next = vec![
        Span::styled("next: ", theme.dim()),
        Span::raw(status::next_action_with(run.status, failed)),
    ];
    // A finished Dry run that planned changes: applying its plan is the step after review.
    if run.mode == RunMode::Dry && run.status == RunStatus::Completed && counters.would_update > 0 {
        next.push(Span::styled(" · ", theme.dim()));
        next.push(Span::styled("p", theme.key()));
        next.push(Span::styled(" applies the plan", theme.dim()));
    }
    if let Some(note) = &run.note {
        next.push(Span::styled(" · ", theme.dim()));
        next.push(Span::styled(note.clone(), theme.warn()));
    }
    let next_width: usize = next.iter().map(Span::width).sum();
    if next_width + 16 <= width {
        next.push(Span::styled(" · ", theme.dim()));
        next.push(Span::styled("n", theme.key()));
        next.push(Span::styled(" new run", theme.dim()));
    }
    let next = fit_spans(next, width);
    let [labels, values] = diagnostics::panel(&cells, width, "", theme);
    let lines = vec![first, labels, values, Line::from(next)];
    (heading(run, rows, "Last run", title_room, theme), lines)
}

/// The card in one line: `Last run #4 · Full Live · ⚠ completed · 199 failed · E opens the 199
/// failed`, `▶ Run #5 · Full Live · registry 1,204 of 2,400 · 45% · ETA 2m05s · c cancel`, or
/// `No runs yet · n starts one`; cut with an ellipsis.
fn one_line(
    card: &Card,
    config: &Config,
    width: usize,
    now: DateTime<Utc>,
    theme: Theme,
) -> Line<'static> {
    let Some(run) = card.run else {
        let spans = vec![
            Span::styled(" No runs yet ", theme.title()),
            Span::styled("· ", theme.dim()),
            Span::styled("n", theme.key()),
            Span::raw(format!(
                " starts one: Single Dry → Single Live → Full Dry → Full Live · {} connection{}",
                config.connections.len(),
                if config.connections.len() == 1 {
                    ""
                } else {
                    "s"
                }
            )),
        ];
        return Line::from(fit_spans(spans, width));
    };
    let rows = card.rows;
    let failed = status::run_failed_entries(rows);
    let running = run.status == RunStatus::Running;
    let prefix = if running { "▶ Run" } else { "Last run" };
    let mut spans = run_title(run, prefix, theme);
    if running {
        let (processed, total, exact) = overall(run, rows);
        if let Some(r) = rows.iter().rev().find(|r| r.status == RunStatus::Running) {
            spans.push(Span::styled(
                format!(
                    "{} {} · ",
                    r.connection,
                    gauge::x_of_n(r.processed, r.total, r.total > 0)
                ),
                theme.strong(),
            ));
        }
        let eta = eta(now - run.started_at, processed, total).map_or("—".to_string(), |t| {
            format!("{}{}", if exact { "" } else { "~" }, format::duration(t))
        });
        spans.push(Span::raw(format!(
            "{} · ETA {eta}",
            gauge::percent(processed, total)
        )));
        if failed > 0 {
            spans.push(Span::styled(
                format!(" · {} failed", format::count(failed)),
                theme.warn(),
            ));
        }
        if card.cancel_requested {
            spans.push(Span::styled(" · cancel requested", theme.warn()));
        } else if card.cancel_key {
            spans.push(Span::styled(" · ", theme.dim()));
            spans.push(Span::styled("c", theme.key()));
            spans.push(Span::raw(" cancel"));
        }
    } else {
        spans.push(Span::styled(
            status::label_with(run.status, failed),
            theme.status_with(run.status, failed),
        ));
        let never = status::run_never_tried(rows);
        if never > 0 {
            spans.push(Span::styled(
                format!(" · {} never tried", format::count(never)),
                theme.warn(),
            ));
        }
        spans.push(Span::styled(" · next: ", theme.dim()));
        spans.push(Span::raw(status::next_action_outside_jobs(
            run.status, failed,
        )));
    }
    Line::from(fit_spans(spans, width))
}

fn empty(config: &Config, area: Rect, theme: Theme) -> (Line<'static>, Vec<Line<'static>>) {
    let width = area.width.saturating_sub(4) as usize;
    let names: Vec<&str> = config.connections.iter().map(|c| c.name.as_str()).collect();
    let lines = vec![
        Line::from(vec![
            Span::styled("n", theme.key()),
            Span::raw(" starts a run. The recommended workflow:"),
        ]),
        Line::styled(
            "Single Dry → Single Live → Full Dry → Full Live",
            theme.strong(),
        ),
        Line::styled(
            format::fit(
                &format!(
                    "source: {} · {} connection{}: {}",
                    config.sources_label(),
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    names.join(", ")
                ),
                width,
            ),
            theme.dim(),
        ),
        Line::styled("Runs started here appear below, live.", theme.dim()),
    ];
    (Line::styled(" No runs yet ", theme.title()), lines)
}

/// Cuts styled spans to `width` columns, the last one ending in "…" when anything was cut.
fn fit_spans(spans: Vec<Span<'static>>, width: usize) -> Vec<Span<'static>> {
    let total: usize = spans.iter().map(Span::width).sum();
    if total <= width {
        return spans;
    }
    let mut kept = Vec::new();
    let mut used = 0;
    for span in spans {
        let room = width.saturating_sub(used);
        if span.width() < room {
            used += span.width();
            kept.push(span);
            continue;
        }
        // Something follows: the cut always shows, even when this span alone would fit.
        let cut = format::fit(&format!("{}…", span.content), room);
        kept.push(Span::styled(cut, span.style));
        break;
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_follows_the_pace_so_far() {
        assert_eq!(eta(TimeDelta::seconds(60), 0, 100), None);
        assert_eq!(
            eta(TimeDelta::seconds(60), 25, 100),
            Some(TimeDelta::seconds(180))
        );
        assert_eq!(
            eta(TimeDelta::seconds(60), 100, 100),
            Some(TimeDelta::zero())
        );
    }
}
