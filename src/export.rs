//! Report entries as JSON and CSV, in the shapes SPEC section 6 fixes for `syncdeck report`.
//!
//! Only the entry's own fields are written, and those were redacted by the engine before they
//! were stored: no request URL, no response excerpt, nothing from the configuration.
//!
//! Both front ends use it (`syncdeck report` in `commands/`, the report's CSV export in `ui/`),
//! so it sits below both: it uses the store, `text` and `paths` only, never `commands/` or `ui/`
//! (`tests/acyclic.rs` checks that).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::store::{
    ContractHashes, FieldChange, ReportEntry, ReportFilter, ReportSort, RunType, Store, StoreError,
};

/// The CSV columns, in order: the JSON fields with the error flattened.
pub const CSV_HEADER: &[&str] = &[
    "sync_id",
    "run_id",
    "connection",
    "system",
    "reference",
    "source_id",
    "target_id",
    "status",
    "outcome",
    "attempts",
    "time",
    "error_http_status",
    "error_code",
    "error_message",
    "error_hint",
];

/// How many rows an export writes between two progress reports.
const PROGRESS_EVERY: u64 = 4_096;

/// An export that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{} already exists; choose another file name", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// An entry time as ISO 8601 (RFC 3339, UTC, milliseconds): `2024-05-01T12:00:00.000Z`.
pub fn iso_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One entry of `report --format json`.
pub fn entry_json(entry: &ReportEntry) -> serde_json::Value {
    serde_json::to_value(EntryRecord::of(entry)).unwrap_or(serde_json::Value::Null)
}

/// Writes one entry of `report --format json` as a line of compact JSON, its keys in the
/// order SPEC section 6 lists them (a [`serde_json::Value`] would sort them).
pub fn write_entry_json<W: Write>(out: &mut W, entry: &ReportEntry) -> io::Result<()> {
    crate::text::write_json(out, &EntryRecord::of(entry))
}

/// Writes one entry of a serial's timeline (`report --search SERIAL --format json`): the fields
/// of [`write_entry_json`], then `run_type` (null once the run was pruned), `mode`, `reason`,
/// the field `diff` (`old` / `new` left out when absent, null when null) and the contract's
/// `hashes` before and after (null in entries recorded before hashes were kept).
pub fn write_timeline_entry_json<W: Write>(
    out: &mut W,
    entry: &ReportEntry,
    run_type: Option<RunType>,
) -> io::Result<()> {
    let record = TimelineRecord {
        entry: EntryRecord::of(entry),
        run_type,
        mode: if entry.status == crate::store::EntryStatus::Dry {
            "dry"
        } else {
            "live"
        },
        reason: entry.reason.as_deref(),
        diff: &entry.diff,
        hashes: entry.hashes.as_ref(),
    };
    crate::text::write_json(out, &record)
}

/// A timeline entry: the report entry and what explains it.
#[derive(Serialize)]
struct TimelineRecord<'a> {
    #[serde(flatten)]
    entry: EntryRecord<'a>,
    run_type: Option<RunType>,
    mode: &'static str,
    reason: Option<&'a str>,
    diff: &'a [FieldChange],
    hashes: Option<&'a ContractHashes>,
}

/// The exported fields of an entry, in their public order.
#[derive(Serialize)]
struct EntryRecord<'a> {
    sync_id: u64,
    run_id: u64,
    connection: &'a str,
    system: &'a str,
    reference: &'a str,
    source_id: Option<&'a str>,
    target_id: Option<&'a str>,
    status: &'static str,
    outcome: &'static str,
    attempts: usize,
    time: String,
    error: Option<ErrorRecord<'a>>,
}

#[derive(Serialize)]
struct ErrorRecord<'a> {
    http_status: Option<u16>,
    code: Option<&'a str>,
    message: &'a str,
    hint: Option<&'a str>,
}

impl<'a> EntryRecord<'a> {
    fn of(entry: &'a ReportEntry) -> EntryRecord<'a> {
        EntryRecord {
            sync_id: entry.sync_id,
            run_id: entry.run_id,
            connection: &entry.connection,
            system: &entry.system,
            reference: &entry.reference,
            source_id: entry.source_id.as_deref(),
            target_id: entry.target_id.as_deref(),
            status: entry.status.as_str(),
            outcome: entry.outcome.as_str(),
            attempts: entry.attempts.len(),
            time: iso_time(entry.time),
            error: entry.error.as_ref().map(|error| ErrorRecord {
                http_status: error.http_status,
                code: error.code.as_deref(),
                message: &error.message,
                hint: error.hint.as_deref(),
            }),
        }
    }
}

/// A CSV writer of report entries: the header first, RFC 4180 quoting, ISO 8601 times, every
/// cell through [`crate::text::csv_cell`] (a formula start gets a leading `'`).
pub struct CsvExport<W: Write = File> {
    writer: csv::Writer<W>,
    rows: u64,
    /// Numbers are formatted here, to write a row without allocating.
    scratch: [String; 5],
}

impl CsvExport<File> {
    /// Creates `path` with mode 0600 and writes the header; refuses a file (or a symlink) that
    /// already exists.
    pub fn create(path: &Path) -> io::Result<CsvExport<File>> {
        let file = create_private(path)?;
        CsvExport::new(file)
    }
}

impl<W: Write> CsvExport<W> {
    /// Writes to `writer` (stdout, for instance), header first.
    pub fn to_writer(writer: W) -> io::Result<CsvExport<W>> {
        CsvExport::new(writer)
    }

    fn new(writer: W) -> io::Result<CsvExport<W>> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(writer);
        writer.write_record(CSV_HEADER).map_err(csv_error)?;
        Ok(CsvExport {
            writer,
            rows: 0,
            scratch: Default::default(),
        })
    }

    /// Writes one entry as a row.
    pub fn write(&mut self, entry: &ReportEntry) -> io::Result<()> {
        use std::fmt::Write as _;
        let [sync_id, run_id, attempts, time, http_status] = &mut self.scratch;
        for text in [
            &mut *sync_id,
            &mut *run_id,
            &mut *attempts,
            &mut *time,
            &mut *http_status,
        ] {
            text.clear();
        }
        let _ = write!(sync_id, "{}", entry.sync_id);
        let _ = write!(run_id, "{}", entry.run_id);
        let _ = write!(attempts, "{}", entry.attempts.len());
        let _ = write!(time, "{}", entry.time.format("%Y-%m-%dT%H:%M:%S%.3fZ"));
        let error = entry.error.as_ref();
        if let Some(status) = error.and_then(|e| e.http_status) {
            let _ = write!(http_status, "{status}");
        }
        let record: [&str; 15] = [
            sync_id,
            run_id,
            &entry.connection,
            &entry.system,
            &entry.reference,
            entry.source_id.as_deref().unwrap_or(""),
            entry.target_id.as_deref().unwrap_or(""),
            entry.status.as_str(),
            entry.outcome.as_str(),
            attempts,
            time,
            http_status,
            error.and_then(|e| e.code.as_deref()).unwrap_or(""),
            error.map_or("", |e| e.message.as_str()),
            error.and_then(|e| e.hint.as_deref()).unwrap_or(""),
        ];
        // Every cell, ours included: a spreadsheet must never run a cell as a formula.
        self.writer
            .write_record(
                record
                    .map(crate::text::csv_cell)
                    .iter()
                    .map(|c| c.as_bytes()),
            )
            .map_err(csv_error)?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far (the header not counted).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes everything and returns the number of rows written.
    pub fn finish(self) -> io::Result<u64> {
        let rows = self.rows;
        let mut inner = self.writer.into_inner().map_err(|err| err.into_error())?;
        inner.flush()?;
        Ok(rows)
    }
}

fn csv_error(err: csv::Error) -> io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(err) => err,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// Creates a new file readable and writable by its owner only. `create_new` (O_EXCL) refuses
/// any existing name, a symlink included, so an export never writes through a planted link.
fn create_private(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes every entry matching `filter`, in `sort` order, to a new CSV file at `path` (mode
/// 0600, never over an existing file: [`ExportError::Exists`]) and returns the number of rows.
/// `progress` hears (rows so far, total) every few thousand rows and at the end. The rows go to
/// a hidden file beside `path` that takes its name only once complete and on disk: a file at
/// `path` is always a whole export, never one cut off by a full disk or a kill.
pub fn export_csv(
    store: &Store,
    filter: &ReportFilter,
    sort: ReportSort,
    path: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, ExportError> {
    export_csv_with(store, filter, sort, path, false, progress)
}

/// [`export_csv`], replacing an existing file at `path` when `replace` is set (the operator
/// said so): a symlink at `path` is replaced, not followed, and a failed export leaves the old
/// file.
pub fn export_csv_with(
    store: &Store,
    filter: &ReportFilter,
    sort: ReportSort,
    path: &Path,
    replace: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, ExportError> {
    let io_error = |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error)?;
    }
    // symlink_metadata: a planted link counts as a file there.
    if !replace && std::fs::symlink_metadata(path).is_ok() {
        return Err(ExportError::Exists(path.to_path_buf()));
    }
    let written = partial_path(path);
    let file = create_private(&written).map_err(io_error)?;
    let result = store
        .report_count(filter)
        .map_err(WriteError::Store)
        .and_then(|total| {
            progress(0, total);
            let rows = write_all(store, filter, sort, file, total, progress)?;
            publish(&written, path, replace)?;
            progress(rows, total.max(rows));
            Ok(rows)
        });
    result.map_err(|err| {
        let _ = std::fs::remove_file(&written);
        match err {
            WriteError::Store(err) => ExportError::Store(err),
            WriteError::Exists => ExportError::Exists(path.to_path_buf()),
            WriteError::Io(err) => io_error(err),
        }
    })
}

/// Gives the complete export at `written` its name `path`: a rename over it when replacing,
/// else a hard link that fails if a file took the name meanwhile (then the hidden one goes).
fn publish(written: &Path, path: &Path, replace: bool) -> Result<(), WriteError> {
    if replace {
        return std::fs::rename(written, path).map_err(WriteError::Io);
    }
    match std::fs::hard_link(written, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(written);
            Ok(())
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(WriteError::Exists),
        // A file system without hard links: a rename, after one more look at the name.
        Err(_) if std::fs::symlink_metadata(path).is_err() => {
            std::fs::rename(written, path).map_err(WriteError::Io)
        }
        Err(_) => Err(WriteError::Exists),
    }
}

/// A hidden name beside `path` for an export being written.
fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export.csv".to_string());
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

enum WriteError {
    Store(StoreError),
    /// Another file took the export's name while it was written.
    Exists,
    Io(io::Error),
}

fn write_all(
    store: &Store,
    filter: &ReportFilter,
    sort: ReportSort,
    file: File,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, WriteError> {
    let mut export =
        CsvExport::to_writer(BufWriter::with_capacity(256 * 1024, file)).map_err(WriteError::Io)?;
    let mut failed = None;
    store
        .for_each_report_entry(filter, sort, &mut |entry| match export.write(entry) {
            Ok(()) => {
                if export.rows().is_multiple_of(PROGRESS_EVERY) {
                    progress(export.rows(), total.max(export.rows()));
                }
                ControlFlow::Continue(())
            }
            Err(err) => {
                failed = Some(err);
                ControlFlow::Break(())
            }
        })
        .map_err(WriteError::Store)?;
    if let Some(err) = failed {
        return Err(WriteError::Io(err));
    }
    let mut buffered = export
        .writer
        .into_inner()
        .map_err(|err| WriteError::Io(err.into_error()))?;
    buffered.flush().map_err(WriteError::Io)?;
    let file = buffered
        .into_inner()
        .map_err(|err| WriteError::Io(err.into_error()))?;
    file.sync_all().map_err(WriteError::Io)?;
    Ok(export.rows)
}

/// Where an export goes unless the operator says otherwise:
/// `<data dir>/exports/syncdeck-report-YYYYmmdd-HHMMSS.csv` (UTC).
pub fn default_export_path(now: DateTime<Utc>) -> PathBuf {
    crate::paths::data_dir().join("exports").join(format!(
        "syncdeck-report-{}.csv",
        now.format("%Y%m%d-%H%M%S")
    ))
}
