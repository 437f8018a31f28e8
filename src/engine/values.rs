//! Reading and showing JSON values: dotted paths into a record and the short text of a value in
//! an error. A leaf below the listing, lookup, mapping and delivery code that all read records.

use serde_json::Value;

/// Longest value text kept in an error (report rows and messages stay readable).
const SHOWN_VALUE_CHARS: usize = 60;

/// The value at a dotted path (`hardware.memory_gb`).
pub fn value_at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(value, |value, segment| value.get(segment))
}

/// The text at a dotted path: a non-empty string as it is, a number as its text; None for
/// anything else (absent, null, empty, boolean, object, array).
pub fn text_at(value: &Value, path: &str) -> Option<String> {
    match value_at(value, path)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The value at a dotted path; a key that itself contains dots is found too.
pub(crate) fn get_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(value);
    }
    let object = value.as_object()?;
    if let Some(found) = object.get(path) {
        return Some(found);
    }
    path.match_indices('.').find_map(|(dot, _)| {
        let inner = object.get(&path[..dot])?;
        get_path(inner, &path[dot + 1..])
    })
}

/// A value as compact JSON text, shortened to [`SHOWN_VALUE_CHARS`] characters.
pub(crate) fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.char_indices().nth(SHOWN_VALUE_CHARS).is_none() {
        return text;
    }
    let cut = text
        .char_indices()
        .nth(SHOWN_VALUE_CHARS - 1)
        .map_or(text.len(), |(at, _)| at);
    format!("{}…", &text[..cut])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dotted_paths_read_nested_and_dotted_keys() {
        let record = json!({"user": {"email": "a"}, "x.y": 1, "deep": {"a.b": {"c": 2}}});
        assert_eq!(get_path(&record, "user.email"), Some(&json!("a")));
        assert_eq!(get_path(&record, "x.y"), Some(&json!(1)));
        assert_eq!(get_path(&record, "deep.a.b.c"), Some(&json!(2)));
        assert_eq!(get_path(&record, "user.name"), None);
    }

    #[test]
    fn serials_are_text_or_numbers() {
        let record = json!({"serial": "A1", "n": 42, "e": "", "b": true, "d": {"s": 7}});
        assert_eq!(text_at(&record, "serial").as_deref(), Some("A1"));
        assert_eq!(text_at(&record, "n").as_deref(), Some("42"));
        assert_eq!(text_at(&record, "d.s").as_deref(), Some("7"));
        assert_eq!(text_at(&record, "e"), None);
        assert_eq!(text_at(&record, "b"), None);
        assert_eq!(text_at(&record, "missing"), None);
    }
}
