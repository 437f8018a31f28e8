//! Write bodies (SPEC section 3 step 5): a payload as JSON, or as XML under the contract's
//! `xml_root`; and the destination's error code and message read back from an error body.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};
use serde_json::{Map, Value};

use crate::config::BodyFormat;

/// The content type of a JSON body.
pub const JSON: &str = "application/json";
/// The content type of an XML body.
pub const XML: &str = "application/xml";

/// Longest destination error code kept, in characters.
const MAX_CODE_CHARS: usize = 200;
/// Longest destination error message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 2_000;

/// The body and content type of a write: JSON as it is, or XML under `xml_root` with one element
/// per field (nested objects nest, arrays repeat the element, null is an empty element).
pub fn encode(format: &BodyFormat, payload: &Value) -> Result<(Vec<u8>, &'static str), String> {
    match format {
        BodyFormat::Json => serde_json::to_vec(payload)
            .map(|bytes| (bytes, JSON))
            .map_err(|e| format!("cannot encode the payload as JSON: {e}")),
        BodyFormat::Xml { xml_root } => encode_xml(xml_root, payload).map(|bytes| (bytes, XML)),
    }
}

fn encode_xml(root: &str, payload: &Value) -> Result<Vec<u8>, String> {
    let Value::Object(fields) = payload else {
        return Err("an XML body needs an object payload (one element per field)".to_string());
    };
    check_name(root)?;
    let mut writer = Writer::new(Vec::new());
    write(
        &mut writer,
        Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
    )?;
    write_object(&mut writer, root, "", fields)?;
    Ok(writer.into_inner())
}

/// `path` is the dotted path of the object's field in the payload ("" for the root), to name a
/// field whose value cannot be sent.
fn write_object(
    writer: &mut Writer<Vec<u8>>,
    name: &str,
    path: &str,
    fields: &Map<String, Value>,
) -> Result<(), String> {
    write(writer, Event::Start(BytesStart::new(name)))?;
    for (field, value) in fields {
        check_name(field)?;
        let path = if path.is_empty() {
            field.clone()
        } else {
            format!("{path}.{field}")
        };
        write_field(writer, field, &path, value)?;
    }
    write(writer, Event::End(BytesEnd::new(name)))
}

fn write_field(
    writer: &mut Writer<Vec<u8>>,
    name: &str,
    path: &str,
    value: &Value,
) -> Result<(), String> {
    match value {
        Value::Null => write(writer, Event::Empty(BytesStart::new(name))),
        Value::Object(fields) => write_object(writer, name, path, fields),
        // An array is the element repeated, once per item (an empty array writes nothing).
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| write_field(writer, name, path, item)),
        Value::String(text) => {
            check_xml_text(path, text)?;
            write_text(writer, name, text)
        }
        Value::Bool(flag) => write_text(writer, name, if *flag { "true" } else { "false" }),
        Value::Number(number) => write_text(writer, name, &number.to_string()),
    }
}

/// Refuses text with a character XML 1.0 does not allow in a document at all (C0 controls but
/// tab, line feed and carriage return; U+FFFE, U+FFFF), escaped or not: a strict destination
/// rejects the body, a lax one stores something no XML reader can read back. Naming the field
/// lets the operator find the record's bad value.
fn check_xml_text(path: &str, text: &str) -> Result<(), String> {
    let forbidden = |c: char| matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}');
    match text.chars().enumerate().find(|(_, c)| forbidden(*c)) {
        None => Ok(()),
        Some((at, c)) => Err(format!(
            "field {path} holds U+{:04X} (character {}), which XML 1.0 does not allow: the record \
             is not sent",
            c as u32,
            at + 1
        )),
    }
}

fn write_text(writer: &mut Writer<Vec<u8>>, name: &str, text: &str) -> Result<(), String> {
    write(writer, Event::Start(BytesStart::new(name)))?;
    write(writer, Event::Text(BytesText::new(text)))?;
    write(writer, Event::End(BytesEnd::new(name)))
}

fn write(writer: &mut Writer<Vec<u8>>, event: Event<'_>) -> Result<(), String> {
    writer
        .write_event(event)
        .map_err(|e| format!("cannot write the XML body: {e}"))
}

/// Refuses names that would not make an XML element (`<1x>`, `<a b>`, `<>`), so a bad mapping
/// target is a clear error here rather than a malformed body at the destination.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = match chars.next() {
        Some(first) if first.is_alphabetic() || first == '_' => {
            chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        }
        _ => false,
    };
    let reserved = name.len() >= 3 && name[..3].eq_ignore_ascii_case("xml");
    if valid && !reserved {
        Ok(())
    } else {
        Err(format!("'{name}' cannot be an XML element name"))
    }
}

/// The destination's error code and message, best effort, from a JSON body
/// (`{"error": {"code", "message"}}`, `{"code", "message"}`, `{"error": "text"}`) or an XML one
/// (`<error><code/><message/></error>`). Anything else, or a body that does not parse, gives
/// nothing.
pub fn error_details(body: &[u8], content_type: Option<&str>) -> (Option<String>, Option<String>) {
    let media = content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let first = body
        .iter()
        .find(|b| !b.is_ascii_whitespace() && **b != 0xEF && **b != 0xBB && **b != 0xBF)
        .copied();
    let looks_json = media == JSON || media.ends_with("+json") || matches!(first, Some(b'{'));
    let looks_xml = media == XML
        || media == "text/xml"
        || media.ends_with("+xml")
        || matches!(first, Some(b'<'));
    let (code, message) = if looks_json && first == Some(b'{') {
        json_details(body)
    } else if looks_xml && first == Some(b'<') {
        xml_details(body)
    } else {
        (None, None)
    };
    (
        code.and_then(|c| tidy(&c, MAX_CODE_CHARS)),
        message.and_then(|m| tidy(&m, MAX_MESSAGE_CHARS)),
    )
}

fn json_details(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let from = |object: &Map<String, Value>| {
        let code = object
            .get("code")
            .or_else(|| object.get("error_code"))
            .and_then(scalar_text);
        let message = object
            .get("message")
            .or_else(|| object.get("detail"))
            .or_else(|| object.get("error_description"))
            .and_then(scalar_text);
        (code, message)
    };
    match object.get("error") {
        Some(Value::Object(inner)) => {
            let (code, message) = from(inner);
            let (outer_code, outer_message) = from(&object);
            (code.or(outer_code), message.or(outer_message))
        }
        Some(Value::String(text)) => {
            let (code, message) = from(&object);
            (code, message.or_else(|| Some(text.clone())))
        }
        _ => match object.get("errors") {
            Some(Value::Array(errors)) => match errors.first() {
                Some(Value::Object(first)) => from(first),
                Some(Value::String(text)) => (None, Some(text.clone())),
                _ => from(&object),
            },
            _ => from(&object),
        },
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The text of the first `<code>` and `<message>` elements, see [`xml_texts`].
fn xml_details(body: &[u8]) -> (Option<String>, Option<String>) {
    let mut found = xml_texts(body, &["code", "message"]).into_iter();
    (found.next().flatten(), found.next().flatten())
}

/// The text of the first element with each of these local names (any depth, any namespace
/// prefix, case-insensitive), in the order of `names`. An element counts only once it is closed,
/// so a broken document yields what was complete before the break, and never panics.
pub fn xml_texts(body: &[u8], names: &[&str]) -> Vec<Option<String>> {
    let text = String::from_utf8_lossy(body);
    let mut reader = Reader::from_str(&text);
    let mut found: Vec<Option<String>> = vec![None; names.len()];
    // The wanted element whose text is being collected (its index in `names`), and that text.
    let mut open: Option<(usize, String)> = None;
    while found.iter().any(Option::is_none) {
        let event = match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(event) => event,
        };
        match event {
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_lowercase();
                // A nested element inside a wanted one means that one is not a text field.
                open = names
                    .iter()
                    .position(|wanted| wanted.eq_ignore_ascii_case(&name))
                    .filter(|i| found[*i].is_none())
                    .map(|i| (i, String::new()));
            }
            Event::Text(chunk) => {
                if let Some((_, collected)) = open.as_mut() {
                    collected.push_str(&chunk.xml10_content());
                }
            }
            Event::CData(chunk) => {
                if let Some((_, collected)) = open.as_mut() {
                    collected.push_str(&chunk.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                if let Some((_, collected)) = open.as_mut() {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => Some(c.to_string()),
                        _ => quick_xml::escape::resolve_predefined_entity(&reference)
                            .map(str::to_string),
                    };
                    if let Some(resolved) = resolved {
                        collected.push_str(&resolved);
                    }
                }
            }
            Event::End(end) => {
                let name = end.local_name().as_ref().to_lowercase();
                if let Some((index, collected)) = open.take()
                    && names[index].eq_ignore_ascii_case(&name)
                {
                    found[index] = Some(collected);
                }
            }
            _ => {}
        }
    }
    found
}

/// Trimmed, shortened to `max` characters, None when empty.
fn tidy(text: &str, max: usize) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match text.char_indices().nth(max) {
        Some((cut, _)) => Some(format!("{}…", &text[..cut])),
        None => Some(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn xml_root(root: &str) -> BodyFormat {
        BodyFormat::Xml {
            xml_root: root.to_string(),
        }
    }

    fn xml_text(payload: &Value) -> String {
        let (bytes, content_type) = encode(&xml_root("device"), payload).unwrap();
        assert_eq!(content_type, XML);
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn json_goes_as_it_is() {
        let payload = json!({"name": "a", "user": {"email": null}, "n": 1.5});
        let (bytes, content_type) = encode(&BodyFormat::Json, &payload).unwrap();
        assert_eq!(content_type, JSON);
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), payload);
    }

    #[test]
    fn xml_has_one_element_per_field_under_the_root() {
        // Fields in the payload's key order (serde_json's maps are sorted here).
        let text = xml_text(&json!({"hostname": "LT-1", "owner": null, "ram": 16, "ok": true}));
        assert_eq!(
            text,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><device><hostname>LT-1</hostname>\
             <ok>true</ok><owner/><ram>16</ram></device>"
        );
    }

    #[test]
    fn xml_nests_objects_repeats_arrays_and_escapes_text() {
        let text = xml_text(&json!({
            "user": {"email": "a&b@x", "name": "<Ann>"},
            "tags": ["x", "y"],
            "none": [],
        }));
        assert!(
            text.contains("<user><email>a&amp;b@x</email><name>&lt;Ann&gt;</name></user>"),
            "{text}"
        );
        assert!(text.contains("<tags>x</tags><tags>y</tags>"), "{text}");
        assert!(!text.contains("none"), "{text}");
    }

    #[test]
    fn xml_round_trips_through_the_error_reader() {
        let body = xml_text(&json!({"code": "A & B", "message": "x < y"}));
        let (code, message) = error_details(body.as_bytes(), None);
        assert_eq!(code.as_deref(), Some("A & B"));
        assert_eq!(message.as_deref(), Some("x < y"));
    }

    #[test]
    fn xml_refuses_characters_xml_1_0_forbids_naming_the_field() {
        for (bad, code) in [
            ("\u{1}", "U+0001"),
            ("a\u{1b}[2J", "U+001B"),
            ("\u{b}", "U+000B"),
            ("x\u{fffe}", "U+FFFE"),
            ("\u{ffff}", "U+FFFF"),
        ] {
            let error = encode(&xml_root("device"), &json!({"user": {"email": bad}}))
                .err()
                .unwrap_or_default();
            assert!(
                error.starts_with(&format!("field user.email holds {code} (character ")),
                "{error}"
            );
            assert!(error.ends_with("which XML 1.0 does not allow: the record is not sent"));
        }
        assert_eq!(
            encode(&xml_root("device"), &json!({"owner": "a\u{1}"}))
                .err()
                .as_deref(),
            Some(
                "field owner holds U+0001 (character 2), which XML 1.0 does not allow: the \
                 record is not sent"
            )
        );
        // Tab, line feed and carriage return are XML (the last kept as a reference, which a
        // reader does not turn into a line feed); so is the rest of Unicode.
        let text = xml_text(&json!({"note": "a\tb\nc\rd é ✔ \u{10000}"}));
        assert!(
            text.contains("<note>a\tb\nc&#13;d é ✔ \u{10000}</note>"),
            "{text}"
        );
        // JSON bodies carry any character (escaped by serde_json).
        assert!(encode(&BodyFormat::Json, &json!({"owner": "a\u{1}"})).is_ok());
    }

    #[test]
    fn xml_refuses_what_cannot_be_an_element() {
        assert!(encode(&xml_root("device"), &json!(["a"])).is_err());
        assert!(encode(&xml_root("device"), &json!({"1st": 1})).is_err());
        assert!(encode(&xml_root("device"), &json!({"a b": 1})).is_err());
        assert!(encode(&xml_root("device"), &json!({"": 1})).is_err());
        assert!(encode(&xml_root("bad root"), &json!({"a": 1})).is_err());
    }

    #[test]
    fn json_error_shapes() {
        let cases = [
            (
                r#"{"error": {"code": "INVALID_CONTENT", "message": "bad field"}}"#,
                Some("INVALID_CONTENT"),
                Some("bad field"),
            ),
            (
                r#"{"code": 42, "message": "nope"}"#,
                Some("42"),
                Some("nope"),
            ),
            (r#"{"error": "invalid_token"}"#, None, Some("invalid_token")),
            (
                r#"{"errors": [{"code": "E1", "message": "first"}]}"#,
                Some("E1"),
                Some("first"),
            ),
            (r#"{"status": "bad"}"#, None, None),
            (r#"["not", "an", "object"]"#, None, None),
            (r#"{"error": {"code": "#, None, None),
            ("", None, None),
        ];
        for (body, code, message) in cases {
            let found = error_details(body.as_bytes(), Some("application/json"));
            assert_eq!(
                (found.0.as_deref(), found.1.as_deref()),
                (code, message),
                "{body}"
            );
        }
    }

    #[test]
    fn xml_error_shapes() {
        let body = "<?xml version=\"1.0\"?>\n<error><code>UNSUPPORTED_MEDIA_TYPE</code>\
                    <message>accepts application/xml &amp; text/xml</message></error>";
        let (code, message) =
            error_details(body.as_bytes(), Some("application/xml; charset=utf-8"));
        assert_eq!(code.as_deref(), Some("UNSUPPORTED_MEDIA_TYPE"));
        assert_eq!(
            message.as_deref(),
            Some("accepts application/xml & text/xml")
        );
        // Sniffed without a content type; prefixes ignored.
        let body = "<e:fault xmlns:e=\"x\"><e:code>E</e:code></e:fault>";
        assert_eq!(
            error_details(body.as_bytes(), None),
            (Some("E".into()), None)
        );
    }

    #[test]
    fn broken_bodies_give_nothing_and_never_panic() {
        for body in [
            "<error><code>X</error>",
            "<error><code>",
            "<<<>>>",
            "<error><code>&bogus;</code>",
            "not json or xml",
            "{",
        ] {
            let (code, _) = error_details(body.as_bytes(), Some("application/xml"));
            assert_eq!(code, None, "{body}");
            let _ = error_details(body.as_bytes(), Some("application/json"));
            let _ = error_details(body.as_bytes(), None);
        }
        let _ = error_details(&[0xff, 0xfe, b'<', 0x00, b'>'], None);
        let _ = error_details(b"{\"error\": {\"code\": \"\xff\"}}", None);
    }

    #[test]
    fn long_messages_are_shortened() {
        let long = "m".repeat(10_000);
        let body = json!({"error": {"code": "E", "message": long}}).to_string();
        let (_, message) = error_details(body.as_bytes(), None);
        assert!(message.unwrap().chars().count() <= MAX_MESSAGE_CHARS + 1);
    }
}
