//! Serials and ids that are JSON numbers keep their exact text.
//!
//! serde_json reads a number that is not an integer in the range of i64/u64 as an f64: two
//! serials of 23 digits that differ in the last one read as the same float, `-0` reads as
//! `-0.0`, `1E3` as `1000.0`. For a serial or an id that is a silent change of key, and
//! records merge or are written under another id.
//!
//! serde_json's `arbitrary_precision` would keep the text of every number, at a cost on every
//! number of every record (a string per number, parsed again at each use) and with a different
//! `Value` everywhere. Instead, only the key fields are looked at: when one of a page's records
//! holds a float there (rare: most serials are strings or small integers, and then nothing
//! here runs), the page's bytes are walked once more for the text of exactly those numbers,
//! and a number whose text does not read back the same is replaced by that text as a string.

use serde_json::Value;

use super::values::value_at;

/// One step of a path inside a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// One step of a pattern over paths: a key, or any position in an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    AnyIndex,
}

/// In each of `records` (the list found at `list_path` in the document `body`), replaces the
/// number at each of `fields` (dotted paths) by its exact text from `body` when serde_json's
/// reading of it would not give that text back.
pub(crate) fn restore(body: &[u8], list_path: &[String], fields: &[String], records: &mut [Value]) {
    let lossy = |record: &Value| {
        fields
            .iter()
            .any(|field| matches!(value_at(record, field), Some(Value::Number(n)) if n.is_f64()))
    };
    if !records.iter().any(lossy) {
        return;
    }
    let field_paths: Vec<Vec<&str>> = fields.iter().map(|f| f.split('.').collect()).collect();
    let patterns: Vec<Vec<Step>> = field_paths
        .iter()
        .map(|field| {
            list_path
                .iter()
                .map(|key| Step::Key(key))
                .chain([Step::AnyIndex])
                .chain(field.iter().map(|key| Step::Key(key)))
                .collect()
        })
        .collect();
    for found in walk(body, &patterns) {
        let Some(record) = found.index.and_then(|index| records.get_mut(index)) else {
            continue;
        };
        replace_if_lossy(
            value_at_mut(record, &field_paths[found.pattern]),
            found.text,
        );
    }
}

/// [`restore`] for a document that is one record (a `_single` lookup).
pub(crate) fn restore_record(body: &[u8], fields: &[String], record: &mut Value) {
    for field in fields {
        let path: Vec<&str> = field.split('.').collect();
        let Some(value) = value_at(record, field) else {
            continue;
        };
        if let Some(text) = exact_text(body, &path, value) {
            replace_if_lossy(value_at_mut(record, &path), text);
        }
    }
}

/// The exact text of the number at `path` (keys from the top of the document `body`), when
/// serde_json's reading of it, `value`, would not give that text back.
pub(crate) fn exact_text(body: &[u8], path: &[&str], value: &Value) -> Option<String> {
    let Value::Number(number) = value else {
        return None;
    };
    if !number.is_f64() {
        return None;
    }
    let pattern: Vec<Step> = path.iter().map(|key| Step::Key(key)).collect();
    walk(body, &[pattern])
        .into_iter()
        .map(|found| found.text)
        .find(|text| *text != number.to_string())
}

fn replace_if_lossy(slot: Option<&mut Value>, text: String) {
    if let Some(slot) = slot
        && let Value::Number(number) = slot
        && number.is_f64()
        && number.to_string() != text
    {
        *slot = Value::String(text);
    }
}

fn value_at_mut<'v>(value: &'v mut Value, path: &[&str]) -> Option<&'v mut Value> {
    path.iter()
        .try_fold(value, |value, segment| value.get_mut(*segment))
}

/// A number found at one of the patterns.
struct Found {
    pattern: usize,
    /// The array position the pattern's [`Step::AnyIndex`] matched.
    index: Option<usize>,
    text: String,
}

/// The numbers of the JSON document `body` at the paths `patterns` describe. The body already
/// parsed as JSON (its nesting is bounded by serde_json's limit): a walk that stops early only
/// finds fewer numbers.
fn walk(body: &[u8], patterns: &[Vec<Step>]) -> Vec<Found> {
    let mut walker = Walker {
        bytes: body,
        at: 0,
        path: Vec::new(),
        patterns,
        found: Vec::new(),
    };
    let _ = walker.value();
    walker.found
}

/// Walks a JSON document, noting the text of the numbers at the patterns' paths.
struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
    path: Vec<Segment>,
    patterns: &'a [Vec<Step<'a>>],
    found: Vec<Found>,
}

impl Walker<'_> {
    fn peek(&mut self) -> Option<u8> {
        while let Some(byte) = self.bytes.get(self.at) {
            if !byte.is_ascii_whitespace() {
                return Some(*byte);
            }
            self.at += 1;
        }
        None
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'{' => {
                self.at += 1;
                if self.peek()? == b'}' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    let key = self.string()?;
                    self.expect(b':')?;
                    self.path.push(Segment::Key(key));
                    self.value()?;
                    self.path.pop();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.at += 1;
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                let mut index = 0;
                loop {
                    self.path.push(Segment::Index(index));
                    self.value()?;
                    self.path.pop();
                    match self.peek()? {
                        b',' => {
                            self.at += 1;
                            index += 1;
                        }
                        b']' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    self.at += 1;
                }
                self.number(start);
                Some(())
            }
            _ => {
                // true, false, null
                while self.bytes.get(self.at).is_some_and(u8::is_ascii_alphabetic) {
                    self.at += 1;
                }
                Some(())
            }
        }
    }

    /// A string token, decoded (keys are compared with the patterns' keys).
    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at;
        self.at += 1;
        let mut escaped = false;
        loop {
            match *self.bytes.get(self.at)? {
                b'\\' => {
                    escaped = true;
                    self.at += 2;
                }
                b'"' => {
                    self.at += 1;
                    break;
                }
                _ => self.at += 1,
            }
        }
        let token = self.bytes.get(start..self.at)?;
        if escaped {
            serde_json::from_slice(token).ok()
        } else {
            std::str::from_utf8(&token[1..token.len() - 1])
                .ok()
                .map(str::to_string)
        }
    }

    /// Notes the number that starts at `start` when the current path matches a pattern.
    fn number(&mut self, start: usize) {
        for (pattern, steps) in self.patterns.iter().enumerate() {
            if steps.len() != self.path.len() {
                continue;
            }
            let mut index = None;
            let matched =
                steps
                    .iter()
                    .zip(&self.path)
                    .all(|(step, segment)| match (step, segment) {
                        (Step::Key(key), Segment::Key(k)) => k == key,
                        (Step::AnyIndex, Segment::Index(i)) => {
                            index = Some(*i);
                            true
                        }
                        _ => false,
                    });
            if !matched {
                continue;
            }
            if let Ok(text) = std::str::from_utf8(&self.bytes[start..self.at]) {
                self.found.push(Found {
                    pattern,
                    index,
                    text: text.to_string(),
                });
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn restored(body: &str, list_path: &[&str], fields: &[&str]) -> Vec<Value> {
        let mut document: Value = serde_json::from_str(body).unwrap();
        let list_path: Vec<String> = list_path.iter().map(|s| s.to_string()).collect();
        let mut list = list_path
            .iter()
            .try_fold(&mut document, |v, k| v.get_mut(k.as_str()))
            .and_then(|v| v.as_array_mut())
            .map(std::mem::take)
            .unwrap();
        let fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        restore(body.as_bytes(), &list_path, &fields, &mut list);
        list
    }

    #[test]
    fn large_serials_keep_their_digits_and_stay_distinct() {
        let body = r#"{"data": {"items": [
            {"serial": 12345678901234567890123, "n": 1.5e300},
            {"serial": 12345678901234567890124, "n": 1.00},
            {"serial": 42, "n": 7}
        ]}}"#;
        let list = restored(body, &["data", "items"], &["serial"]);
        assert_eq!(list[0]["serial"], json!("12345678901234567890123"));
        assert_eq!(list[1]["serial"], json!("12345678901234567890124"));
        // An integer serde_json reads exactly stays a number; other fields are not touched.
        assert_eq!(list[2]["serial"], json!(42));
        assert_eq!(list[1]["n"], json!(1.0));
    }

    #[test]
    fn minus_zero_and_exponents_keep_their_text_and_exact_floats_stay_numbers() {
        let body = r#"[{"id": -0}, {"id": 1E3}, {"id": 1.5}, {"id": 0.1}, {"id": "-0"}]"#;
        let list = restored(body, &[], &["id"]);
        assert_eq!(list[0]["id"], json!("-0"));
        assert_eq!(list[1]["id"], json!("1E3"));
        assert_eq!(list[2]["id"], json!(1.5));
        assert_eq!(list[3]["id"], json!(0.1));
        assert_eq!(list[4]["id"], json!("-0"));
    }

    #[test]
    fn one_number_by_its_path() {
        let body = br#"{"result": {"sys_id": 123456789012345678901, "n": 2}}"#;
        let value: Value = serde_json::from_slice(body).unwrap();
        let id = &value["result"]["sys_id"];
        assert_eq!(
            exact_text(body, &["result", "sys_id"], id).as_deref(),
            Some("123456789012345678901")
        );
        assert_eq!(
            exact_text(body, &["result", "n"], &value["result"]["n"]),
            None
        );
    }

    #[test]
    fn nested_fields_escaped_keys_and_strings_that_look_like_numbers() {
        let body = r#"{"result": [
            {"a\"b": "1e5 \"x\" [", "device": {"serial": 9007199254740993.0, "id": -0.0}},
            {"device": {"serial": "9007199254740993"}}
        ]}"#;
        let list = restored(body, &["result"], &["device.serial", "device.id"]);
        assert_eq!(list[0]["device"]["serial"], json!("9007199254740993.0"));
        // "-0.0" reads back as it was written: a number still.
        assert!(list[0]["device"]["id"].is_f64());
        assert_eq!(list[1]["device"]["serial"], json!("9007199254740993"));
    }
}
