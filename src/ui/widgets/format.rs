//! Text helpers for the screens: counts with separators, durations, times in UTC, and fitting
//! text into a column by display width.

use chrono::{DateTime, TimeDelta, Utc};
use ratatui::text::Span;

/// A count with thousands separators: `12,400`.
pub fn count(n: u64) -> String {
    crate::text::thousands(n)
}

/// A duration as an operator reads it: `45s`, `2m05s`, `1h02m`, `3d04h`.
pub fn duration(span: TimeDelta) -> String {
    let secs = span.num_seconds().max(0);
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A start time in UTC: `03-14 14:03` (short) or `2025-03-14 14:03:12` (long).
pub fn started(at: DateTime<Utc>, long: bool) -> String {
    if long {
        at.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        at.format("%m-%d %H:%M").to_string()
    }
}

/// A clock time in UTC: `14:03:12`.
pub fn clock_time(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S").to_string()
}

/// Display width of a string (wide characters count two).
pub fn width(text: &str) -> usize {
    Span::raw(text).width()
}

fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// The text cut to `max` columns, ending in `…` when cut. Controls (text from sources and
/// destinations may hold escape sequences) are shown as visible stand-ins
/// ([`crate::text::terminal_line`]).
pub fn fit(text: &str, max: usize) -> String {
    let text = &*crate::text::terminal_line(text);
    if width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = char_width(c);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// The text cut or padded with spaces to exactly `columns`.
pub fn pad(text: &str, columns: usize) -> String {
    let cut = fit(text, columns);
    let fill = columns.saturating_sub(width(&cut));
    format!("{cut}{}", " ".repeat(fill))
}

/// The text cut or padded on the left to exactly `columns` (numbers).
pub fn pad_left(text: &str, columns: usize) -> String {
    let cut = fit(text, columns);
    let fill = columns.saturating_sub(width(&cut));
    format!("{}{cut}", " ".repeat(fill))
}

/// Splits text into lines of at most `max` columns, breaking at spaces where it can; controls
/// shown as in [`fit`].
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let text = &*crate::text::terminal_line(text);
    let max = max.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in text.split(' ') {
        let w = width(word);
        if used > 0 && used + 1 + w > max {
            lines.push(std::mem::take(&mut line));
            used = 0;
        }
        if used > 0 {
            line.push(' ');
            used += 1;
        }
        if w > max {
            // A word longer than a line (a URL) is cut into pieces.
            for c in word.chars() {
                let cw = char_width(c);
                if used + cw > max {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += cw;
            }
        } else {
            line.push_str(word);
            used += w;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_204), "1,204");
        assert_eq!(count(1_000_000), "1,000,000");
    }

    #[test]
    fn durations_read_like_an_operator_says_them() {
        assert_eq!(duration(TimeDelta::seconds(-3)), "0s");
        assert_eq!(duration(TimeDelta::seconds(45)), "45s");
        assert_eq!(duration(TimeDelta::seconds(125)), "2m05s");
        assert_eq!(duration(TimeDelta::seconds(3_720)), "1h02m");
        assert_eq!(
            duration(TimeDelta::seconds(3 * 86_400 + 4 * 3_600)),
            "3d04h"
        );
    }

    #[test]
    fn fitting_cuts_with_an_ellipsis() {
        assert_eq!(fit("registry", 8), "registry");
        assert_eq!(fit("registry", 5), "regi…");
        assert_eq!(fit("registry", 0), "");
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(pad_left("7", 3), "  7");
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("one two three", 7), vec!["one two", "three"]);
        assert_eq!(wrap("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("", 5), vec![""]);
    }
}
