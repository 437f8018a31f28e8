//! One field of a diff as the screens list it: `ram_gb  8 → 16`, or, for a field sent with the
//! value the destination already holds (a rule without `on_same = "skip"` sends it), the value
//! once and why it was sent, so it never reads as a change.

use crate::store::FieldChange;

/// What a field sent unchanged is followed by.
pub const SAME_VALUE: &str = "same value, sent: on_same is not skip";

/// True when the field was (or would be) sent with the value the destination already holds.
pub fn is_same_value(change: &FieldChange) -> bool {
    change.old.is_some() && change.old == change.new
}

/// `8 → 16` (`absent` / `not_written` stand for a missing old or new value), or
/// `"lt-par1-00042" (same value, sent: on_same is not skip)`.
pub fn values(change: &FieldChange, absent: &str, not_written: &str) -> String {
    let shown = |value: &Option<serde_json::Value>, missing: &str| {
        value
            .as_ref()
            .map_or_else(|| missing.to_string(), |v| v.to_string())
    };
    if is_same_value(change) {
        return format!("{} ({SAME_VALUE})", shown(&change.new, not_written));
    }
    format!(
        "{} → {}",
        shown(&change.old, absent),
        shown(&change.new, not_written)
    )
}

/// How many fields of a diff change, and how many are sent with the same value.
pub fn counts(diff: &[FieldChange]) -> (usize, usize) {
    let same = diff.iter().filter(|c| is_same_value(c)).count();
    (diff.len() - same, same)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(old: Option<serde_json::Value>, new: Option<serde_json::Value>) -> FieldChange {
        FieldChange {
            field: "name".into(),
            old,
            new,
        }
    }

    #[test]
    fn a_field_sent_with_its_own_value_does_not_read_as_a_change() {
        let same = change(Some(json!("lt-par1-00042")), Some(json!("lt-par1-00042")));
        assert!(is_same_value(&same));
        assert_eq!(
            values(&same, "–", "–"),
            "\"lt-par1-00042\" (same value, sent: on_same is not skip)"
        );
        let changed = change(Some(json!(8)), Some(json!(16)));
        assert!(!is_same_value(&changed));
        assert_eq!(values(&changed, "–", "–"), "8 → 16");
        // Absent before and not written: not a same-value send.
        assert!(!is_same_value(&change(None, None)));
        assert_eq!(
            values(&change(None, Some(json!(1))), "(absent)", "–"),
            "(absent) → 1"
        );
        assert_eq!(counts(&[same, changed]), (1, 1));
    }
}
