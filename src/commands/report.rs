//! `syncdeck report`: the sync report headless, as a table, CSV or JSON on stdout.
//!
//! It reads the store only: no destination is contacted, so it works while they are down.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::ops::ControlFlow;

use chrono::{Duration, Utc};

use super::exit::{CommandError, Exit};
use crate::config::Config;
use crate::export::{CsvExport, write_entry_json, write_timeline_entry_json};
use crate::store::{
    EntryStatus, Outcome, ReportEntry, ReportFilter, ReportSort, RunId, RunType, SortColumn, Store,
};

/// What `syncdeck report` was asked for, as parsed by clap.
#[derive(Clone, Debug, Default)]
pub struct ReportArgs {
    pub statuses: Vec<String>,
    pub outcomes: Vec<String>,
    pub days: u32,
    pub search: Option<String>,
    pub connections: Vec<String>,
    pub run: Option<RunId>,
    pub sort: Option<String>,
    pub descending: bool,
    pub ascending: bool,
    pub format: String,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Table,
    Csv,
    Json,
}

/// Prints the report; 0 on success, 2 for a value clap let through but the report refuses.
pub fn run(
    config: Option<&Config>,
    store: &Store,
    args: &ReportArgs,
) -> Result<Exit, CommandError> {
    let (filter, sort, format) = match parse(args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("syncdeck: {message}");
            return Ok(Exit::Usage);
        }
    };
    for name in &filter.connections {
        // Without a config, the store is all there is: any name is looked for in it.
        let Some(config) = config else { break };
        if config.connection(name).is_none() {
            eprintln!(
                "syncdeck: note: no connection named {name:?} in {}; showing its stored entries, if any",
                config.file.display()
            );
        }
    }
    let timeline = serial_timeline(store, &filter)?;
    let stdout = io::stdout();
    let terminal = stdout.is_terminal();
    let out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let width = terminal
        .then(|| ratatui::crossterm::terminal::size().ok())
        .flatten()
        .map(|(columns, _)| usize::from(columns));
    let written = match (format, &timeline) {
        (Format::Json, Some(timeline)) => print_timeline_json(store, &timeline.entries, out),
        (Format::Csv, Some(timeline)) => print_entries_csv(&timeline.entries, out),
        (Format::Table, Some(timeline)) => {
            let rows = timeline.entries.iter().map(table_row).collect();
            write_table(rows, out, width)
        }
        (Format::Json, None) => print_json(store, &filter, sort, out),
        (Format::Csv, None) => print_csv(store, &filter, sort, out),
        (Format::Table, None) => print_table(store, &filter, sort, out, width),
    };
    match written {
        Ok(rows) => {
            if let (Format::Table, Some(timeline)) = (format, &timeline) {
                eprintln!(
                    "{rows} entr{} of {} across {}, oldest first (every kept entry: --days does \
                     not apply)",
                    if rows == 1 { "y" } else { "ies" },
                    timeline.serial,
                    timeline.spread()
                );
            } else if format == Format::Table {
                eprintln!(
                    "{rows} entr{} (window: {} day{})",
                    if rows == 1 { "y" } else { "ies" },
                    args.days,
                    if args.days == 1 { "" } else { "s" }
                );
            }
            Ok(Exit::Success)
        }
        // A closed pipe (`syncdeck report | head`) is the reader's choice, not a failure.
        Err(Failure::Io(err)) if err.kind() == io::ErrorKind::BrokenPipe => Ok(Exit::Success),
        Err(Failure::Io(source)) => Err(CommandError::Io {
            context: "cannot write the report".into(),
            source,
        }),
        Err(Failure::Store(err)) => Err(err.into()),
    }
}

/// The entries of a serial whose reference is exactly the search text.
struct SerialTimeline {
    serial: String,
    entries: Vec<ReportEntry>,
}

impl SerialTimeline {
    /// `3 runs, 2 connections`.
    fn spread(&self) -> String {
        let runs: BTreeSet<RunId> = self.entries.iter().map(|e| e.run_id).collect();
        let connections: BTreeSet<&str> =
            self.entries.iter().map(|e| e.connection.as_str()).collect();
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}",
            plural(runs.len(), "run"),
            plural(connections.len(), "connection")
        )
    }
}

/// When the search text is exactly a serial some entry has, that serial's timeline: all its
/// kept entries, oldest first, whatever the window; the other filters (status, outcome,
/// connection, run) still apply. None for any other search, which the report answers as usual.
fn serial_timeline(
    store: &Store,
    filter: &ReportFilter,
) -> Result<Option<SerialTimeline>, CommandError> {
    let Some(serial) = filter.search.as_deref().map(str::trim) else {
        return Ok(None);
    };
    let entries = store.serial_timeline(serial)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let others = ReportFilter {
        search: None,
        since: None,
        ..filter.clone()
    };
    Ok(Some(SerialTimeline {
        serial: serial.to_string(),
        entries: entries.into_iter().filter(|e| others.matches(e)).collect(),
    }))
}

/// The filter, order and format the arguments describe.
fn parse(args: &ReportArgs) -> Result<(ReportFilter, ReportSort, Format), String> {
    let statuses = args
        .statuses
        .iter()
        .map(|s| EntryStatus::parse(s).ok_or_else(|| format!("unknown status {s:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let outcomes = args
        .outcomes
        .iter()
        .map(|text| {
            let lower = text.trim().to_ascii_lowercase().replace('-', "_");
            all_outcomes()
                .into_iter()
                .find(|o| o.as_str() == lower)
                .ok_or_else(|| format!("unknown outcome {text:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !(1..=15).contains(&args.days) {
        return Err(format!("--days must be 1 to 15, not {}", args.days));
    }
    let column = match args.sort.as_deref() {
        None => SortColumn::Time,
        Some(name) => SortColumn::parse(name)
            .ok_or_else(|| format!("unknown sort column {:?}", name.to_ascii_lowercase()))?,
    };
    // Each column's own direction unless --asc or --desc, as in the console's sort picker.
    let descending = if args.descending {
        true
    } else if args.ascending {
        false
    } else {
        column.natural_descending()
    };
    let format = match args.format.to_ascii_lowercase().as_str() {
        "table" => Format::Table,
        "csv" => Format::Csv,
        "json" => Format::Json,
        other => return Err(format!("unknown format {other:?}")),
    };
    let filter = ReportFilter {
        statuses,
        outcomes,
        connections: args.connections.clone(),
        run: args.run,
        search: args.search.clone().filter(|s| !s.trim().is_empty()),
        since: Some(Utc::now() - Duration::days(i64::from(args.days))),
        failure: None,
    };
    Ok((filter, ReportSort { column, descending }, format))
}

fn all_outcomes() -> [Outcome; 8] {
    [
        Outcome::Updated,
        Outcome::Created,
        Outcome::WouldUpdate,
        Outcome::WouldCreate,
        Outcome::Skipped,
        Outcome::MissingSource,
        Outcome::MissingDestination,
        Outcome::Error,
    ]
}

enum Failure {
    Io(io::Error),
    Store(crate::store::StoreError),
}

/// Walks the report, handing each entry to `write`; stops at the first write error.
fn walk(
    store: &Store,
    filter: &ReportFilter,
    sort: ReportSort,
    mut write: impl FnMut(&ReportEntry) -> io::Result<()>,
) -> Result<u64, Failure> {
    let mut rows = 0u64;
    let mut failed = None;
    store
        .for_each_report_entry(filter, sort, &mut |entry| match write(entry) {
            Ok(()) => {
                rows += 1;
                ControlFlow::Continue(())
            }
            Err(err) => {
                failed = Some(err);
                ControlFlow::Break(())
            }
        })
        .map_err(Failure::Store)?;
    match failed {
        Some(err) => Err(Failure::Io(err)),
        None => Ok(rows),
    }
}

/// A JSON array, one entry per line, streamed.
fn print_json(
    store: &Store,
    filter: &ReportFilter,
    sort: ReportSort,
    mut out: impl Write,
) -> Result<u64, Failure> {
    out.write_all(b"[").map_err(Failure::Io)?;
    let mut first = true;
    let rows = walk(store, filter, sort, |entry| {
        out.write_all(if first { &b"\n"[..] } else { &b",\n"[..] })?;
        first = false;
        write_entry_json(&mut out, entry)
    })?;
    out.write_all(if rows == 0 {
        &b"]\n"[..]
    } else {
        &b"\n]\n"[..]
    })
    .and_then(|()| out.flush())
    .map_err(Failure::Io)?;
    Ok(rows)
}

/// A serial's timeline as a JSON array, one entry per line, each with its run type, mode,
/// reason, field diff and contract hashes.
fn print_timeline_json(
    store: &Store,
    entries: &[ReportEntry],
    mut out: impl Write,
) -> Result<u64, Failure> {
    let mut run_types: HashMap<RunId, Option<RunType>> = HashMap::new();
    for entry in entries {
        if let Entry::Vacant(slot) = run_types.entry(entry.run_id) {
            let run = store.get_run(entry.run_id).map_err(Failure::Store)?;
            slot.insert(run.map(|r| r.run_type));
        }
    }
    let mut write = || -> io::Result<()> {
        out.write_all(b"[")?;
        for (i, entry) in entries.iter().enumerate() {
            out.write_all(if i == 0 { &b"\n"[..] } else { &b",\n"[..] })?;
            let run_type = run_types.get(&entry.run_id).copied().flatten();
            write_timeline_entry_json(&mut out, entry, run_type)?;
        }
        out.write_all(if entries.is_empty() {
            &b"]\n"[..]
        } else {
            &b"\n]\n"[..]
        })?;
        out.flush()
    };
    write().map_err(Failure::Io)?;
    Ok(entries.len() as u64)
}

fn print_entries_csv(entries: &[ReportEntry], out: impl Write) -> Result<u64, Failure> {
    let mut csv = CsvExport::to_writer(out).map_err(Failure::Io)?;
    for entry in entries {
        csv.write(entry).map_err(Failure::Io)?;
    }
    csv.finish().map_err(Failure::Io)
}

fn print_csv(
    store: &Store,
    filter: &ReportFilter,
    sort: ReportSort,
    out: impl Write,
) -> Result<u64, Failure> {
    let mut csv = CsvExport::to_writer(out).map_err(Failure::Io)?;
    walk(store, filter, sort, |entry| csv.write(entry))?;
    csv.finish().map_err(Failure::Io)
}

/// The columns of the table.
const TABLE_HEADER: [&str; 8] = [
    "STATUS",
    "SYNC ID",
    "REFERENCE",
    "SYSTEM",
    "CONNECTION",
    "OUTCOME",
    "TIME (UTC)",
    "ATTEMPTS",
];

/// A readable table; fitted to `width` (a terminal's) by shortening the text columns.
fn print_table(
    store: &Store,
    filter: &ReportFilter,
    sort: ReportSort,
    out: impl Write,
    width: Option<usize>,
) -> Result<u64, Failure> {
    let mut rows: Vec<[String; 8]> = Vec::new();
    walk(store, filter, sort, |entry| {
        rows.push(table_row(entry));
        Ok(())
    })?;
    write_table(rows, out, width)
}

fn write_table(
    rows: Vec<[String; 8]>,
    mut out: impl Write,
    width: Option<usize>,
) -> Result<u64, Failure> {
    let text = render_table(&rows, width);
    out.write_all(text.as_bytes()).map_err(Failure::Io)?;
    out.flush().map_err(Failure::Io)?;
    Ok(rows.len() as u64)
}

fn table_row(entry: &ReportEntry) -> [String; 8] {
    [
        entry.status.as_str().to_ascii_uppercase(),
        entry.sync_id.to_string(),
        entry.reference.clone(),
        entry.system.clone(),
        entry.connection.clone(),
        entry.outcome.label().to_string(),
        entry.time.format("%Y-%m-%d %H:%M:%S").to_string(),
        entry.attempts.len().to_string(),
    ]
}

/// Columns that give way when the table is wider than the terminal, widest first within a
/// group: system, connection and outcome first, the serial only when that is not enough.
const SHRINKABLE: [&[usize]; 2] = [&[3, 4, 5], &[2]];
/// The time column, and the length of the "YYYY-" a narrow table leaves out.
const TIME_COLUMN: usize = 6;
const YEAR_LEN: usize = 5;
/// The narrowest a shrunk column gets.
const MIN_SHRUNK: usize = 6;

/// Lays the rows out in aligned columns, numbers right-aligned; control characters in values
/// are shown as spaces so a row stays on one line.
pub fn render_table(rows: &[[String; 8]], width: Option<usize>) -> String {
    let mut widths: Vec<usize> = TABLE_HEADER.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (column, value) in row.iter().enumerate() {
            widths[column] = widths[column].max(crate::text::terminal_line(value).chars().count());
        }
    }
    // On a narrow terminal the year goes first (times are the last five days or so).
    let mut short_time = false;
    if let Some(limit) = width {
        let total = |widths: &[usize]| widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
        if total(&widths) > limit && widths[TIME_COLUMN] > YEAR_LEN {
            short_time = true;
            widths[TIME_COLUMN] = (widths[TIME_COLUMN] - YEAR_LEN).max(TABLE_HEADER[6].len());
        }
        for group in SHRINKABLE {
            while total(&widths) > limit {
                let Some(&widest) = group
                    .iter()
                    .filter(|&&c| widths[c] > MIN_SHRUNK)
                    .max_by_key(|&&c| widths[c])
                else {
                    break;
                };
                widths[widest] -= 1;
            }
        }
    }
    let mut text = String::new();
    let header: [String; 8] = TABLE_HEADER.map(String::from);
    for (index, row) in std::iter::once(&header).chain(rows).enumerate() {
        let is_header = index == 0;
        let mut line = String::new();
        for (column, value) in row.iter().enumerate() {
            if column > 0 {
                line.push_str("  ");
            }
            let value = match value.get(YEAR_LEN..) {
                Some(rest) if short_time && column == TIME_COLUMN && !is_header => rest,
                _ => value.as_str(),
            };
            let cell = fit(value, widths[column]);
            let pad = widths[column] - cell.chars().count();
            let numeric = matches!(column, 1 | 7);
            if numeric {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(&cell);
            } else {
                line.push_str(&cell);
                if column + 1 < row.len() {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// `value` cut to `width` characters with an ellipsis, control characters shown as visible
/// stand-ins ([`crate::text::terminal_line`]) so a row stays one line and no escape sequence
/// reaches the terminal.
fn fit(value: &str, width: usize) -> String {
    let clean = crate::text::terminal_line(value);
    if clean.chars().count() <= width {
        return clean.into_owned();
    }
    let mut cut: String = clean.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(reference: &str, system: &str) -> [String; 8] {
        [
            "FAILED".into(),
            "12".into(),
            reference.into(),
            system.into(),
            "cmdb".into(),
            "error".into(),
            "2024-05-01 12:00:00".into(),
            "3".into(),
        ]
    }

    #[test]
    fn a_table_fits_the_terminal_by_shortening_text_columns() {
        let rows = vec![row("SN-000001", &"a very long system name ".repeat(4))];
        let text = render_table(&rows, Some(80));
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(text.contains('…'));
        let plain = render_table(&rows, None);
        assert!(plain.contains(&"a very long system name ".repeat(3)));
    }

    #[test]
    fn control_characters_stay_on_one_line_and_show() {
        let text = render_table(&[row("SN\n1", "x\u{1b}]0;t\u{7}")], None);
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains("SN␊1") && text.contains("x␛]0;t␇"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }

    #[test]
    fn days_and_names_are_checked() {
        let args = ReportArgs {
            days: 16,
            format: "table".into(),
            ..ReportArgs::default()
        };
        assert!(parse(&args).is_err());
        let args = ReportArgs {
            days: 5,
            statuses: vec!["FAILED".into()],
            sort: Some("system".into()),
            format: "csv".into(),
            ..ReportArgs::default()
        };
        let (filter, sort, format) = parse(&args).unwrap();
        assert_eq!(filter.statuses, vec![EntryStatus::Failed]);
        assert_eq!(sort.column, SortColumn::System);
        assert!(!sort.descending);
        assert_eq!(format, Format::Csv);
    }

    #[test]
    fn sync_id_and_attempts_sort_highest_first_as_in_the_console() {
        for (name, column) in [
            ("sync-id", SortColumn::SyncId),
            ("attempts", SortColumn::Attempts),
        ] {
            let args = ReportArgs {
                days: 5,
                sort: Some(name.into()),
                format: "table".into(),
                ..ReportArgs::default()
            };
            let (_, sort, _) = parse(&args).unwrap();
            assert_eq!(sort.column, column);
            assert!(sort.descending, "{name} without --asc/--desc");
        }
    }
}
