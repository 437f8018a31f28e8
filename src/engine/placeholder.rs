//! Filling `{serial}`, `{serial|odata}`, `{serial|sn}` and `{id}` into contract paths and query
//! values: the escape a filter language needs first, then percent-encoding on top. Every
//! template goes through here, so a guard on what may reach a URL sits in one place.

/// The escape a placeholder names after its `|`.
fn escape(value: &str, escape: &str) -> String {
    match escape {
        // OData string literals double a single quote (OData URL conventions, 4.01 §2.2.2).
        "odata" => value.replace('\'', "''"),
        // ServiceNow encoded queries join conditions with `^`; a literal one is doubled.
        "sn" => value.replace('^', "^^"),
        _ => value.to_string(),
    }
}

/// `template` with each `{serial…}` placeholder replaced by the escaped serial, as text (a
/// query value, percent-encoded later with the rest of the query).
pub(crate) fn fill_text(template: &str, serial: &str) -> String {
    if !template.contains("{serial") {
        return template.to_string();
    }
    template
        .replace("{serial}", serial)
        .replace("{serial|odata}", &escape(serial, "odata"))
        .replace("{serial|sn}", &escape(serial, "sn"))
}

/// `template` with each `{serial…}` placeholder replaced by the escaped serial, percent-encoded
/// as one path segment (a `/` in a serial must not change the path); refused when the serial
/// cannot be a segment, see [`path_segment`].
pub(crate) fn fill_segment(template: &str, serial: &str) -> Result<String, String> {
    if !template.contains("{serial") {
        return Ok(template.to_string());
    }
    let mut filled = template.to_string();
    for (placeholder, kind) in [
        ("{serial}", ""),
        ("{serial|odata}", "odata"),
        ("{serial|sn}", "sn"),
    ] {
        if filled.contains(placeholder) {
            filled = filled.replace(placeholder, &path_segment(&escape(serial, kind), "serial")?);
        }
    }
    Ok(filled)
}

/// `value` (a serial, a destination id) percent-encoded as one URL path segment. Refused when
/// empty, `.` or `..`: a URL resolves those segments away, so the request would go to the
/// parent path (`/assets/..` is `/`) instead of the record's.
pub(crate) fn path_segment(value: &str, what: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err(format!(
            "the {what} is empty: it cannot be a URL path segment"
        ));
    }
    if value == "." || value == ".." {
        return Err(format!(
            "{what} \"{value}\" cannot be a URL path segment: \".\" and \"..\" would name the \
             parent path, not the record"
        ));
    }
    Ok(encode_segment(value))
}

/// The longest serial syncdeck takes, in bytes: a serial is a key, not a document; a longer one
/// means `id_field` points at the wrong value (or a system sends junk), and it would only go on
/// to fill URLs, error messages and the store's indexes.
pub const MAX_SERIAL_BYTES: usize = 1024;

/// Refuses a serial longer than [`MAX_SERIAL_BYTES`], saying how long it is.
pub(crate) fn check_serial(serial: &str) -> Result<(), String> {
    if serial.len() <= MAX_SERIAL_BYTES {
        return Ok(());
    }
    Err(format!(
        "the serial is {} bytes long, more than the {MAX_SERIAL_BYTES} a serial may have: not \
         looked up or written",
        serial.len()
    ))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a value is always one
/// path segment (or one query value).
pub(crate) fn encode_segment(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A query key or value percent-encoded: space as `%20` (not `+`, which OData and RSQL parsers
/// read as a plus), `&`, `=`, `+`, `#`, `%` and `;` always encoded so a value stays one value;
/// the sub-delimiters filter languages use (`$ ' ( ) , : @ / ! *`) left as they are.
pub(crate) fn encode_query_part(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'$'
                    | b'\''
                    | b'('
                    | b')'
                    | b','
                    | b':'
                    | b'@'
                    | b'/'
                    | b'!'
                    | b'*'
            );
        if keep {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `key=value&…`, each part encoded by [`encode_query_part`].
pub(crate) fn encode_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_query_part(k), encode_query_part(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_then_encodes() {
        assert_eq!(
            fill_text("serialNumber eq '{serial|odata}'", "O'Brien 1"),
            "serialNumber eq 'O''Brien 1'"
        );
        assert_eq!(
            fill_text("serial_number={serial|sn}^active=true", "A^B"),
            "serial_number=A^^B^active=true"
        );
        assert_eq!(
            fill_segment("/a/{serial|odata}", "x'/y").unwrap(),
            "/a/x%27%27%2Fy"
        );
        assert_eq!(
            encode_query(&[("$filter".into(), "serialNumber eq 'A&B=C+D'".into())]),
            "$filter=serialNumber%20eq%20'A%26B%3DC%2BD'"
        );
    }

    #[test]
    fn serials_longer_than_a_kibibyte_are_refused() {
        assert!(check_serial(&"s".repeat(MAX_SERIAL_BYTES)).is_ok());
        assert_eq!(
            check_serial(&"s".repeat(102_400)).err().as_deref(),
            Some(
                "the serial is 102400 bytes long, more than the 1024 a serial may have: not \
                 looked up or written"
            )
        );
    }

    #[test]
    fn dot_and_dot_dot_are_never_a_segment() {
        for template in ["/a/{serial}", "/a/{serial|odata}", "/a/{serial|sn}"] {
            assert!(fill_segment(template, "..").is_err(), "{template}");
            assert!(fill_segment(template, ".").is_err(), "{template}");
        }
        assert_eq!(fill_segment("/a/{serial}", "...").unwrap(), "/a/...");
        assert_eq!(fill_segment("/a", "..").unwrap(), "/a");
    }
}
