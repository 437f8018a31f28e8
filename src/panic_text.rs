//! The message a panic carried: `panic!("…")` leaves a `&str` or a `String` in its payload.
//! One downcast for everyone who catches a panic (the UI's background threads; the engine's
//! tasks can use it too). A leaf module: it knows nothing of the rest of syncdeck.

use std::any::Any;

/// The panic's message, when its payload is text.
pub fn payload_text(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_with_a_literal_or_a_formatted_message_gives_its_text() {
        let literal = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
        assert_eq!(payload_text(&*literal).as_deref(), Some("boom"));
        let n = 7;
        let formatted = std::panic::catch_unwind(|| panic!("boom {n}")).unwrap_err();
        assert_eq!(payload_text(&*formatted).as_deref(), Some("boom 7"));
        let other = std::panic::catch_unwind(|| std::panic::panic_any(42_u8)).unwrap_err();
        assert_eq!(payload_text(&*other), None);
    }
}
