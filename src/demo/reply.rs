//! Response helpers shared by the demo systems: error bodies in each system's own format and
//! content-type checks.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// How a system writes its error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorFormat {
    /// `{"error": {"code", "message"}}`
    Json,
    /// `<error><code/><message/></error>`
    Xml,
}

impl ErrorFormat {
    pub(crate) fn error(self, status: StatusCode, code: &str, message: &str) -> Response {
        match self {
            ErrorFormat::Json => json_error(status, code, message),
            ErrorFormat::Xml => xml_error(status, code, message),
        }
    }

    /// 405 with the `Allow` header real servers send.
    pub(crate) fn method_not_allowed(self, allow: &'static str) -> Response {
        let message = format!("method not allowed on this resource; allowed: {allow}");
        let mut response = self.error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            &message,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        response
    }

    /// The answer to `OPTIONS`: 204 with the methods the resource allows, as real servers
    /// send it (the health check reads it to tell a wrong update method before any write).
    pub(crate) fn options(self, allow: &'static str) -> Response {
        let mut response = StatusCode::NO_CONTENT.into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        response
    }

    pub(crate) fn not_found(self, what: &str) -> Response {
        self.error(StatusCode::NOT_FOUND, "NOT_FOUND", what)
    }
}

pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

pub(crate) fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error><code>{}</code><message>{}</message></error>\n",
        escape(code),
        escape(message)
    );
    xml(status, body)
}

/// An XML response body.
pub(crate) fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

pub(crate) fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// The media type of the request body without parameters, lower case ("" when absent).
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    let media = media_type(headers);
    media == "application/json" || media.ends_with("+json")
}

pub(crate) fn is_xml(headers: &HeaderMap) -> bool {
    let media = media_type(headers);
    media == "application/xml" || media == "text/xml" || media.ends_with("+xml")
}

/// The 415 a system answers to a body in the wrong format.
pub(crate) fn unsupported_media_type(format: ErrorFormat, headers: &HeaderMap) -> Response {
    let media = media_type(headers);
    let (expected, got) = match format {
        ErrorFormat::Json => ("application/json", media),
        ErrorFormat::Xml => ("application/xml", media),
    };
    let got = if got.is_empty() {
        "none".to_string()
    } else {
        got
    };
    format.error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        &format!("this endpoint accepts {expected} bodies only; got Content-Type {got}"),
    )
}

/// An error answer before it is written in a system's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn respond(&self, format: ErrorFormat) -> Response {
        format.error(self.status, self.code, &self.message)
    }
}

/// A query parameter as a number in `range`, `default` when absent.
pub(crate) fn number_param(
    name: &str,
    value: Option<&String>,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, Refusal> {
    let Some(text) = value else {
        return Ok(default);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(Refusal::bad_request(
            "INVALID_PARAMETER",
            format!(
                "{name} must be a number from {} to {}, got '{text}'",
                range.start(),
                range.end()
            ),
        )),
    }
}
