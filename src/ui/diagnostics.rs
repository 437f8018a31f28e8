//! The counters of a connection run: the dry-run diagnostics mini-dashboard (Would Update,
//! Skipped, Missing Source, Missing Destination, Errors) and the live counters (Updated,
//! Created, Skipped, Missing Source, Missing Destination, Failed, Pending).

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::store::{Counters, RunMode};

use super::format;
use super::theme::Theme;

/// One counter: its full and short labels, value and style.
pub struct Cell {
    pub label: &'static str,
    pub short: &'static str,
    pub value: u64,
    pub style: Style,
}

fn cell(label: &'static str, short: &'static str, value: u64, style: Style) -> Cell {
    Cell {
        label,
        short,
        value,
        style,
    }
}

/// The counters SPEC section 3 shows for a row in this mode.
pub fn cells(mode: RunMode, c: &Counters, theme: Theme) -> Vec<Cell> {
    let plain = theme.strong();
    let bad = |n: u64| if n > 0 { theme.error() } else { plain };
    // A missing-destination spike (over 20% of the records) points at the fetch contract.
    let spike = if c.missing_destination * 5 > c.fetched && c.fetched > 0 {
        theme.warn()
    } else {
        plain
    };
    match mode {
        RunMode::Dry => vec![
            cell("Would Update", "Would upd.", c.would_update, plain),
            cell("Skipped", "Skipped", c.skipped, plain),
            cell("Missing Source", "Miss. src", c.missing_source, plain),
            cell(
                "Missing Destination",
                "Miss. dest",
                c.missing_destination,
                spike,
            ),
            cell("Errors", "Errors", c.errors, bad(c.errors)),
        ],
        RunMode::Live => vec![
            cell("Updated", "Updated", c.updated, plain),
            cell("Created", "Created", c.created, plain),
            cell("Skipped", "Skipped", c.skipped, plain),
            cell("Missing Source", "Miss. src", c.missing_source, plain),
            cell(
                "Missing Destination",
                "Miss. dest",
                c.missing_destination,
                spike,
            ),
            cell("Failed", "Failed", c.failed, bad(c.failed)),
            cell(
                "Pending",
                "Pending",
                c.pending,
                if c.pending > 0 { theme.warn() } else { plain },
            ),
        ],
    }
}

fn columns(cells: &[Cell], short: bool) -> Vec<usize> {
    cells
        .iter()
        .map(|c| {
            let label = if short { c.short } else { c.label };
            format::width(label).max(format::count(c.value).len())
        })
        .collect()
}

/// The mini-dashboard: labels over right-aligned numbers, full labels when they fit.
pub fn panel(cells: &[Cell], width: usize, indent: &str, theme: Theme) -> [Line<'static>; 2] {
    let room = width.saturating_sub(format::width(indent));
    let full = columns(cells, false);
    let short = cells.len() * 2 > room
        || full.iter().sum::<usize>() + 2 * (cells.len().saturating_sub(1)) > room;
    let widths = if short { columns(cells, true) } else { full };
    let mut labels = vec![Span::raw(indent.to_string())];
    let mut values = vec![Span::raw(indent.to_string())];
    for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
        if i > 0 {
            labels.push(Span::raw("  "));
            values.push(Span::raw("  "));
        }
        let label = if short { c.short } else { c.label };
        labels.push(Span::styled(format::pad_left(label, *w), theme.label()));
        values.push(Span::styled(
            format::pad_left(&format::count(c.value), *w),
            c.style,
        ));
    }
    [Line::from(labels), Line::from(values)]
}

/// One line of counters: `Would Update 1,204 · Skipped 980 · …`, short labels when needed.
pub fn inline(cells: &[Cell], width: usize, theme: Theme) -> Line<'static> {
    let text_len = |short: bool| -> usize {
        cells
            .iter()
            .map(|c| {
                let label = if short { c.short } else { c.label };
                format::width(label) + 1 + format::count(c.value).len()
            })
            .sum::<usize>()
            + 3 * cells.len().saturating_sub(1)
    };
    let short = text_len(false) > width;
    let mut spans = Vec::new();
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.dim()));
        }
        let label = if short { c.short } else { c.label };
        spans.push(Span::styled(format!("{label} "), theme.label()));
        spans.push(Span::styled(format::count(c.value), c.style));
    }
    Line::from(spans)
}
