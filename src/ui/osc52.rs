//! Copy to the operator's clipboard through the terminal (OSC 52): works over SSH, since the
//! terminal on the operator's desk does the copying. tmux passes it on with
//! `set -g set-clipboard on`.

use std::io::{self, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// `ESC ] 52 ; c ; <base64> BEL`: "set the clipboard to this text".
pub fn sequence(text: &str) -> String {
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
}
