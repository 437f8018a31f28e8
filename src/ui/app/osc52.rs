//! Copy to the operator's clipboard through the terminal (OSC 52): works over SSH, since the
//! terminal on the operator's desk does the copying. tmux passes it on with
//! `set -g set-clipboard on`.

use std::io::{self, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// `ESC ] 52 ; c ; <base64> BEL`: "set the clipboard to this text". The text quotes what
/// sources and destinations said: its controls are made visible first
/// ([`crate::text::terminal_lines`]), so a paste never carries an escape sequence (nor the end
/// of a bracketed paste) into the operator's shell.
pub fn sequence(text: &str) -> String {
    let text = crate::text::terminal_lines(text);
    format!("\x1b]52;c;{}\x07", STANDARD.encode(text.as_bytes()))
}

/// Writes the sequence and flushes, so it reaches the terminal before the next frame.
pub fn copy(out: &mut dyn Write, text: &str) -> io::Result<()> {
    out.write_all(sequence(text).as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_base64_between_osc_52_and_bel() {
        assert_eq!(sequence("hi ✔"), "\x1b]52;c;aGkg4pyU\x07");
        let mut out = Vec::new();
        copy(&mut out, "").unwrap();
        assert_eq!(out, b"\x1b]52;c;\x07");
    }

    #[test]
    fn copied_text_carries_no_control_but_line_breaks() {
        let hostile = "message: \u{1b}[201~rm -rf ~\r\n\u{9b}0m\tend";
        let encoded = sequence(hostile);
        let body = &encoded["\x1b]52;c;".len()..encoded.len() - 1];
        let copied = String::from_utf8(STANDARD.decode(body).unwrap()).unwrap();
        assert_eq!(copied, "message: ␛[201~rm -rf ~␍\n\u{fffd}0m\tend");
    }
}
