//! Positions in JSON answers (SPEC section 11): dotted paths, or JSON Pointers (RFC 6901) when
//! they start with `/`, for keys that hold dots (`/@odata.nextLink`).

use serde::Serialize;

/// Where a value sits in a JSON document: a dotted path (`data.items`), or a JSON Pointer
/// (RFC 6901) when it starts with `/` (`/@odata.nextLink`, for keys that hold dots).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub segments: Vec<String>,
    /// Written as a JSON Pointer: each segment is a whole key.
    pub pointer: bool,
}

impl Position {
    /// Parses a dotted path with no empty segment, or a JSON Pointer (`~1` is `/`, `~0` is `~`).
    pub fn parse(text: &str) -> Option<Position> {
        if let Some(pointer) = text.strip_prefix('/') {
            let mut segments = Vec::new();
            for raw in pointer.split('/') {
                if raw.is_empty() {
                    return None;
                }
                // `~` must be followed by 0 or 1.
                let mut segment = String::new();
                let mut chars = raw.chars();
                while let Some(c) = chars.next() {
                    if c == '~' {
                        match chars.next() {
                            Some('0') => segment.push('~'),
                            Some('1') => segment.push('/'),
                            _ => return None,
                        }
                    } else {
                        segment.push(c);
                    }
                }
                segments.push(segment);
            }
            return Some(Position {
                segments,
                pointer: true,
            });
        }
        let segments: Vec<String> = text.split('.').map(str::to_string).collect();
        if segments.iter().any(|s| s.trim().is_empty()) {
            return None;
        }
        Some(Position {
            segments,
            pointer: false,
        })
    }

    /// The value at this position. A dotted path also finds a key that itself holds dots
    /// (`@odata.nextLink` written without the pointer's `/`).
    pub fn find<'v>(&self, value: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        if self.pointer {
            return self
                .segments
                .iter()
                .try_fold(value, |v, segment| step(v, segment));
        }
        find_dotted(value, &self.segments)
    }

    /// The keys [`Position::find`] walks through in `value` (a dotted path's keys that hold
    /// dots joined back), None when nothing is there.
    pub fn route(&self, value: &serde_json::Value) -> Option<Vec<String>> {
        if self.pointer {
            return Some(self.segments.clone());
        }
        route_dotted(value, &self.segments)
    }

    /// [`Position::find`], mutably.
    pub fn find_mut<'v>(
        &self,
        value: &'v mut serde_json::Value,
    ) -> Option<&'v mut serde_json::Value> {
        let route = if self.pointer {
            self.segments.clone()
        } else {
            route_dotted(value, &self.segments)?
        };
        route
            .iter()
            .try_fold(value, |v, segment| step_mut(v, segment))
    }
}

fn step<'v>(value: &'v serde_json::Value, segment: &str) -> Option<&'v serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map.get(segment),
        serde_json::Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
        _ => None,
    }
}

fn step_mut<'v>(
    value: &'v mut serde_json::Value,
    segment: &str,
) -> Option<&'v mut serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map.get_mut(segment),
        serde_json::Value::Array(items) => items.get_mut(segment.parse::<usize>().ok()?),
        _ => None,
    }
}

/// Segments joined back with dots, tried from the longest key: `a.b.c` finds `{"a.b": {"c"}}`.
fn find_dotted<'v>(
    value: &'v serde_json::Value,
    segments: &[String],
) -> Option<&'v serde_json::Value> {
    if segments.is_empty() {
        return Some(value);
    }
    for take in (1..=segments.len()).rev() {
        let key = segments[..take].join(".");
        if let Some(inner) = step(value, &key)
            && let Some(found) = find_dotted(inner, &segments[take..])
        {
            return Some(found);
        }
    }
    None
}

/// The keys [`find_dotted`] walks through, for the mutable walk.
fn route_dotted(value: &serde_json::Value, segments: &[String]) -> Option<Vec<String>> {
    if segments.is_empty() {
        return Some(Vec::new());
    }
    for take in (1..=segments.len()).rev() {
        let key = segments[..take].join(".");
        if let Some(inner) = step(value, &key)
            && let Some(mut rest) = route_dotted(inner, &segments[take..])
        {
            rest.insert(0, key);
            return Some(rest);
        }
    }
    None
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pointer {
            for segment in &self.segments {
                write!(f, "/{}", segment.replace('~', "~0").replace('/', "~1"))?;
            }
            Ok(())
        } else {
            f.write_str(&self.segments.join("."))
        }
    }
}

impl Serialize for Position {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A dotted path as its segments, as before pointers existed (config hashes stay put).
        if self.pointer {
            serializer.collect_str(self)
        } else {
            self.segments.serialize(serializer)
        }
    }
}
