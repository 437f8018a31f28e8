//! The serial timeline (`t` on a report entry, in an entry's details, on a contract): every kept
//! entry of one serial across runs and connections, oldest first. Each block says when, which
//! run (type and mode) and connection, the status, outcome and reason, the contract's hash
//! before → after, the field diff, and for an entry that went wrong the error and the hint — so
//! "why was this skipped?" is answered on one screen.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Clear;

use crate::engine::hints;
use crate::store::{
    ContractHashes, EntryStatus, Outcome, ReportEntry, RunId, RunMode, RunType, StoreError, SyncId,
};

use crate::ui::views::report::entry_details::{Tone, entry_hint};
use crate::ui::widgets::field_change;
use crate::ui::widgets::format;
use crate::ui::widgets::pager::Pager;
use crate::ui::widgets::status;
use crate::ui::widgets::theme::Theme;

/// Width of the label column: two spaces of indent, the longest label ("contract"), a space.
const LABEL: usize = 11;
/// Characters of a contract hash shown.
const SHORT_HASH: usize = 12;

/// One line of a block before it is laid out: the heading, a labelled value, or a value under
/// the previous label (the second field change onwards).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Heading(String, String, String),
    Field(&'static str, String, Tone),
    More(String, Tone),
}

/// The timeline overlay of one serial.
#[derive(Clone, Debug)]
pub struct Timeline {
    pub serial: String,
    entries: Vec<ReportEntry>,
    /// Type of each run the entries belong to (None once the run itself was pruned).
    runs: HashMap<RunId, RunType>,
    /// The block (entry) Enter opens.
    selected: usize,
    /// First line shown.
    scroll: usize,
    /// From the last draw: the lines of each block, the lines shown and the lines in all.
    blocks: Vec<Range<usize>>,
    visible: usize,
    total: usize,
    /// Bring the selected block into view at the next draw (just opened).
    reveal_pending: bool,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        format::count(n as u64),
        if n == 1 { one } else { many }
    )
}

fn short(hash: &str) -> &str {
    hash.get(..SHORT_HASH).unwrap_or(hash)
}

/// `4f1c2a9be0d7 → 9a8b7c6d5e4f`, `4f1c2a9be0d7 · unchanged`, `– → 9a8b7c6d5e4f`, or `–` for an
/// entry recorded before hashes were kept.
fn hashes_text(hashes: Option<&ContractHashes>) -> (String, Tone) {
    match hashes {
        None => ("–".into(), Tone::Dim),
        Some(ContractHashes {
            before: Some(before),
            after: Some(after),
        }) if before == after => (format!("{} · unchanged", short(before)), Tone::Dim),
        Some(ContractHashes { before, after }) => (
            format!(
                "{} → {}",
                before.as_deref().map_or("–", short),
                after.as_deref().map_or("–", short)
            ),
            Tone::Plain,
        ),
    }
}

/// Whether the entry did (or would do) what a sync is for; the others get their hint.
fn went_through(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Updated | Outcome::Created | Outcome::WouldUpdate | Outcome::WouldCreate
    )
}

/// What to check for an entry. A skip because the record is unchanged since its contract's
/// last sync says so; the details' general skip hint speaks of field rules instead.
fn hint(entry: &ReportEntry) -> Option<String> {
    if entry.outcome == Outcome::Skipped && entry.reason.as_deref() == Some("unchanged") {
        return Some(hints::NOTHING_NEW.to_string());
    }
    entry_hint(entry)
}

impl Timeline {
    /// Reads the serial's entries (through the reference index) and the types of their runs.
    pub fn load(store: &crate::store::Store, serial: &str) -> Result<Timeline, StoreError> {
        let entries = store.serial_timeline(serial)?;
        let mut runs = HashMap::new();
        for run_id in entries.iter().map(|e| e.run_id).collect::<BTreeSet<_>>() {
            if let Some(run) = store.get_run(run_id)? {
                runs.insert(run_id, run.run_type);
            }
        }
        Ok(Timeline {
            serial: serial.to_string(),
            entries,
            runs,
            selected: 0,
            scroll: 0,
            blocks: Vec::new(),
            visible: 1,
            total: 0,
            reveal_pending: true,
        })
    }

    /// Selects the entry with this sync id, or else the newest.
    pub(crate) fn select(&mut self, sync_id: Option<SyncId>) {
        let newest = self.entries.len().saturating_sub(1);
        self.selected = sync_id
            .and_then(|id| self.entries.iter().position(|e| e.sync_id == id))
            .unwrap_or(newest);
        self.reveal_pending = true;
    }

    /// The newest entry on `connection`, if it has one.
    pub(crate) fn newest_on(&self, connection: &str) -> Option<SyncId> {
        let entry = self
            .entries
            .iter()
            .rev()
            .find(|e| e.connection == connection);
        entry.map(|e| e.sync_id)
    }

    /// The entry Enter opens.
    pub fn selected_entry(&self) -> Option<&ReportEntry> {
        self.entries.get(self.selected)
    }

    /// `Timeline · SD-000042 · 3 entries across 3 runs, 2 connections`.
    pub fn title(&self) -> String {
        let runs: BTreeSet<RunId> = self.entries.iter().map(|e| e.run_id).collect();
        let connections: BTreeSet<&str> =
            self.entries.iter().map(|e| e.connection.as_str()).collect();
        format!(
            "Timeline · {} · {} across {}, {}",
            self.serial,
            plural(self.entries.len(), "entry", "entries"),
            plural(runs.len(), "run", "runs"),
            plural(connections.len(), "connection", "connections")
        )
    }

    /// `run #12 Single Live`: the mode is the entry's own (a Dry entry came from a dry run).
    fn run_text(&self, entry: &ReportEntry) -> String {
        let mode = if entry.status == EntryStatus::Dry {
            RunMode::Dry
        } else {
            RunMode::Live
        };
        match self.runs.get(&entry.run_id) {
            Some(kind) => format!(
                "run #{} {} {}",
                entry.run_id,
                status::run_type(*kind),
                status::mode(mode)
            ),
            None => format!("run #{} {}", entry.run_id, status::mode(mode)),
        }
    }

    fn pieces(&self, entry: &ReportEntry) -> Vec<Piece> {
        let mut out = Vec::new();
        let rest = format!(
            "{} · {} ({})",
            self.run_text(entry),
            entry.connection,
            entry.system
        );
        out.push(Piece::Heading(
            format!("{} UTC · {rest}", format::started(entry.time, true)),
            format!("{} · {rest}", entry.time.format("%m-%d %H:%M:%S")),
            format!("#{}", entry.sync_id),
        ));
        let mut state = format!(
            "{} · {}",
            status::entry_label(entry.status),
            entry.outcome.label()
        );
        if let Some(reason) = &entry.reason {
            state.push_str(&format!(" ({reason})"));
        }
        if entry.attempts.len() > 1 {
            state.push_str(&format!(" · {} attempts", entry.attempts.len()));
        }
        out.push(Piece::Field("status", state, Tone::Entry(entry.status)));
        let (hashes, tone) = hashes_text(entry.hashes.as_ref());
        out.push(Piece::Field("contract", hashes, tone));
        if entry.diff.is_empty() {
            out.push(Piece::Field("changes", "none".into(), Tone::Dim));
        }
        for (i, change) in entry.diff.iter().enumerate() {
            let text = format!(
                "{}: {}",
                change.field,
                field_change::values(change, "–", "–")
            );
            let tone = if field_change::is_same_value(change) {
                Tone::Dim
            } else {
                Tone::Plain
            };
            out.push(if i == 0 {
                Piece::Field("changes", text, tone)
            } else {
                Piece::More(text, tone)
            });
        }
        if let Some(error) = &entry.error {
            // The status and the code, unless the message already says them.
            let mut parts: Vec<String> = Vec::new();
            if let Some(http) = error.http_status.map(|s| s.to_string())
                && !error.message.contains(&http)
            {
                parts.push(http);
            }
            if let Some(code) = error.code.as_ref().filter(|c| !error.message.contains(*c)) {
                parts.push(code.clone());
            }
            if !error.message.is_empty() {
                parts.push(error.message.clone());
            }
            if !parts.is_empty() {
                out.push(Piece::Field("error", parts.join(" · "), Tone::Error));
            }
        }
        if (entry.error.is_some() || !went_through(entry.outcome))
            && let Some(hint) = hint(entry)
        {
            out.push(Piece::Field("hint", hint, Tone::Warn));
        }
        out
    }

    /// The lines at `width`, and each block's range of lines.
    fn lines(&self, width: usize, theme: Theme) -> (Vec<Line<'static>>, Vec<Range<usize>>) {
        let style = |tone: Tone| tone.style(theme);
        let mut lines = Vec::new();
        let mut blocks = Vec::with_capacity(self.entries.len());
        if self.entries.is_empty() {
            let text = format!(
                "no entry of {} is kept: it was never synced, or its entries are older than the \
                 retention and were pruned",
                self.serial
            );
            for part in format::wrap(&text, width) {
                lines.push(Line::styled(part, theme.dim()));
            }
        }
        let room = width.saturating_sub(LABEL).max(10);
        let all: Vec<Vec<Piece>> = self.entries.iter().map(|e| self.pieces(e)).collect();
        // One date format for every heading: the long one when all of them fit.
        let long_fits = all.iter().flatten().all(|piece| match piece {
            Piece::Heading(long, _, _) => 2 + format::width(long) <= width,
            _ => true,
        });
        for (i, pieces) in all.into_iter().enumerate() {
            if i > 0 {
                lines.push(Line::raw(""));
            }
            let start = lines.len();
            let selected = i == self.selected;
            for piece in pieces {
                match piece {
                    Piece::Heading(long, short, id) => {
                        let mark = if selected { "▶ " } else { "  " };
                        let text = format!("{mark}{}", if long_fits { long } else { short });
                        // The sync id goes at the right when there is room for it.
                        let used = format::width(&text);
                        let heading = if used + 2 + format::width(&id) <= width {
                            let gap = width - used - format::width(&id);
                            format!("{text}{}{id}", " ".repeat(gap))
                        } else {
                            format::pad(&text, width)
                        };
                        let style = if selected {
                            theme.selected().patch(theme.strong())
                        } else {
                            theme.strong()
                        };
                        lines.push(Line::styled(heading, style));
                    }
                    Piece::Field(label, text, tone) => {
                        for (n, part) in format::wrap(&text, room).into_iter().enumerate() {
                            let head = if n == 0 { label } else { "" };
                            lines.push(Line::from(vec![
                                Span::styled(format::pad(&format!("  {head}"), LABEL), theme.dim()),
                                Span::styled(part, style(tone)),
                            ]));
                        }
                    }
                    Piece::More(text, tone) => {
                        for part in format::wrap(&text, room) {
                            lines.push(Line::from(vec![
                                Span::raw(" ".repeat(LABEL)),
                                Span::styled(part, style(tone)),
                            ]));
                        }
                    }
                }
            }
            blocks.push(start..lines.len());
        }
        (lines, blocks)
    }

    /// The timeline as plain text, for the clipboard.
    pub fn text(&self) -> String {
        let mut out = format!("{}\n", self.title());
        for entry in &self.entries {
            out.push('\n');
            for piece in self.pieces(entry) {
                match piece {
                    Piece::Heading(text, _, id) => out.push_str(&format!("{text} · {id}\n")),
                    Piece::Field(label, text, _) => {
                        out.push_str(&format!("  {}{text}\n", format::pad(label, LABEL - 2)));
                    }
                    Piece::More(text, _) => {
                        out.push_str(&format!("{}{text}\n", " ".repeat(LABEL)));
                    }
                }
            }
        }
        out
    }

    pub fn draw(&mut self, frame: &mut Frame, area: Rect, theme: Theme) {
        frame.render_widget(Clear, area);
        let inner_width = area.width.saturating_sub(4) as usize;
        let (lines, blocks) = self.lines(inner_width, theme);
        self.visible = area.height.saturating_sub(2).max(1) as usize;
        self.total = lines.len();
        self.blocks = blocks;
        let before = self.selected;
        self.settle();
        if std::mem::take(&mut self.reveal_pending) {
            self.reveal(false);
        }
        // The lines carry the selection mark: redo them if settling moved the selection.
        let lines = if self.selected == before {
            lines
        } else {
            self.lines(inner_width, theme).0
        };
        Pager {
            title: &self.title(),
            lines,
            scroll: self.scroll,
            visible: self.visible,
            keys: "move",
        }
        .draw(frame, area, theme);
    }

    fn max_scroll(&self) -> usize {
        self.total.saturating_sub(self.visible)
    }

    fn block(&self, index: usize) -> Range<usize> {
        self.blocks.get(index).cloned().unwrap_or(0..0)
    }

    /// Keeps the scroll in range and the selected block on screen.
    fn settle(&mut self) {
        self.selected = self.selected.min(self.entries.len().saturating_sub(1));
        self.scroll = self.scroll.min(self.max_scroll());
        let block = self.block(self.selected);
        if block.end <= self.scroll || block.start >= self.scroll + self.visible {
            self.reveal(false);
        }
    }

    /// Scrolls so the selected block shows: all of it when it fits, else its top (or, coming
    /// from below, its bottom).
    fn reveal(&mut self, from_below: bool) {
        let block = self.block(self.selected);
        if block.start < self.scroll {
            self.scroll = if from_below {
                block.start.max(block.end.saturating_sub(self.visible))
            } else {
                block.start
            };
        } else if block.end > self.scroll + self.visible {
            self.scroll = block.start.min(block.end - self.visible);
        }
    }

    /// `j`: through the rest of a block taller than the screen, then to the next block.
    pub fn down(&mut self) {
        let block = self.block(self.selected);
        if block.end > self.scroll + self.visible {
            self.scroll += 1;
        } else if self.selected + 1 < self.entries.len() {
            self.selected += 1;
            self.reveal(false);
        }
    }

    /// `k`: back through a block whose top is above the screen, then to the previous block.
    pub fn up(&mut self) {
        let block = self.block(self.selected);
        if block.start < self.scroll {
            self.scroll -= 1;
        } else if self.selected > 0 {
            self.selected -= 1;
            self.reveal(true);
        }
    }

    /// PgUp / PgDn: a screenful, selecting the first block that starts on the new screen (or
    /// the one the screen starts in).
    pub fn page(&mut self, down: bool) {
        let step = self.visible.saturating_sub(1).max(1);
        self.scroll = if down {
            (self.scroll + step).min(self.max_scroll())
        } else {
            self.scroll.saturating_sub(step)
        };
        let end = self.scroll + self.visible;
        let starting = self
            .blocks
            .iter()
            .position(|b| b.start >= self.scroll && b.start < end);
        let around = self.blocks.iter().rposition(|b| b.start <= self.scroll);
        if let Some(index) = starting.or(around) {
            self.selected = index;
        }
    }

    pub fn top(&mut self) {
        self.selected = 0;
        self.scroll = 0;
    }

    pub fn bottom(&mut self) {
        self.selected = self.entries.len().saturating_sub(1);
        self.scroll = self.max_scroll();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_read_before_to_after() {
        let h = |before: Option<&str>, after: Option<&str>| ContractHashes {
            before: before.map(str::to_string),
            after: after.map(str::to_string),
        };
        assert_eq!(hashes_text(None).0, "–");
        assert_eq!(
            hashes_text(Some(&h(Some("4f1c2a9be0d7c3a1"), Some("4f1c2a9be0d7c3a1")))).0,
            "4f1c2a9be0d7 · unchanged"
        );
        assert_eq!(
            hashes_text(Some(&h(None, Some("9a8b7c6d5e4f3a2b1c")))).0,
            "– → 9a8b7c6d5e4f"
        );
        assert_eq!(hashes_text(Some(&h(Some("abc"), None))).0, "abc → –");
    }

    #[test]
    fn diff_values_show_null_and_absence_apart() {
        let change = |old: Option<serde_json::Value>| crate::store::FieldChange {
            field: "f".into(),
            old,
            new: Some(16.into()),
        };
        assert_eq!(field_change::values(&change(None), "–", "–"), "– → 16");
        assert_eq!(
            field_change::values(&change(Some(serde_json::Value::Null)), "–", "–"),
            "null → 16"
        );
    }
}
