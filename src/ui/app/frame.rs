//! The App's own rows of a frame: the title with its tabs, and the banner. Pure drawing from
//! what the App passes; the views draw themselves.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::config::Config;
use crate::store::{Run, RunStatus};

use crate::ui::screen::View;
use crate::ui::widgets::format;
use crate::ui::widgets::theme::Theme;

/// The banner's lines, cut with "…" when longer: two on the jobs view of a screen of 20 rows
/// or more, one elsewhere (where rows count).
pub fn banner_lines(
    banner: Option<&str>,
    view: View,
    area: Rect,
    theme: Theme,
) -> Vec<Line<'static>> {
    let Some(banner) = banner else {
        return Vec::new();
    };
    let max = if area.height >= 20 && view == View::Jobs {
        2
    } else {
        1
    };
    let width = area.width as usize;
    let room = width.saturating_sub(2);
    let mut pieces = format::wrap(banner, room);
    if pieces.len() > max {
        // The last line shown ends at a word, then "…".
        let rest = pieces.split_off(max - 1).join(" ");
        let last = format::wrap(&rest, room.saturating_sub(2))
            .into_iter()
            .next()
            .unwrap_or_default();
        pieces.push(format::fit(&format!("{last} …"), room));
    }
    pieces
        .into_iter()
        .map(|p| Line::styled(format::pad(&format!(" {p}"), width), theme.banner()))
        .collect()
}

/// What the title says at its right: the run going (and whether a cancel was asked), else the
/// sources and the number of connections.
pub struct Going<'a> {
    pub run: Option<&'a Run>,
    pub canceling: bool,
}

/// The title row: the name, the tabs (the active one marked), and what is going at the right.
pub fn draw_title(
    frame: &mut Frame,
    area: Rect,
    view: View,
    config: &Config,
    going: Going,
    theme: Theme,
) {
    let tab = |key: &str, name: &str, active: bool| {
        let style = if active {
            theme.tab_active()
        } else {
            theme.dim()
        };
        Span::styled(format!(" {key} {name} "), style)
    };
    const TABS: [(&str, &str, View); 5] = [
        ("1", "Jobs", View::Jobs),
        ("2", "Logs", View::Logs),
        ("3", "Report", View::Report),
        ("4", "Contracts", View::Contracts),
        ("5", "Connections", View::Connections),
    ];
    // Tabs apart where there is room, side by side where not.
    let tabs = |gap: &str| {
        let mut spans = vec![Span::styled(" syncdeck ", theme.title())];
        for (i, (key, name, tab_view)) in TABS.iter().enumerate() {
            if i > 0 && !gap.is_empty() {
                spans.push(Span::raw(gap.to_string()));
            }
            spans.push(tab(key, name, view == *tab_view));
        }
        spans
    };
    let n = config.connections.len();
    let connections = format!("{n} connection{} ", if n == 1 { "" } else { "s" });
    let (right, short) = match going.run {
        Some(run) if run.status == RunStatus::Running => {
            let style = theme.status(RunStatus::Running);
            let word = if going.canceling {
                "canceling"
            } else {
                "going"
            };
            (
                Span::styled(format!("▶ run #{} {word} ", run.id), style),
                Span::styled(format!("▶ #{} ", run.id), style),
            )
        }
        _ => (
            Span::styled(
                format!("{} · {connections}", config.sources_label()),
                theme.dim(),
            ),
            Span::styled(connections, theme.dim()),
        ),
    };
    let width = area.width as usize;
    let fits = |spans: &[Span], right: &Span| {
        spans.iter().map(Span::width).sum::<usize>() + right.width() < width
    };
    let wide = tabs(" ");
    let narrow = tabs("");
    let (mut left, right) = if fits(&wide, &right) {
        (wide, Some(right))
    } else if fits(&narrow, &right) {
        (narrow, Some(right))
    } else if fits(&wide, &short) {
        (wide, Some(short))
    } else if fits(&narrow, &short) {
        (narrow, Some(short))
    } else {
        (narrow, None)
    };
    if let Some(right) = right {
        let used: usize = left.iter().map(Span::width).sum();
        left.push(Span::raw(" ".repeat(width - used - right.width())));
        left.push(right);
    }
    frame.render_widget(Paragraph::new(Line::from(left)), area);
}
