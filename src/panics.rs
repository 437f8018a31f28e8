//! The text of a panic, for the whole crate: the engine turns a panicked task or worker into an
//! error an operator reads, the UI a panicked background job into a line on screen. A leaf: it
//! uses nothing of ours, so every module can use it.

use std::any::Any;

/// The message a panic was raised with, when it was a string (`panic!("…")` gives a `&str` or
/// a `String`); None for any other payload.
pub fn payload_text(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

/// The message of a caught panic, from its payload, as the engine records it.
pub fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let message = payload_text(&*payload).unwrap_or_else(|| "unknown panic".to_string());
    format!("internal error (panic): {message}")
}

/// The message of a task that ended without finishing: its panic, or its cancellation.
pub fn panic_text(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return "the task was canceled".to_string();
    }
    panic_message(error.into_panic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_payloads_give_their_text_and_others_do_not() {
        let caught = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(payload_text(&*caught).as_deref(), Some("plain"));
        let caught = std::panic::catch_unwind(|| panic!("formatted {}", 7)).unwrap_err();
        assert_eq!(panic_message(caught), "internal error (panic): formatted 7");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(42_u8)).unwrap_err();
        assert_eq!(payload_text(&*caught), None);
        assert_eq!(
            panic_message(caught),
            "internal error (panic): unknown panic"
        );
    }
}
