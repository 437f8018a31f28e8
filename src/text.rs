//! Text from outside on its way out of syncdeck: the one sanitiser.
//!
//! Sources and destinations choose the bytes of serials, ids, error codes and messages. Those
//! strings are stored as they came (a report in JSON gives them back exactly), but every view
//! of them passes through here first:
//!
//! - on a terminal ([`terminal_line`], [`terminal_lines`]): C0 controls, DEL, C1 controls and
//!   the bidirectional overrides are shown as visible stand-ins (ESC becomes `␛`), so no escape
//!   sequence (a title change, a clipboard write through OSC 52, a cleared screen) reaches the
//!   operator's terminal and reordered text cannot hide what a line says;
//! - in JSON ([`to_json_string`], [`to_json_string_pretty`], [`write_json`]): serde_json escapes
//!   C0 itself; C1, DEL and the bidirectional overrides are escaped too (`\u009b`), so JSON
//!   printed on a terminal is as harmless while a parser still reads the original value;
//! - in CSV ([`csv_cell`]): a cell that a spreadsheet would run as a formula (`=`, `+`, `-`,
//!   `@`, tab, carriage return) is prefixed with `'` (OWASP's advice), and controls but line
//!   breaks are shown as on a terminal (CSV often goes to one).
//!
//! A leaf module: it knows nothing of the rest of syncdeck.

use std::borrow::Cow;
use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter, PrettyFormatter};

/// The stand-in for a C1 control or a bidirectional override, which have no picture of their
/// own.
const HIDDEN: char = '\u{fffd}';

/// Whether `c` must not reach a terminal as it is. Tab and line feed are judged by the caller.
fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// The bidirectional embeddings, overrides and isolates: they reorder what a terminal shows
/// (U+202E makes `exe.txt` read `txt.exe`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// What a terminal shows for an unsafe character: the Unicode control picture of a C0 control
/// or DEL (`␛` for ESC, `␊` for a line feed), else U+FFFD.
fn visible(c: char) -> char {
    match c {
        '\0'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or(HIDDEN),
        '\u{7f}' => '\u{2421}',
        _ => HIDDEN,
    }
}

/// Replaces the characters `keep` does not keep and [`is_unsafe`] flags; borrows when there
/// are none (the usual case costs one scan).
fn replace_unsafe(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let flagged = |c: char| is_unsafe(c) && !keep(c);
    if !text.chars().any(flagged) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if flagged(c) { visible(c) } else { c })
            .collect(),
    )
}

/// One line of outside text for a terminal: every control character (line breaks and tabs
/// included) and every bidirectional override shown as a visible stand-in.
pub fn terminal_line(text: &str) -> Cow<'_, str> {
    replace_unsafe(text, |_| false)
}

/// Several lines of outside text for a terminal (a response excerpt, a copied entry): line
/// feeds and tabs kept, every other control (a carriage return that would overwrite the line
/// included) shown as a visible stand-in.
pub fn terminal_lines(text: &str) -> Cow<'_, str> {
    replace_unsafe(text, |c| matches!(c, '\n' | '\t'))
}

/// The characters that start a formula in a spreadsheet (OWASP, "CSV Injection"), with the
/// full-width forms some spreadsheets read as the same.
fn starts_a_formula(c: char) -> bool {
    matches!(
        c,
        '=' | '+' | '-' | '@' | '\t' | '\r' | '\u{ff1d}' | '\u{ff0b}' | '\u{ff0d}' | '\u{ff20}'
    )
}

/// One CSV cell: a formula start neutralised with a leading `'` (the cell reads as text in a
/// spreadsheet), then controls shown as on a terminal, line breaks (CR, LF) kept: they are data
/// a quoted cell carries, not escape sequences. Quoting is the CSV writer's job.
pub fn csv_cell(text: &str) -> Cow<'_, str> {
    let formula = text.chars().next().is_some_and(starts_a_formula);
    let shown = replace_unsafe(text, |c| matches!(c, '\n' | '\r'));
    if !formula {
        return shown;
    }
    let mut cell = String::with_capacity(shown.len() + 1);
    cell.push('\'');
    cell.push_str(&shown);
    Cow::Owned(cell)
}

/// serde_json's output with C1 controls, DEL and the bidirectional overrides escaped as
/// `\uXXXX` inside strings (serde_json escapes C0 but lets those through raw).
struct SafeStrings<F>(F);

impl<F: Formatter> Formatter for SafeStrings<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (at, c) in fragment.char_indices() {
            if c == '\u{7f}' || c.is_control() || is_bidi_control(c) {
                self.0.write_string_fragment(writer, &fragment[start..at])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = at + c.len_utf8();
            }
        }
        self.0.write_string_fragment(writer, &fragment[start..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        self.0.write_char_escape(writer, char_escape)
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }

    fn end_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_key(writer)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

/// A count with thousands separators, as every screen and message writes one: 2400 → "2,400".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let head = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        n => n,
    };
    let (first, rest) = digits.split_at(head);
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    out.push_str(first);
    for group in rest.as_bytes().chunks(3) {
        out.push(',');
        out.extend(group.iter().map(|b| char::from(*b)));
    }
    out
}

/// Bytes as lower-case hex (a hash kept as bytes, shown as text).
pub fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

/// Writes `value` as compact JSON with [`SafeStrings`].
pub fn write_json<W: io::Write, T: ?Sized + Serialize>(writer: W, value: &T) -> io::Result<()> {
    let mut serializer =
        serde_json::Serializer::with_formatter(writer, SafeStrings(CompactFormatter));
    value.serialize(&mut serializer).map_err(io::Error::other)
}

/// `value` as compact JSON with [`SafeStrings`].
pub fn to_json_string<T: ?Sized + Serialize>(value: &T) -> io::Result<String> {
    let mut out = Vec::with_capacity(128);
    write_json(&mut out, value)?;
    String::from_utf8(out).map_err(io::Error::other)
}

/// `value` as indented JSON (two spaces, as `serde_json::to_string_pretty`) with
/// [`SafeStrings`].
pub fn to_json_string_pretty<T: ?Sized + Serialize>(value: &T) -> io::Result<String> {
    let mut out = Vec::with_capacity(1024);
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, SafeStrings(PrettyFormatter::new()));
    value.serialize(&mut serializer).map_err(io::Error::other)?;
    String::from_utf8(out).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated_and_hashes_shown_in_hex() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(2_319_004), "2,319,004");
        assert_eq!(lower_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
    use serde_json::json;

    const HOSTILE: &str = "SN\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}[2J\u{9b}31m\u{202e}gpj.exe\r\n";

    fn no_controls(text: &str) -> bool {
        !text.chars().any(|c| c.is_control() || is_bidi_control(c))
    }

    #[test]
    fn a_line_shows_every_control_as_a_picture() {
        let shown = terminal_line(HOSTILE);
        assert!(no_controls(&shown), "{shown:?}");
        assert_eq!(shown, "SN␛]52;c;cHduZWQ=␇␛[2J\u{fffd}31m\u{fffd}gpj.exe␍␊");
        assert_eq!(terminal_line("tab\there"), "tab␉here");
        assert_eq!(terminal_line("del\u{7f}"), "del␡");
    }

    #[test]
    fn clean_text_is_borrowed_and_unchanged() {
        for text in ["SD-000042", "Zürich ✔ 東京", ""] {
            assert!(matches!(terminal_line(text), Cow::Borrowed(t) if t == text));
            assert!(matches!(terminal_lines(text), Cow::Borrowed(_)));
            assert!(matches!(csv_cell(text), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn lines_keep_line_feeds_and_tabs_only() {
        assert_eq!(terminal_lines("a\tb\nc\r\n\u{1b}[K"), "a\tb\nc␍\n␛[K");
        assert!(!terminal_lines(HOSTILE).contains(['\u{1b}', '\u{9b}', '\u{7}', '\r']));
    }

    #[test]
    fn csv_cells_neutralise_formula_starts() {
        for (cell, expected) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'␉=1"),
            ("\r=1", "'\r=1"),
            ("a\r\nb", "a\r\nb"),
            ("＝1", "'＝1"),
            ("a=b", "a=b"),
            ("SD-1", "SD-1"),
            ("two\nlines", "two\nlines"),
            ("x\u{1b}[2J", "x␛[2J"),
        ] {
            assert_eq!(csv_cell(cell), expected, "{cell:?}");
        }
    }

    #[test]
    fn json_escapes_c1_del_and_bidi_and_reads_back_the_same() {
        let value = json!({"message": HOSTILE, "list": ["\u{85}", "plain"]});
        for text in [
            to_json_string(&value).unwrap(),
            to_json_string_pretty(&value).unwrap(),
        ] {
            assert!(text.is_ascii() || no_controls(&text), "{text:?}");
            assert!(!text.contains(['\u{1b}', '\u{9b}', '\u{85}', '\u{7f}', '\u{202e}']));
            assert!(
                text.contains("\\u009b") && text.contains("\\u001b"),
                "{text}"
            );
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, value);
        }
        // The pretty form is serde_json's own layout.
        assert_eq!(
            to_json_string_pretty(&json!({"a": [1]})).unwrap(),
            serde_json::to_string_pretty(&json!({"a": [1]})).unwrap()
        );
        assert_eq!(to_json_string(&json!({"a": "é"})).unwrap(), r#"{"a":"é"}"#);
    }
}
