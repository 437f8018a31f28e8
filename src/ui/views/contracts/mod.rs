//! The Contracts view (SPEC section 5): what syncdeck knows about each record of one
//! connection — origin id (serial), target id, last hash, last seen, last synced, last action —
//! read from the store a page at a time around the selection, searched and sorted there.

mod actions;
pub mod keys;

use crate::ui::widgets::search_field::SearchField;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::Config;
use crate::store::{ContractAction, ContractQuery, ContractSort, Store, SyncContract};

use crate::ui::screen::paged_list::PagedList;
use crate::ui::widgets::format;
use crate::ui::widgets::list;
use crate::ui::widgets::theme::Theme;

/// Contracts read from the store at a time; the screen shows a window of them.
const PAGE: usize = 200;

/// The columns `s` cycles through, in order.
const SORTS: [ContractSort; 6] = [
    ContractSort::Origin,
    ContractSort::Target,
    ContractSort::Hash,
    ContractSort::LastSeen,
    ContractSort::LastSynced,
    ContractSort::Action,
];

/// A column's name, as the header and the sort line say it.
pub fn sort_name(sort: ContractSort) -> &'static str {
    match sort {
        ContractSort::Origin => "origin id",
        ContractSort::Target => "target id",
        ContractSort::Hash => "last hash",
        ContractSort::LastSeen => "last seen",
        ContractSort::LastSynced => "last synced",
        ContractSort::Action => "last action",
    }
}

/// `created`, `updated`, `unchanged`.
pub fn action_label(action: ContractAction) -> &'static str {
    match action {
        ContractAction::Created => "created",
        ContractAction::Updated => "updated",
        ContractAction::Unchanged => "unchanged",
    }
}

/// The view's state: the connection, the query, the cursor and the page around it.
#[derive(Debug, Default)]
pub struct ContractsView {
    /// Index of the connection in the configuration.
    connection: usize,
    /// The search applied (serial or target id).
    filter: Option<String>,
    sort: ContractSort,
    descending: bool,
    /// The search field, while typing in it (`/`).
    search: SearchField,
    /// The contracts read around the cursor, the cursor, and how many match the query in all
    /// (None until read).
    list: PagedList<SyncContract>,
}

impl ContractsView {
    /// The connection shown, by name.
    pub fn connection<'a>(&self, config: &'a Config) -> Option<&'a str> {
        config
            .connections
            .get(self.connection)
            .map(|c| c.name.as_str())
    }

    /// Shows this connection's contracts (for a jump from elsewhere).
    pub fn select_connection(&mut self, config: &Config, name: &str) {
        if let Some(i) = config.connections.iter().position(|c| c.name == name)
            && i != self.connection
        {
            self.connection = i;
            self.restart();
        }
    }

    /// The next (`delta` 1) or previous (-1) connection, wrapping around.
    pub fn cycle_connection(&mut self, config: &Config, delta: isize) {
        let n = config.connections.len();
        if n == 0 {
            return;
        }
        self.connection = (self.connection as isize + delta).rem_euclid(n as isize) as usize;
        self.restart();
    }

    /// Sort by the next column (from the first contract).
    /// The columns `s` offers, in order.
    pub const SORTS: [ContractSort; 6] = SORTS;

    /// Sorts by `sort` (the `s` picker's choice); false when it already was.
    pub fn set_sort(&mut self, sort: ContractSort) -> bool {
        if self.sort == sort {
            return false;
        }
        self.sort = sort;
        self.restart();
        true
    }

    pub fn reverse_sort(&mut self) {
        self.descending = !self.descending;
        self.restart();
    }

    pub fn sort(&self) -> (ContractSort, bool) {
        (self.sort, self.descending)
    }

    pub fn filter(&self) -> Option<&str> {
        self.filter.as_deref()
    }

    /// Opens the search field with the current search.
    pub fn start_search(&mut self) {
        self.search.open(self.filter.as_deref());
    }

    /// Sets the search (blank: none); false when it did not change.
    pub fn set_filter(&mut self, text: String) -> bool {
        let filter = (!text.is_empty()).then_some(text);
        if filter == self.filter {
            return false;
        }
        self.filter = filter;
        self.restart();
        true
    }

    /// The query changed: back to the first contract, read again.
    fn restart(&mut self) {
        self.list.restart();
        self.reload();
    }

    /// The store changed (a delete, a run): read the page again, keeping the cursor.
    pub fn reload(&mut self) {
        self.list.forget();
        self.list.forget_total();
    }

    fn query(&self, config: &Config) -> Option<ContractQuery> {
        Some(ContractQuery {
            connection: self.connection(config)?.to_string(),
            search: self.filter.clone(),
            sort: self.sort,
            descending: self.descending,
        })
    }

    pub fn move_by(&mut self, delta: isize) {
        // Nothing read (no connection, or the read failed): the cursor stays on the first row.
        match self.list.total() {
            Some(_) => self.list.move_by(delta),
            None => self.list.first(),
        }
    }

    pub fn first(&mut self) {
        self.list.first();
    }

    pub fn last(&mut self) {
        self.move_by(isize::MAX);
    }

    /// Rows a page move goes.
    pub fn page(&self) -> usize {
        self.list.page()
    }

    /// The contract under the cursor, if its page is read.
    pub fn current(&self) -> Option<&SyncContract> {
        self.list.current()
    }

    /// Reads the page around the cursor if it is not read yet, before a key acts on it (the
    /// view may not have been drawn since the query changed).
    pub fn ensure(&mut self, config: &Config, store: &Store) {
        let height = match self.list.height() {
            0 => 20,
            height => height,
        };
        self.prepare(config, store, height);
    }

    /// Reads the page around the cursor when what `height` rows show is not in it; a
    /// page is at most [`PAGE`] contracts, never the whole table.
    pub(crate) fn prepare(&mut self, config: &Config, store: &Store, height: usize) {
        if let Some(total) = self.list.total() {
            let cursor = self.list.cursor().min(total.saturating_sub(1) as usize);
            self.list.place(cursor, self.list.top());
        }
        self.list.follow_cursor(height);
        if self.list.covers(self.list.top(), height) || self.list.error().is_some() {
            return;
        }
        let Some(query) = self.query(config) else {
            return;
        };
        let offset = self
            .list
            .top()
            .saturating_sub(PAGE.saturating_sub(height) / 2);
        match store.query_contracts(&query, offset, PAGE) {
            Ok(page) => {
                let last = page.total.saturating_sub(1) as usize;
                let (cursor, top) = (self.list.cursor(), self.list.top());
                self.list.set_total(page.total);
                if cursor > last || top > last {
                    // Fewer contracts than before (a delete): come back to the end.
                    let cursor = cursor.min(last);
                    self.list.place(cursor, top.min(cursor));
                    if offset > self.list.top() {
                        self.list.forget();
                        return self.prepare(config, store, height);
                    }
                }
                self.list.fill(offset, page.contracts);
            }
            Err(e) => self.list.fail(format!("cannot read the contracts: {e}")),
        }
    }

    pub fn total(&self) -> Option<u64> {
        self.list.total()
    }
}

/// Column widths for a width.
struct Columns {
    origin: usize,
    target: usize,
    long: bool,
}

impl Columns {
    /// hash 12, seen and synced 11 (19 when long), action 9, one space between.
    fn new(width: usize, visible: &[&SyncContract]) -> Columns {
        let long = width >= 120;
        let time = if long { 19 } else { 11 };
        let fixed = 12 + 2 * time + 9 + 5;
        let rest = width.saturating_sub(fixed);
        // Headers are 11 wide with the sort arrow ("ORIGIN ID ▲").
        let widest = |of: &dyn Fn(&SyncContract) -> usize| {
            visible.iter().map(|c| of(c)).max().unwrap_or(0).max(11)
        };
        let origin = widest(&|c| format::width(&c.origin_id))
            .min(rest / 2)
            .max(11.min(rest));
        // The target column takes what its ids need; the rest stays blank at the right.
        let target = widest(&|c| format::width(c.target_id.as_deref().unwrap_or("—")))
            .min(rest.saturating_sub(origin + 1));
        Columns {
            origin,
            target,
            long,
        }
    }

    fn time(&self) -> usize {
        if self.long { 19 } else { 11 }
    }

    fn header(&self, sort: ContractSort, descending: bool, theme: Theme) -> Line<'static> {
        let arrow = if descending { "▼" } else { "▲" };
        let name = |column: ContractSort, text: &str, width: usize| {
            let text = if column == sort {
                format!("{text} {arrow}")
            } else {
                text.to_string()
            };
            format::pad(&text, width)
        };
        let text = [
            name(ContractSort::Origin, "ORIGIN ID", self.origin),
            name(ContractSort::Target, "TARGET ID", self.target),
            name(ContractSort::Hash, "LAST HASH", 12),
            name(ContractSort::LastSeen, "LAST SEEN", self.time()),
            name(ContractSort::LastSynced, "LAST SYNCED", self.time()),
            name(ContractSort::Action, "ACTION", 9),
        ]
        .join(" ");
        Line::styled(text, theme.title())
    }

    fn row(&self, c: &SyncContract, theme: Theme, cursor: bool, width: usize) -> Line<'static> {
        let time = |at: Option<DateTime<Utc>>| {
            at.map_or_else(|| "—".to_string(), |at| format::started(at, self.long))
        };
        let hash: String = c.last_hash.chars().take(12).collect();
        let spans = vec![
            Span::styled(format::pad(&c.origin_id, self.origin), theme.strong()),
            Span::raw(" "),
            Span::raw(format::pad(
                c.target_id.as_deref().unwrap_or("—"),
                self.target,
            )),
            Span::raw(" "),
            Span::styled(format::pad(&hash, 12), theme.dim()),
            Span::raw(" "),
            Span::raw(format::pad(&time(Some(c.last_seen)), self.time())),
            Span::raw(" "),
            Span::raw(format::pad(&time(c.last_synced), self.time())),
            Span::raw(" "),
            Span::raw(format::pad(action_label(c.last_action), 9)),
        ];
        list::row(spans, width, cursor, theme)
    }
}

/// "◂ connection 2/4: registry · Asset registry (XML, demo) ▸ · search "SD-00"".
fn chooser_line(
    view: &ContractsView,
    config: &Config,
    width: usize,
    theme: Theme,
) -> Line<'static> {
    let n = config.connections.len();
    let Some(connection) = config.connections.get(view.connection) else {
        return Line::styled("no connection configured", theme.warn());
    };
    let mut spans = vec![
        Span::styled("◂ ", theme.key()),
        Span::raw(format!("connection {}/{n}: ", view.connection + 1)),
        Span::styled(connection.name.clone(), theme.strong()),
        Span::styled(format!(" · {}", connection.system), theme.dim()),
        Span::styled(" ▸", theme.key()),
    ];
    if let Some(filter) = &view.filter {
        spans.push(Span::raw("  search "));
        spans.push(Span::styled(format!("\"{filter}\""), theme.warn()));
        spans.push(Span::styled(" (Esc clears)", theme.dim()));
    }
    let used: usize = spans.iter().map(Span::width).sum();
    if used > width {
        let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
        return Line::raw(format::fit(&text, width));
    }
    Line::from(spans)
}

fn empty_lines(view: &ContractsView, name: &str, theme: Theme) -> Vec<Line<'static>> {
    match &view.filter {
        Some(filter) => vec![
            Line::styled(
                format!("No contract of {name} matches \"{filter}\"."),
                theme.strong(),
            ),
            Line::raw(""),
            Line::raw("The search looks in serials and target ids. Esc clears it."),
        ],
        None => vec![
            Line::styled(format!("No contracts yet for {name}."), theme.strong()),
            Line::raw(""),
            Line::raw("A Live run records one per record written (Dry runs record none)."),
            Line::raw("← / → or c shows another connection; n starts a run."),
        ],
    }
}

/// Rows of contracts the view shows in `area`: the border, the chooser (or the search field)
/// and the header take the rest. [`crate::ui::app::App::prepare_frame`] reads that page before
/// the frame.
pub fn rows(area: Rect) -> usize {
    (area.height as usize).saturating_sub(4)
}

/// Draws the contracts from the view's state: the page was read before the frame.
pub fn draw(frame: &mut Frame, area: Rect, view: &ContractsView, config: &Config, theme: Theme) {
    let inner_height = area.height.saturating_sub(2) as usize;
    let height = inner_height.saturating_sub(2);
    let name = view.connection(config).unwrap_or("").to_string();
    let total = view.list.total().map_or_else(
        || "…".to_string(),
        |n| {
            let plural = if n == 1 { "" } else { "s" };
            let matching = if view.filter.is_some() {
                if n == 1 { " matches" } else { " match" }
            } else {
                ""
            };
            format!("{} contract{plural}{matching}", format::count(n))
        },
    );
    let block = list::block("Contracts", &format!("{name} · {total}"), theme).title_bottom(
        list::sort_title(
            sort_name(view.sort),
            view.descending,
            view.list.cursor(),
            view.list.total(),
            theme,
        ),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let width = inner.width as usize;
    list::draw_first_line(
        frame,
        inner,
        view.search.input(),
        || chooser_line(view, config, width, theme),
        theme,
    );
    if inner.height < 3 {
        return;
    }
    let body = Rect {
        y: inner.y + 2,
        height: inner.height - 2,
        ..inner
    };
    if let Some(error) = view.list.error() {
        list::draw_error(frame, body, error, theme);
        return;
    }
    let visible: Vec<&SyncContract> = view.list.visible(height).collect();
    let cols = Columns::new(width, &visible);
    frame.render_widget(
        Paragraph::new(cols.header(view.sort, view.descending, theme)),
        Rect {
            y: inner.y + 1,
            height: 1,
            ..inner
        },
    );
    if visible.is_empty() {
        let lines = if config.connections.is_empty() {
            vec![Line::styled(
                "No connections configured: add [[connections]] to the configuration.",
                theme.strong(),
            )]
        } else if view.list.total() == Some(0) {
            empty_lines(view, &name, theme)
        } else {
            vec![Line::styled("reading…", theme.dim())]
        };
        let y = body.y + body.height.saturating_sub(lines.len() as u16) / 2;
        let rect = Rect {
            y,
            height: body.bottom() - y,
            ..body
        };
        frame.render_widget(Paragraph::new(lines).alignment(Alignment::Center), rect);
        return;
    }
    let lines: Vec<Line> = visible
        .iter()
        .enumerate()
        .map(|(i, c)| cols.row(c, theme, view.list.top() + i == view.list.cursor(), width))
        .collect();
    frame.render_widget(Paragraph::new(lines), body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_can_be_picked_and_picking_the_same_changes_nothing() {
        let mut view = ContractsView::default();
        for sort in SORTS {
            let before = view.sort().0;
            assert_eq!(view.set_sort(sort), before != sort);
            assert_eq!(view.sort().0, sort);
        }
        assert!(!view.set_sort(*SORTS.last().unwrap()));
    }

    #[test]
    fn a_blank_search_is_no_search() {
        let mut view = ContractsView::default();
        assert!(!view.set_filter(String::new()));
        assert!(view.set_filter("SD-1".into()));
        assert_eq!(view.filter(), Some("SD-1"));
        assert!(view.set_filter(String::new()));
        assert_eq!(view.filter(), None);
    }
}
