//! A reader over the spanned TOML tree that records every problem instead of stopping at the
//! first, each with its line, column and key path.

use std::collections::BTreeMap;
use std::ops::{Range, RangeInclusive};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::problem::Problem;

type Value<'i> = Spanned<DeValue<'i>>;

/// A table being read, with its key path for messages (`connections[1].update`).
pub(super) struct Table<'a, 'i> {
    pub path: String,
    pub span: Range<usize>,
    pub map: &'a DeTable<'i>,
}

impl<'a, 'i> Table<'a, 'i> {
    /// The root table of a document.
    pub fn root(doc: &'a Spanned<DeTable<'i>>) -> Self {
        Table {
            path: String::new(),
            span: doc.span(),
            map: doc.get_ref(),
        }
    }

    /// The key path of one of this table's keys.
    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn value(&self, key: &str) -> Option<&'a Value<'i>> {
        self.map.get(key)
    }
}

/// Collects problems while typed values are pulled out of tables.
pub(super) struct Reader {
    line_starts: Vec<usize>,
    pub problems: Vec<Problem>,
}

impl Reader {
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Reader {
            line_starts,
            problems: Vec::new(),
        }
    }

    /// 1-based line and column of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let column = offset - self.line_starts[line.saturating_sub(1)] + 1;
        (line.max(1), column)
    }

    /// Records a problem at a span.
    pub fn problem(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let (line, column) = self.position(span.start);
        self.problems.push(Problem {
            line,
            column,
            key: key.into(),
            message: message.into(),
        });
    }

    /// Flags every key of `table` not in `allowed`, suggesting the closest allowed one.
    pub fn check_keys(&mut self, table: &Table, allowed: &[&str]) {
        for (key, _) in table.map.iter() {
            let name = key.get_ref().as_ref();
            if allowed.contains(&name) {
                continue;
            }
            let mut message = format!("unknown key `{name}`");
            match closest(name, allowed) {
                Some(near) => message.push_str(&format!(" (did you mean `{near}`?)")),
                None => message.push_str(&format!(" (expected one of: {})", allowed.join(", "))),
            }
            self.problem(key.span(), table.key_path(name), message);
        }
    }

    fn missing(&mut self, table: &Table, key: &str, expected: &str) {
        let what = if table.path.is_empty() {
            "the file".to_string()
        } else {
            format!("[{}]", table.path)
        };
        self.problem(
            table.span.clone(),
            table.key_path(key),
            format!("missing key `{key}` in {what} (expected {expected})"),
        );
    }

    fn wrong_type(&mut self, table: &Table, key: &str, value: &Value, expected: &str) {
        self.problem(
            value.span(),
            table.key_path(key),
            format!("expected {expected}, found {}", describe(value.get_ref())),
        );
    }

    /// A string; `required` reports its absence.
    pub fn string(&mut self, table: &Table, key: &str, required: bool) -> Option<String> {
        let Some(value) = table.value(key) else {
            if required {
                self.missing(table, key, "a string");
            }
            return None;
        };
        match value.get_ref() {
            DeValue::String(s) if s.trim().is_empty() => {
                self.problem(
                    value.span(),
                    table.key_path(key),
                    "expected a non-empty string",
                );
                None
            }
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(table, key, value, "a string");
                None
            }
        }
    }

    /// A string with the span of its value, for checks made by the caller.
    pub fn spanned_string(
        &mut self,
        table: &Table,
        key: &str,
        required: bool,
    ) -> Option<(String, Range<usize>)> {
        let span = table.value(key).map(Spanned::span);
        let text = self.string(table, key, required)?;
        span.map(|span| (text, span))
    }

    /// Span of a key's value, or of the table when the key is absent.
    pub fn span_of(&self, table: &Table, key: &str) -> Range<usize> {
        table.value(key).map_or(table.span.clone(), Spanned::span)
    }

    pub fn bool(&mut self, table: &Table, key: &str) -> Option<bool> {
        let value = table.value(key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(table, key, value, "true or false");
                None
            }
        }
    }

    /// A whole number within `range`.
    pub fn uint(&mut self, table: &Table, key: &str, range: RangeInclusive<u64>) -> Option<u64> {
        let value = table.value(key)?;
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        let number = match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        match number {
            Some(n) if n >= 0 && range.contains(&(n as u64)) => Some(n as u64),
            Some(n) => {
                self.problem(
                    value.span(),
                    table.key_path(key),
                    format!("expected {expected}, found {n}"),
                );
                None
            }
            None => {
                self.wrong_type(table, key, value, &expected);
                None
            }
        }
    }

    /// A positive number (integer or float).
    pub fn positive_float(&mut self, table: &Table, key: &str) -> Option<f64> {
        let value = table.value(key)?;
        let number = match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            _ => None,
        };
        match number {
            Some(n) if n.is_finite() && n > 0.0 => Some(n),
            _ => {
                self.wrong_type(table, key, value, "a number greater than 0");
                None
            }
        }
    }

    /// A sub-table; `required` reports its absence.
    pub fn table<'a, 'i>(
        &mut self,
        table: &Table<'a, 'i>,
        key: &str,
        required: bool,
    ) -> Option<Table<'a, 'i>> {
        let Some(value) = table.value(key) else {
            if required {
                self.missing(table, key, &format!("a table [{}]", table.key_path(key)));
            }
            return None;
        };
        match value.get_ref() {
            DeValue::Table(map) => Some(Table {
                path: table.key_path(key),
                span: value.span(),
                map,
            }),
            _ => {
                self.wrong_type(table, key, value, "a table");
                None
            }
        }
    }

    /// An array of tables (`[[connections]]`), each with its indexed path.
    pub fn tables<'a, 'i>(&mut self, table: &Table<'a, 'i>, key: &str) -> Vec<Table<'a, 'i>> {
        let Some(value) = table.value(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(table, key, value, &format!("an array of tables [[{key}]]"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let path = format!("{}[{index}]", table.key_path(key));
            match item.get_ref() {
                DeValue::Table(map) => out.push(Table {
                    path,
                    span: item.span(),
                    map,
                }),
                other => self.problem(
                    item.span(),
                    path,
                    format!("expected a table, found {}", describe(other)),
                ),
            }
        }
        out
    }

    /// A table of strings (`query = { serial = "{serial}" }`).
    pub fn string_map(&mut self, table: &Table, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(sub) = self.table(table, key, false) else {
            return out;
        };
        for (name, value) in sub.map.iter() {
            let name = name.get_ref().to_string();
            match value.get_ref() {
                DeValue::String(s) => {
                    out.insert(name, s.to_string());
                }
                DeValue::Integer(i) => {
                    out.insert(name, i.to_string());
                }
                other => self.problem(
                    value.span(),
                    sub.key_path(&name),
                    format!("expected a string, found {}", describe(other)),
                ),
            }
        }
        out
    }

    /// A string, number or boolean as JSON (`value = "Laptop"`, `equals = "error"`).
    pub fn scalar(&mut self, table: &Table, key: &str) -> Option<serde_json::Value> {
        let value = table.value(key)?;
        match scalar_json(value.get_ref()) {
            Some(json) => Some(json),
            None => {
                self.wrong_type(table, key, value, "a string, number or boolean");
                None
            }
        }
    }

    /// True when the key holds a string (to tell `concurrency = "auto"` from a number).
    pub fn is_string(&self, table: &Table, key: &str) -> bool {
        matches!(
            table.value(key).map(Spanned::get_ref),
            Some(DeValue::String(_))
        )
    }

    /// An array of strings (`on = ["failed", "incomplete"]`), each with its span; None when the
    /// key is absent (or not an array, which is reported).
    pub fn string_list(&mut self, table: &Table, key: &str) -> Option<Vec<(String, Range<usize>)>> {
        let value = table.value(key)?;
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(table, key, value, "an array of strings");
            return None;
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push((s.to_string(), item.span())),
                other => self.problem(
                    item.span(),
                    table.key_path(key),
                    format!("expected a string, found {}", describe(other)),
                ),
            }
        }
        Some(out)
    }

    /// Query parameters (`query = { section = ["GENERAL", "HARDWARE"], sort = "id:asc" }`): a
    /// string or a whole number per key, or an array of them for a key sent more than once.
    pub fn string_pairs(&mut self, table: &Table, key: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(sub) = self.table(table, key, false) else {
            return out;
        };
        for (name, value) in sub.map.iter() {
            let name = name.get_ref().to_string();
            let items: Vec<&Value> = match value.get_ref() {
                DeValue::Array(items) => items.iter().collect(),
                _ => vec![value],
            };
            for item in items {
                match item.get_ref() {
                    DeValue::String(s) => out.push((name.clone(), s.to_string())),
                    DeValue::Integer(i) => out.push((name.clone(), i.to_string())),
                    other => self.problem(
                        item.span(),
                        sub.key_path(&name),
                        format!(
                            "expected a string (or an array of strings), found {}",
                            describe(other)
                        ),
                    ),
                }
            }
        }
        out
    }

    /// A table of scalar values as JSON (`values = { in_use = "In Use", spare = 3 }`).
    pub fn scalar_map(
        &mut self,
        table: &Table,
        key: &str,
    ) -> Option<BTreeMap<String, serde_json::Value>> {
        let sub = self.table(table, key, false)?;
        let mut out = BTreeMap::new();
        for (name, value) in sub.map.iter() {
            let name = name.get_ref().to_string();
            let json = scalar_json(value.get_ref());
            match json {
                Some(json) => {
                    out.insert(name, json);
                }
                None => self.problem(
                    value.span(),
                    sub.key_path(&name),
                    format!(
                        "expected a string, number or boolean, found {}",
                        describe(value.get_ref())
                    ),
                ),
            }
        }
        Some(out)
    }
}

/// A TOML scalar as JSON; None for arrays, tables and date-times.
fn scalar_json(value: &DeValue) -> Option<serde_json::Value> {
    match value {
        DeValue::String(s) => Some(serde_json::Value::String(s.to_string())),
        DeValue::Boolean(b) => Some(serde_json::Value::Bool(*b)),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(serde_json::Value::from),
        DeValue::Float(f) => f
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number),
        _ => None,
    }
}

/// "a string \"x\"", "an integer 5", "a table": what was found, for messages.
fn describe(value: &DeValue) -> String {
    match value {
        DeValue::String(s) if s.chars().count() <= 40 => format!("the string \"{s}\""),
        DeValue::String(_) => "a string".to_string(),
        DeValue::Integer(i) => format!("the integer {i}"),
        DeValue::Float(f) => format!("the number {f}"),
        DeValue::Boolean(b) => format!("the boolean {b}"),
        DeValue::Datetime(_) => "a date-time".to_string(),
        DeValue::Array(_) => "an array".to_string(),
        DeValue::Table(_) => "a table".to_string(),
    }
}

/// The allowed name closest to a misspelt one, if it is close enough to be a typo.
fn closest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (edit_distance(name, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let reader = Reader::new("a = 1\nbb = 2\n");
        assert_eq!(reader.position(0), (1, 1));
        assert_eq!(reader.position(6), (2, 1));
        assert_eq!(reader.position(8), (2, 3));
    }

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(
            closest("base_ulr", &["base_url", "endpoint"]),
            Some("base_url")
        );
        assert_eq!(closest("colour", &["base_url", "endpoint"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
