//! A text gauge that reads without colour: `██████░░░░`, with "X of N" beside it.

use ratatui::text::Span;

use crate::ui::widgets::format;
use crate::ui::widgets::theme::Theme;

/// The bar for `done` of `total` in `cells` columns.
pub fn bar(done: u64, total: u64, cells: usize, theme: Theme) -> Vec<Span<'static>> {
    let filled = if total == 0 {
        0
    } else {
        ((done.min(total) as u128 * cells as u128) / total as u128) as usize
    };
    vec![
        Span::styled("█".repeat(filled), theme.gauge_filled()),
        Span::styled("░".repeat(cells - filled), theme.gauge_empty()),
    ]
}

/// `1,204 of 2,400`; `12 of ?` while the total is not known yet.
pub fn x_of_n(done: u64, total: u64, known: bool) -> String {
    if known {
        format!("{} of {}", format::count(done), format::count(total))
    } else {
        format!("{} of ?", format::count(done))
    }
}

/// `37%` (floored, so 100% means done).
pub fn percent(done: u64, total: u64) -> String {
    if total == 0 {
        return "0%".into();
    }
    format!("{}%", done.min(total) * 100 / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_in_proportion() {
        let theme = Theme::new(crate::config::Theme::Mono, false);
        let spans = bar(1, 4, 8, theme);
        assert_eq!(spans[0].content, "██");
        assert_eq!(spans[1].content, "░░░░░░");
        assert_eq!(bar(9, 4, 4, theme)[0].content, "████");
        assert_eq!(bar(0, 0, 3, theme)[1].content, "░░░");
        assert_eq!(percent(2399, 2400), "99%");
        assert_eq!(x_of_n(1204, 2400, true), "1,204 of 2,400");
    }
}
