//! Colours and emphasis. The default theme uses colour; `Mono` (and NO_COLOR) uses none at all:
//! emphasis by bold, selection by reverse video, so every screen reads the same without colour.

use ratatui::style::{Color, Modifier, Style};

use crate::engine::LogLevel;
use crate::store::{EntryStatus, RunStatus};

/// The styles every view draws with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    mono: bool,
}

impl Theme {
    /// The configured theme, made mono when `no_color` (NO_COLOR set and non-empty).
    pub fn new(setting: crate::config::Theme, no_color: bool) -> Theme {
        Theme {
            mono: no_color || setting == crate::config::Theme::Mono,
        }
    }

    /// True when NO_COLOR is set to something non-empty (<https://no-color.org>).
    pub fn no_color_requested() -> bool {
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
    }

    pub fn is_mono(self) -> bool {
        self.mono
    }

    fn fg(self, color: Color) -> Style {
        if self.mono {
            Style::new()
        } else {
            Style::new().fg(color)
        }
    }

    /// The selected row: reverse video in both themes.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// Titles and column headers.
    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Numbers and names that matter.
    pub fn strong(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// Secondary text (labels, separators). Plain in mono so it stays readable.
    pub fn dim(self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// Labels the operator reads (counter names): plain, never dimmed.
    pub fn label(self) -> Style {
        Style::new()
    }

    pub fn border(self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// Borders of a dialog or overlay, which must stand out from the screen beneath.
    pub fn overlay_border(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warn(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }

    /// A key name in the key bar and the help.
    pub fn key(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The demo banner.
    pub fn banner(self) -> Style {
        if self.mono {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD)
        }
    }

    /// The active view's tab.
    pub fn tab_active(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn gauge_filled(self) -> Style {
        self.fg(Color::Green)
    }

    pub fn gauge_empty(self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// A run or connection run status.
    pub fn status(self, status: RunStatus) -> Style {
        match status {
            RunStatus::Running => self.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            RunStatus::Completed => self.fg(Color::Green),
            RunStatus::Failed | RunStatus::Interrupted => self.error(),
            RunStatus::Canceled | RunStatus::Incomplete => self.fg(Color::Yellow),
        }
    }

    /// A status with its failed entries: a completion that left failures is a warning.
    pub fn status_with(self, status: RunStatus, failed: u64) -> Style {
        if status == RunStatus::Completed && failed > 0 {
            self.warn()
        } else {
            self.status(status)
        }
    }

    /// A report entry's status.
    pub fn entry_status(self, status: EntryStatus) -> Style {
        match status {
            EntryStatus::Ok => self.fg(Color::Green),
            EntryStatus::Sent => self.fg(Color::Cyan),
            EntryStatus::Pending => self.fg(Color::Yellow),
            EntryStatus::Failed => self.error(),
            EntryStatus::Dry => self.fg(Color::Blue),
        }
    }

    pub fn level(self, level: LogLevel) -> Style {
        match level {
            LogLevel::Info => self.fg(Color::Blue),
            LogLevel::Warn => self.warn(),
            LogLevel::Error => self.error(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_has_no_colour_anywhere() {
        let theme = Theme::new(crate::config::Theme::Default, true);
        assert!(theme.is_mono());
        let styles = [
            theme.title(),
            theme.dim(),
            theme.error(),
            theme.warn(),
            theme.ok(),
            theme.key(),
            theme.banner(),
            theme.gauge_filled(),
            theme.status(RunStatus::Failed),
            theme.level(LogLevel::Warn),
        ];
        for style in styles {
            assert_eq!(style.fg, None);
            assert_eq!(style.bg, None);
        }
        assert!(theme.selected().add_modifier.contains(Modifier::REVERSED));
    }
}
