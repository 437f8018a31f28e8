//! The counters of a connection run: the dry-run diagnostics mini-dashboard (Would Update,
//! Skipped, Missing Source, Missing Destination, Errors) and the live counters (Updated,
//! Created, Skipped, Missing Source, Missing Destination, Failed, Pending).

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::store::{Counters, RunMode};

use crate::ui::widgets::format;
use crate::ui::widgets::theme::Theme;

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
            // Failed: a retry may fix them; Not syncable: none can (missing source or
            // destination, drifted, rule, format, a 4xx the same request gets again). A store
            // older than that split counted only `failed`.
            {
                let fixable = if c.fixable + c.not_syncable > 0 {
                    c.fixable
                } else {
                    c.failed
                };
                cell("Failed", "Failed", fixable, bad(fixable))
            },
            cell(
                "Not syncable",
                "Not sync.",
                c.not_syncable,
                if c.not_syncable > 0 {
                    theme.warn()
                } else {
                    plain
                },
            ),
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
    let gaps = cells.len().saturating_sub(1);
    let short = cells.len() * 2 > room || full.iter().sum::<usize>() + 2 * gaps > room;
    let widths = if short { columns(cells, true) } else { full };
    // Two spaces between columns where they fit, one where not.
    let gap = if widths.iter().sum::<usize>() + 2 * gaps > room {
        " "
    } else {
        "  "
    };
    let mut labels = vec![Span::raw(indent.to_string())];
    let mut values = vec![Span::raw(indent.to_string())];
    for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
        if i > 0 {
            labels.push(Span::raw(gap));
            values.push(Span::raw(gap));
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

/// The test-style totals of a connection run: `fetched 2,400 · new 1,204 · changed 0 ·
/// unchanged 980`.
pub fn totals(c: &Counters, indent: &str, theme: Theme) -> Line<'static> {
    let mut spans = vec![Span::raw(indent.to_string())];
    let parts = [
        ("fetched", c.fetched),
        ("new", c.new),
        ("changed", c.changed),
        ("unchanged", c.unchanged),
    ];
    for (i, (label, value)) in parts.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.dim()));
        }
        spans.push(Span::styled(format!("{label} "), theme.label()));
        spans.push(Span::styled(format::count(value), theme.strong()));
    }
    Line::from(spans)
}

/// Nothing came from the source.
pub const NOTHING_FETCHED: &str = "0 fetched: nothing came from the source: check the source \
     and the scope (results position, the serial, the source's filters)";
/// A re-run with nothing new and nothing changed.
pub const NOTHING_TO_DO: &str = "0 new, 0 changed: nothing to do, the contracts are up to \
     date (delete one in 4 Contracts to re-test the create path)";

/// The re-run hints a finished connection run's totals call for (SPEC section 4: 0 records
/// fetched; 0 new and 0 changed on a re-run).
pub fn rerun_hints(c: &Counters) -> Vec<&'static str> {
    if c.fetched == 0 {
        vec![NOTHING_FETCHED]
    } else if c.new == 0 && c.changed == 0 {
        vec![NOTHING_TO_DO]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rerun_hints_follow_the_totals() {
        assert_eq!(rerun_hints(&Counters::default()), vec![NOTHING_FETCHED]);
        let rerun = Counters {
            fetched: 10,
            unchanged: 10,
            ..Counters::default()
        };
        assert_eq!(rerun_hints(&rerun), vec![NOTHING_TO_DO]);
        let first = Counters {
            fetched: 10,
            new: 10,
            ..Counters::default()
        };
        assert!(rerun_hints(&first).is_empty());
    }
}
