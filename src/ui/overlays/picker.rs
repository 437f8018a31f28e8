//! A small list overlay that picks the report's filters (status, outcome, connection — several
//! at once — or one run) and its sort column. Each filter choice shows how many entries it
//! would give with the other filters kept (counted in the background); typing a choice's first
//! letters moves the cursor to it.

use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::store::{
    ContractSort, EntryStatus, Outcome, ReportFilter, RunId, RunStatus, SortColumn,
};

use crate::ui::widgets::format;
use crate::ui::widgets::layout;
use crate::ui::widgets::theme::Theme;

/// What a choice stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// No condition: every status, outcome, connection or run.
    Any,
    Status(EntryStatus),
    Outcome(Outcome),
    Connection(String),
    Run(RunId),
    Sort(SortColumn),
    /// The jobs view's status filter.
    RunStatus(RunStatus),
    /// The contracts' sort column.
    ContractSort(ContractSort),
}

/// What the picker sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickerKind {
    Status,
    Outcome,
    Connection,
    Run,
    Sort,
    /// The jobs view's run status filter.
    RunStatus,
    /// The contracts' sort.
    ContractSort,
}

impl PickerKind {
    /// The report's filters and sort; the others belong to the jobs and contracts views.
    pub fn is_report(self) -> bool {
        !matches!(self, PickerKind::RunStatus | PickerKind::ContractSort)
    }
}

/// One line of the list.
#[derive(Clone, Debug)]
pub struct Choice {
    pub label: String,
    pub value: Value,
    pub checked: bool,
}

impl Choice {
    pub fn new(label: impl Into<String>, value: Value, checked: bool) -> Choice {
        Choice {
            label: label.into(),
            value,
            checked,
        }
    }
}

/// The open picker.
#[derive(Clone, Debug)]
pub struct Picker {
    pub kind: PickerKind,
    pub title: String,
    pub choices: Vec<Choice>,
    pub cursor: usize,
    /// Several choices at once (checkboxes), or one (Enter picks the line).
    pub multi: bool,
    /// Space was used: Enter applies the checked set instead of the line.
    touched: bool,
    scroll: usize,
    /// Entries each choice would show, by choice; empty while counting (or for the sort).
    counts: Vec<Option<u64>>,
    /// What was typed to find a choice.
    typed: String,
}

impl Picker {
    /// A picker with the cursor on the first checked choice.
    pub fn new(
        kind: PickerKind,
        title: impl Into<String>,
        choices: Vec<Choice>,
        multi: bool,
    ) -> Picker {
        let cursor = choices
            .iter()
            .position(|c| c.checked && c.value != Value::Any)
            .unwrap_or(0);
        Picker {
            kind,
            title: title.into(),
            choices,
            cursor,
            multi,
            touched: false,
            scroll: 0,
            counts: Vec::new(),
            typed: String::new(),
        }
    }

    /// True when the choices get counts (the filters; not the sort).
    pub fn counts_entries(&self) -> bool {
        matches!(
            self.kind,
            PickerKind::Status | PickerKind::Outcome | PickerKind::Connection | PickerKind::Run
        )
    }

    /// The counts of the choices, in their order.
    pub fn set_counts(&mut self, counts: Vec<Option<u64>>) {
        self.counts = counts;
    }

    /// Type-ahead: moves the cursor to the first choice whose label (or a word of it) starts
    /// with what was typed so far; a letter that matches nothing starts over from itself.
    pub fn type_char(&mut self, c: char) {
        let find = |typed: &str, choices: &[Choice]| {
            choices.iter().position(|choice| {
                let label = choice.label.to_lowercase();
                label.trim_start_matches('#').starts_with(typed)
                    || label
                        .split(|c: char| c.is_whitespace() || c == '-' || c == '#')
                        .any(|word| word.starts_with(typed))
            })
        };
        self.typed.extend(c.to_lowercase());
        if let Some(at) = find(&self.typed, &self.choices) {
            self.cursor = at;
            return;
        }
        self.typed = c.to_lowercase().collect();
        if let Some(at) = find(&self.typed, &self.choices) {
            self.cursor = at;
        }
    }

    pub fn move_by(&mut self, delta: isize) {
        self.typed.clear();
        let last = self.choices.len().saturating_sub(1);
        self.cursor = self.cursor.saturating_add_signed(delta).min(last);
    }

    /// Space: checks or unchecks the line; "any" unchecks everything.
    pub fn toggle(&mut self) {
        if !self.multi {
            return;
        }
        let Some(choice) = self.choices.get(self.cursor) else {
            return;
        };
        self.touched = true;
        if choice.value == Value::Any {
            for c in &mut self.choices {
                c.checked = c.value == Value::Any;
            }
            return;
        }
        let checked = !choice.checked;
        self.choices[self.cursor].checked = checked;
        let any_checked = self
            .choices
            .iter()
            .any(|c| c.checked && c.value != Value::Any);
        for c in &mut self.choices {
            if c.value == Value::Any {
                c.checked = !any_checked;
            }
        }
    }

    /// Enter: the line under the cursor; once Space has checked lines, the checked set. Enter
    /// on "any" clears. An empty list means "any".
    pub fn chosen(&self) -> Vec<Value> {
        let under = self.choices.get(self.cursor).map(|c| c.value.clone());
        if matches!(under, Some(Value::Any) | None) {
            return Vec::new();
        }
        let checked: Vec<Value> = self
            .choices
            .iter()
            .filter(|c| c.checked && c.value != Value::Any)
            .map(|c| c.value.clone())
            .collect();
        if self.multi && self.touched && !checked.is_empty() {
            return checked;
        }
        under.into_iter().collect()
    }

    pub fn draw(&mut self, frame: &mut Frame, area: Rect, theme: Theme) {
        let longest = self
            .choices
            .iter()
            .map(|c| format::width(&c.label))
            .max()
            .unwrap_or(0);
        let footer = if self.multi {
            "Enter pick · Space check several · type to find · Esc cancel"
        } else {
            "Enter pick · type to find · Esc cancel"
        };
        let count_width = if self.counts_entries() {
            self.counts
                .iter()
                .map(|n| n.map_or(1, |n| format::count(n).len()))
                .max()
                .unwrap_or(1)
                .max(1)
                + 2
        } else {
            0
        };
        let width = (longest + 8 + count_width)
            .max(format::width(footer) + 4)
            .max(format::width(&self.title) + 6)
            .min(area.width.saturating_sub(4) as usize) as u16;
        let rows = self
            .choices
            .len()
            .min(area.height.saturating_sub(6) as usize)
            .max(1);
        let height = rows as u16 + 4;
        let rect = layout::centered(area, width, height);
        if self.cursor < self.scroll {
            self.scroll = self.cursor;
        }
        if self.cursor >= self.scroll + rows {
            self.scroll = self.cursor + 1 - rows;
        }
        let text_width = width.saturating_sub(4) as usize;
        let mut lines: Vec<Line> = Vec::with_capacity(rows + 2);
        for (i, choice) in self.choices.iter().enumerate().skip(self.scroll).take(rows) {
            let mark = match (self.multi, choice.checked) {
                (true, true) => "[x] ",
                (true, false) => "[ ] ",
                (false, true) => "(•) ",
                (false, false) => "( ) ",
            };
            let count = if self.counts_entries() {
                // "…" while counting.
                let n = self.counts.get(i).copied().flatten();
                format::pad_left(&n.map_or("…".to_string(), format::count), count_width)
            } else {
                String::new()
            };
            let label = format::pad(
                &format!("{mark}{}", choice.label),
                text_width.saturating_sub(count_width),
            );
            let text = format!("{label}{count}");
            let style = if i == self.cursor {
                theme.selected()
            } else if choice.checked {
                theme.strong()
            } else {
                ratatui::style::Style::new()
            };
            lines.push(Line::styled(text, style));
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled(format::fit(footer, text_width), theme.dim()));
        frame.render_widget(Clear, rect);
        let block = Block::bordered()
            .border_style(theme.overlay_border())
            .title(Span::styled(format!(" {} ", self.title), theme.title()));
        let inner = block.inner(rect).inner(Margin::new(1, 0));
        frame.render_widget(block, rect);
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

/// The report's query with a picker's condition set to `value` (or cleared for "any"): what
/// the choice would show, for its count.
pub fn filter_for(base: &ReportFilter, kind: PickerKind, value: &Value) -> ReportFilter {
    let mut filter = base.clone();
    match (kind, value) {
        (PickerKind::Status, Value::Status(status)) => filter.statuses = vec![*status],
        (PickerKind::Status, _) => filter.statuses.clear(),
        (PickerKind::Outcome, Value::Outcome(outcome)) => filter.outcomes = vec![*outcome],
        (PickerKind::Outcome, _) => filter.outcomes.clear(),
        (PickerKind::Connection, Value::Connection(name)) => {
            filter.connections = vec![name.clone()]
        }
        (PickerKind::Connection, _) => filter.connections.clear(),
        (PickerKind::Run, Value::Run(run)) => filter.run = Some(*run),
        (PickerKind::Run, _) => filter.run = None,
        (PickerKind::Sort | PickerKind::RunStatus | PickerKind::ContractSort, _) => {}
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses() -> Picker {
        let mut choices = vec![Choice::new("any status", Value::Any, true)];
        choices.extend(
            EntryStatus::ALL
                .iter()
                .map(|s| Choice::new(s.as_str(), Value::Status(*s), false)),
        );
        Picker::new(PickerKind::Status, "Status", choices, true)
    }

    #[test]
    fn enter_picks_the_line_over_what_was_checked_before() {
        let mut choices = vec![Choice::new("any status", Value::Any, false)];
        choices.extend(
            EntryStatus::ALL
                .iter()
                .map(|s| Choice::new(s.as_str(), Value::Status(*s), *s == EntryStatus::Failed)),
        );
        let mut p = Picker::new(PickerKind::Status, "Status", choices, true);
        assert_eq!(p.cursor, 4, "the cursor starts on the current filter");
        p.move_by(-3);
        assert_eq!(p.chosen(), vec![Value::Status(EntryStatus::Ok)]);
        p.toggle();
        assert_eq!(
            p.chosen(),
            vec![
                Value::Status(EntryStatus::Ok),
                Value::Status(EntryStatus::Failed)
            ]
        );
    }

    #[test]
    fn enter_without_checks_picks_the_line() {
        let mut p = statuses();
        p.move_by(4);
        assert_eq!(p.chosen(), vec![Value::Status(EntryStatus::Failed)]);
        p.move_by(-10);
        assert_eq!(p.chosen(), Vec::new());
    }

    #[test]
    fn checks_gather_and_any_clears_them() {
        let mut p = statuses();
        p.move_by(3);
        p.toggle();
        p.move_by(1);
        p.toggle();
        assert!(!p.choices[0].checked);
        assert_eq!(
            p.chosen(),
            vec![
                Value::Status(EntryStatus::Pending),
                Value::Status(EntryStatus::Failed)
            ]
        );
        p.move_by(-10);
        assert_eq!(p.chosen(), Vec::new(), "Enter on any clears");
        p.toggle();
        assert!(p.choices[0].checked);
        assert!(p.choices.iter().skip(1).all(|c| !c.checked));
    }
}
