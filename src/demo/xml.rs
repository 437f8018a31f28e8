//! Flat XML documents as the demo registry speaks them: `<root><field>text</field>…</root>`.

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use serde_json::{Map, Value};

use super::reply::escape;

/// A parsed flat document: the root element and its fields in order; an empty element is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlatDocument {
    pub root: String,
    pub fields: Vec<(String, Option<String>)>,
}

/// Why a body is not a flat document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum XmlProblem {
    /// Not well-formed XML (400 `INVALID_XML`).
    Malformed(String),
    /// Well-formed, but not the shape the registry accepts (400 `INVALID_CONTENT`).
    Content(String),
}

/// Where the parser is in the document.
enum Depth {
    BeforeRoot,
    InRoot,
    InField { name: String, text: String },
    AfterRoot,
}

pub(crate) fn parse(body: &[u8]) -> Result<FlatDocument, XmlProblem> {
    let text = std::str::from_utf8(body)
        .map_err(|_| XmlProblem::Malformed("the body is not UTF-8".to_string()))?;
    let mut reader = Reader::from_str(text);
    let mut root = String::new();
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    let mut depth = Depth::BeforeRoot;
    loop {
        let event = reader.read_event().map_err(|error| {
            XmlProblem::Malformed(format!("{error} (at byte {})", reader.error_position()))
        })?;
        depth = match (depth, event) {
            (depth, Event::Decl(_) | Event::Comment(_) | Event::PI(_)) => depth,
            (Depth::BeforeRoot, Event::DocType(_)) => Depth::BeforeRoot,
            (Depth::BeforeRoot, Event::Start(start)) => {
                root = start.local_name().as_ref().to_string();
                Depth::InRoot
            }
            (Depth::BeforeRoot, Event::Empty(start)) => {
                root = start.local_name().as_ref().to_string();
                Depth::AfterRoot
            }
            (Depth::InRoot, Event::Start(start)) => Depth::InField {
                name: start.local_name().as_ref().to_string(),
                text: String::new(),
            },
            (Depth::InRoot, Event::Empty(start)) => {
                push_field(&mut fields, start.local_name().as_ref(), String::new())?;
                Depth::InRoot
            }
            (Depth::InRoot, Event::End(_)) => Depth::AfterRoot,
            (Depth::InField { name, mut text }, Event::Text(chunk)) => {
                text.push_str(&chunk.xml10_content());
                Depth::InField { name, text }
            }
            (Depth::InField { name, mut text }, Event::CData(chunk)) => {
                text.push_str(&chunk.xml10_content());
                Depth::InField { name, text }
            }
            (Depth::InField { name, mut text }, Event::GeneralRef(reference)) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    Ok(None) => resolve_predefined_entity(&reference).map(str::to_string),
                    Err(_) => None,
                };
                let Some(resolved) = resolved else {
                    return Err(XmlProblem::Malformed(format!(
                        "unknown entity &{};",
                        &*reference
                    )));
                };
                text.push_str(&resolved);
                Depth::InField { name, text }
            }
            (Depth::InField { name, text }, Event::End(_)) => {
                push_field(&mut fields, &name, text)?;
                Depth::InRoot
            }
            (Depth::InField { name, .. }, Event::Start(inner) | Event::Empty(inner)) => {
                return Err(XmlProblem::Content(format!(
                    "element <{}> inside <{name}>: fields hold text only",
                    inner.local_name().as_ref()
                )));
            }
            (depth, Event::Text(chunk)) if chunk.xml10_content().trim().is_empty() => depth,
            (Depth::InRoot, Event::Text(_) | Event::CData(_) | Event::GeneralRef(_)) => {
                return Err(XmlProblem::Content(format!(
                    "text directly inside <{root}>: put each value in its own element"
                )));
            }
            (Depth::AfterRoot, Event::Start(_) | Event::Empty(_)) => {
                return Err(XmlProblem::Malformed(
                    "more than one root element".to_string(),
                ));
            }
            (Depth::AfterRoot, Event::Eof) => return Ok(FlatDocument { root, fields }),
            (Depth::BeforeRoot, Event::Eof) => {
                return Err(XmlProblem::Malformed("the document is empty".to_string()));
            }
            (_, Event::Eof) => {
                return Err(XmlProblem::Malformed(format!(
                    "the document ends before </{root}>"
                )));
            }
            (_, _) => {
                return Err(XmlProblem::Malformed(
                    "text or markup outside the root element".to_string(),
                ));
            }
        };
    }
}

fn push_field(
    fields: &mut Vec<(String, Option<String>)>,
    name: &str,
    text: String,
) -> Result<(), XmlProblem> {
    if fields.iter().any(|(existing, _)| existing == name) {
        return Err(XmlProblem::Content(format!("element <{name}> given twice")));
    }
    let text = text.trim();
    let value = (!text.is_empty()).then(|| text.to_string());
    fields.push((name.to_string(), value));
    Ok(())
}

/// A record as a flat document, fields in the given order; null fields as empty elements.
pub(crate) fn render(root: &str, order: &[&str], record: &Map<String, Value>) -> String {
    let mut out = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}>");
    for field in order {
        match record.get(*field) {
            Some(Value::String(text)) => {
                out.push_str(&format!("<{field}>{}</{field}>", escape(text)));
            }
            Some(Value::Null) | None => out.push_str(&format!("<{field}/>")),
            Some(other) => out.push_str(&format!(
                "<{field}>{}</{field}>",
                escape(&other.to_string())
            )),
        }
    }
    out.push_str(&format!("</{root}>\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: &str) -> Result<FlatDocument, XmlProblem> {
        parse(body.as_bytes())
    }

    #[test]
    fn parses_fields_entities_cdata_and_empty_elements() {
        let doc = fields(
            "<?xml version=\"1.0\"?>\n<device>\n  <hostname> LT-AMS1 &amp; co </hostname>\n  \
             <owner/><model><![CDATA[A<B]]></model><site>&#65;MS1</site></device>",
        );
        assert_eq!(
            doc,
            Ok(FlatDocument {
                root: "device".into(),
                fields: vec![
                    ("hostname".into(), Some("LT-AMS1 & co".into())),
                    ("owner".into(), None),
                    ("model".into(), Some("A<B".into())),
                    ("site".into(), Some("AMS1".into())),
                ],
            })
        );
    }

    #[test]
    fn tells_malformed_documents_from_wrong_shapes() {
        for malformed in [
            "",
            "<device>",
            "<device></other>",
            "<a/><b/>",
            "not xml",
            "<d><a>&nope;</a></d>",
        ] {
            assert!(
                matches!(fields(malformed), Err(XmlProblem::Malformed(_))),
                "{malformed:?} should be malformed"
            );
        }
        for wrong in [
            "<device><a><b/></a></device>",
            "<device>loose text</device>",
            "<device><a>1</a><a>2</a></device>",
        ] {
            assert!(
                matches!(fields(wrong), Err(XmlProblem::Content(_))),
                "{wrong:?} should be a content problem"
            );
        }
    }

    #[test]
    fn renders_escaped_flat_documents() {
        let mut record = Map::new();
        record.insert("hostname".into(), Value::String("a&b".into()));
        record.insert("owner".into(), Value::Null);
        let xml = render("device", &["hostname", "owner"], &record);
        assert!(xml.ends_with("<device><hostname>a&amp;b</hostname><owner/></device>\n"));
        assert_eq!(fields(&xml).map(|doc| doc.fields.len()), Ok(2));
    }
}
