//! The sync report's columns: which fit a width, how wide each is, and what a cell shows.
//! Narrow screens drop the least needed columns first (system, then attempts and time) instead
//! of cutting every column to nothing.

use ratatui::style::Style;
use ratatui::text::Span;

use crate::store::{ReportEntry, ReportSort, SortColumn};

use crate::ui::widgets::format;
use crate::ui::widgets::status;
use crate::ui::widgets::theme::Theme;

/// A column of the report table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Check,
    Status,
    SyncId,
    Reference,
    System,
    Connection,
    Outcome,
    Time,
    Attempts,
    /// Latest sync info: when the last attempt was made.
    LastTry,
    /// Latest sync info: the last attempt's HTTP status.
    Http,
    SourceId,
    TargetId,
}

/// How a column sizes.
struct Spec {
    column: Column,
    min: usize,
    max: usize,
    /// Dropped first when the width is short: higher goes first; 0 never goes.
    drop: u8,
}

/// What the widths depend on besides the screen width.
pub struct Measure {
    /// Digits of the highest sync id on the page.
    pub id_digits: usize,
    /// The longest reference, system and connection on the page.
    pub reference: usize,
    pub system: usize,
    pub connection: usize,
    /// The longest source and target ids on the page.
    pub source_id: usize,
    pub target_id: usize,
    pub extra: bool,
}

impl Measure {
    pub fn of(rows: &[&ReportEntry], extra: bool) -> Measure {
        let longest = |f: fn(&ReportEntry) -> &str| {
            rows.iter().map(|e| format::width(f(e))).max().unwrap_or(0)
        };
        Measure {
            id_digits: rows
                .iter()
                .map(|e| e.sync_id.to_string().len())
                .max()
                .unwrap_or(1),
            reference: longest(|e| &e.reference),
            system: longest(|e| &e.system),
            connection: longest(|e| &e.connection),
            source_id: longest(|e| e.source_id.as_deref().unwrap_or("")),
            target_id: longest(|e| e.target_id.as_deref().unwrap_or("")),
            extra,
        }
    }
}

/// The chosen columns and their widths, one space between two columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub columns: Vec<(Column, usize)>,
    /// Times with the date and seconds (wide screens).
    pub long_time: bool,
}

impl Layout {
    pub fn new(width: usize, m: &Measure) -> Layout {
        let id = m.id_digits.max(4);
        let mut specs = vec![
            spec(Column::Check, 3, 3, 0),
            spec(Column::Status, 9, 9, 0),
            spec(Column::SyncId, id, id.max(7), 0),
            spec(Column::Reference, 9, m.reference.clamp(10, 24), 0),
            // A system cut to a few letters ("Servi…") says nothing: below 12 columns it
            // goes first, and the connection gets the room (the details show the system).
            spec(
                Column::System,
                m.system.clamp(6, 12),
                m.system.clamp(6, 32),
                9,
            ),
            spec(Column::Connection, 10, m.connection.clamp(10, 24), 2),
            // With the extra columns on, the outcome (also in the details) makes room for them.
            spec(Column::Outcome, 12, 19, if m.extra { 6 } else { 1 }),
        ];
        if m.extra {
            // The operator asked for these: they stay before time and attempts do.
            specs.extend([
                spec(Column::Time, 11, 19, 8),
                spec(Column::Attempts, 3, 8, 7),
                spec(Column::LastTry, 8, 19, 1),
                spec(Column::Http, 4, 4, 1),
                spec(Column::SourceId, 9, m.source_id.clamp(9, 24), 3),
                spec(Column::TargetId, 9, m.target_id.clamp(9, 24), 3),
            ]);
        } else {
            specs.extend([
                spec(Column::Time, 11, 19, 6),
                spec(Column::Attempts, 3, 8, 7),
            ]);
        }
        let total = |specs: &[Spec]| {
            specs.iter().map(|s| s.min).sum::<usize>() + specs.len().saturating_sub(1)
        };
        while total(&specs) > width {
            let Some(worst) = specs
                .iter()
                .enumerate()
                .filter(|(_, s)| s.drop > 0)
                .max_by_key(|(i, s)| (s.drop, *i))
                .map(|(i, _)| i)
            else {
                break;
            };
            specs.remove(worst);
        }
        let mut widths: Vec<usize> = specs.iter().map(|s| s.min).collect();
        let mut spare = width.saturating_sub(total(&specs));
        // Grow in the order the operator reads: reference, connection, outcome, time, the rest.
        let order = [
            Column::Reference,
            Column::Connection,
            Column::Outcome,
            Column::Time,
            Column::SyncId,
            Column::SourceId,
            Column::TargetId,
            Column::System,
            Column::LastTry,
            Column::Attempts,
        ];
        for column in order {
            if let Some(i) = specs.iter().position(|s| s.column == column) {
                let grow = (specs[i].max - widths[i]).min(spare);
                // A time column is short or long, never in between.
                let grow = match column {
                    Column::Time | Column::LastTry if grow < specs[i].max - widths[i] => 0,
                    _ => grow,
                };
                widths[i] += grow;
                spare -= grow;
            }
        }
        let long_time = specs
            .iter()
            .zip(&widths)
            .any(|(s, w)| s.column == Column::Time && *w >= 19);
        Layout {
            columns: specs.iter().map(|s| s.column).zip(widths).collect(),
            long_time,
        }
    }

    pub fn has(&self, column: Column) -> bool {
        self.columns.iter().any(|(c, _)| *c == column)
    }

    /// The header line's spans, the sorted column marked ▲ or ▼.
    pub fn header(&self, sort: ReportSort, theme: Theme) -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        for (i, (column, width)) in self.columns.iter().enumerate() {
            if i > 0 {
                spans.push(Span::raw(" "));
            }
            let mut name = heading(*column, *width).to_string();
            if sort_column(*column) == Some(sort.column) {
                // The arrow stays whole; the name gives way to its short form ("TRY" → "#"),
                // and is cut (with an ellipsis) only when even that is too long.
                let room = width.saturating_sub(1);
                if format::width(&name) > room {
                    name = short_heading(*column).to_string();
                }
                name = format::fit(&name, room);
                name.push(if sort.descending { '▼' } else { '▲' });
            }
            let text = if right_aligned(*column) {
                format::pad_left(&name, *width)
            } else {
                format::pad(&name, *width)
            };
            spans.push(Span::styled(text, theme.title()));
        }
        spans
    }

    /// One entry's cells.
    pub fn cells(&self, entry: &ReportEntry, checked: bool, theme: Theme) -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        for (i, (column, width)) in self.columns.iter().enumerate() {
            if i > 0 {
                spans.push(Span::raw(" "));
            }
            let (text, style) = self.cell(*column, *width, entry, checked, theme);
            let text = if right_aligned(*column) {
                format::pad_left(&text, *width)
            } else {
                format::pad(&text, *width)
            };
            spans.push(Span::styled(text, style));
        }
        spans
    }

    fn cell(
        &self,
        column: Column,
        width: usize,
        e: &ReportEntry,
        checked: bool,
        theme: Theme,
    ) -> (String, Style) {
        let plain = Style::new();
        let last = e.attempts.last();
        match column {
            Column::Check => (
                if checked { "[x]" } else { "[ ]" }.into(),
                if checked { theme.strong() } else { theme.dim() },
            ),
            Column::Status => (status::entry_label(e.status), theme.entry_status(e.status)),
            Column::SyncId => (e.sync_id.to_string(), plain),
            Column::Reference => (e.reference.clone(), theme.strong()),
            Column::System => (e.system.clone(), theme.dim()),
            Column::Connection => (e.connection.clone(), plain),
            Column::Outcome => (
                if width >= 19 {
                    e.outcome.label()
                } else {
                    status::outcome_short(e.outcome)
                }
                .into(),
                plain,
            ),
            Column::Time => (format::started(e.time, self.long_time), plain),
            Column::Attempts => (e.attempts.len().to_string(), plain),
            Column::LastTry => (
                last.map_or("—".into(), |a| {
                    if width >= 19 {
                        format::started(a.at, true)
                    } else {
                        format::clock_time(a.at)
                    }
                }),
                plain,
            ),
            Column::Http => {
                let status = last
                    .and_then(|a| a.http_status)
                    .or(e.error.as_ref().and_then(|err| err.http_status));
                match status {
                    Some(code) if code >= 400 => (code.to_string(), theme.error()),
                    Some(code) => (code.to_string(), plain),
                    None => ("—".into(), theme.dim()),
                }
            }
            Column::SourceId => (e.source_id.clone().unwrap_or_else(|| "—".into()), plain),
            Column::TargetId => (e.target_id.clone().unwrap_or_else(|| "—".into()), plain),
        }
    }
}

fn spec(column: Column, min: usize, max: usize, drop: u8) -> Spec {
    Spec {
        column,
        min,
        max: max.max(min),
        drop,
    }
}

fn right_aligned(column: Column) -> bool {
    matches!(column, Column::SyncId | Column::Attempts)
}

fn heading(column: Column, width: usize) -> &'static str {
    match column {
        Column::Check => "",
        Column::Status => "STATUS",
        Column::SyncId if width >= 8 => "SYNC ID",
        Column::SyncId => "ID",
        Column::Reference => "REFERENCE",
        Column::System => "SYSTEM",
        Column::Connection => "CONNECTION",
        Column::Outcome => "OUTCOME",
        Column::Time if width >= 19 => "TIME (UTC)",
        Column::Time => "TIME UTC",
        Column::Attempts if width >= 8 => "ATTEMPTS",
        Column::Attempts => "TRY",
        Column::LastTry => "LAST TRY",
        Column::Http => "HTTP",
        Column::SourceId => "SOURCE ID",
        Column::TargetId => "TARGET ID",
    }
}

/// A heading short enough to sit beside the sort arrow in a narrow column.
fn short_heading(column: Column) -> &'static str {
    match column {
        Column::Status => "STAT",
        Column::SyncId => "ID",
        Column::Reference => "REF",
        Column::System => "SYS",
        Column::Connection => "CONN",
        Column::Outcome => "OUTC",
        Column::Time => "TIME",
        Column::Attempts => "#",
        other => heading(other, 0),
    }
}

/// The sort column a table column shows.
fn sort_column(column: Column) -> Option<SortColumn> {
    Some(match column {
        Column::Status => SortColumn::Status,
        Column::SyncId => SortColumn::SyncId,
        Column::Reference => SortColumn::Reference,
        Column::System => SortColumn::System,
        Column::Connection => SortColumn::Connection,
        Column::Outcome => SortColumn::Outcome,
        Column::Time => SortColumn::Time,
        Column::Attempts => SortColumn::Attempts,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(extra: bool) -> Measure {
        Measure {
            id_digits: 4,
            reference: 9,
            system: 26,
            connection: 17,
            source_id: 5,
            target_id: 12,
            extra,
        }
    }

    fn names(layout: &Layout) -> Vec<Column> {
        layout.columns.iter().map(|(c, _)| *c).collect()
    }

    fn used(layout: &Layout) -> usize {
        layout.columns.iter().map(|(_, w)| w).sum::<usize>() + layout.columns.len() - 1
    }

    #[test]
    fn eighty_columns_keep_whole_connection_names_over_a_cut_system() {
        let layout = Layout::new(78, &measure(false));
        assert_eq!(names(&layout).len(), 8, "{layout:?}");
        assert!(!layout.has(Column::System));
        let connection = layout
            .columns
            .iter()
            .find(|(c, _)| *c == Column::Connection)
            .unwrap();
        assert_eq!(connection.1, 17, "the longest name, whole");
        assert!(used(&layout) <= 78);
        assert!(!layout.long_time);
    }

    #[test]
    fn a_sorted_narrow_column_keeps_a_readable_heading() {
        let layout = Layout::new(78, &measure(false));
        let theme = Theme::new(crate::config::Theme::Default, false);
        for column in [
            SortColumn::Attempts,
            SortColumn::Time,
            SortColumn::Reference,
        ] {
            let sort = ReportSort {
                column,
                descending: true,
            };
            let header: String = layout
                .header(sort, theme)
                .iter()
                .map(|s| s.content.to_string())
                .collect();
            assert!(!header.contains("…▼"), "{column:?}: {header}");
            assert!(header.contains('▼'), "{column:?}: {header}");
        }
    }

    #[test]
    fn narrow_screens_drop_the_system_first() {
        let layout = Layout::new(64, &measure(false));
        assert!(!layout.has(Column::System));
        assert!(layout.has(Column::Outcome) && layout.has(Column::Time));
        assert!(used(&layout) <= 64);
    }

    #[test]
    fn extra_columns_stay_at_eighty_columns() {
        let layout = Layout::new(78, &measure(true));
        for column in [
            Column::LastTry,
            Column::Http,
            Column::SourceId,
            Column::TargetId,
        ] {
            assert!(layout.has(column), "{column:?}: {layout:?}");
        }
        assert!(used(&layout) <= 78, "{layout:?}");
    }

    #[test]
    fn wide_screens_show_long_times_and_whole_names() {
        let layout = Layout::new(158, &measure(true));
        assert_eq!(names(&layout).len(), 13);
        assert!(layout.long_time);
        let system = layout
            .columns
            .iter()
            .find(|(c, _)| *c == Column::System)
            .unwrap();
        assert_eq!(system.1, 26);
    }
}
