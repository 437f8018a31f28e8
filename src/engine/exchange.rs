//! Sending one request to a destination (a write or a verification read): every try through the
//! rate limiter, retries of what is safe to retry, and the error details with hints of a failed
//! answer (SPEC section 4).

use std::time::Duration;

use chrono::Utc;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method as HttpMethod, StatusCode, Url};

use super::body;
use super::hints;
use super::http::{HttpClient, SendError, read_capped};
use super::retry::{RetryPolicy, is_retryable_status, parse_retry_after};
use crate::store::{Attempt, EntryError};

/// At most this much of an error body is read (the rest is dropped unread).
const ERROR_BODY_CAP: usize = 64 * 1024;
/// The longest response excerpt kept with an error, in bytes (SPEC section 4).
pub const EXCERPT_LIMIT: usize = 4 * 1024;
/// The longest transport error text kept, in characters.
const MAX_TRANSPORT_TEXT: usize = 500;

const REDIRECTED: &str = "the destination redirected to another origin (not followed, so no \
                          credential leaves it): check base_url and the contract path";

/// How an exchange (a request and its retries) ended.
pub(super) enum Ending {
    /// The destination answered; a non-2xx when it was not retried or retries ran out.
    Answered(Answer),
    /// The credential's token could not be had: nothing was sent (redacted message).
    NoToken(String),
    /// No answer: a timeout or a connection error.
    Unanswered {
        text: String,
        /// The request may have reached the destination (not a connect failure).
        reached: bool,
        gave_up: Option<String>,
    },
}

/// The last answer of an exchange.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    /// The body, read up to a cap.
    pub(super) body: Vec<u8>,
    /// More body was left unread.
    pub(super) truncated: bool,
    /// Why a retryable answer was not retried (retries ran out, `Retry-After` too long).
    pub(super) gave_up: Option<String>,
}

impl Answer {
    pub(super) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Told before each wait for a retry, so the engine can show the entry as Pending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryNotice {
    /// The try that failed, from 1; the next try is `attempt + 1`.
    pub attempt: u32,
    /// How long until the next try.
    pub delay: Duration,
    /// What went wrong (redacted).
    pub reason: String,
}

pub(super) struct Exchange {
    pub(super) attempts: Vec<Attempt>,
    pub(super) ending: Ending,
}
/// The line a deliverer sends on: its destination's client, its retry policy and the timeout of
/// one try.
pub(super) struct Line<'a> {
    pub(super) client: &'a HttpClient,
    pub(super) policy: RetryPolicy,
    pub(super) timeout: Duration,
}

impl Line<'_> {
    /// Sends a request, retrying what may be retried; every try goes through the system's
    /// throttle (its rate limit, and its adaptive concurrency).
    pub(super) async fn exchange(
        &self,
        method: HttpMethod,
        url: &Url,
        body: Option<(&[u8], &'static str)>,
        idempotent: bool,
        success_cap: usize,
        on_retry: &mut (dyn FnMut(RetryNotice) + Send),
    ) -> Exchange {
        let mut attempts = Vec::new();
        let mut number: u32 = 0;
        loop {
            number += 1;
            let at = Utc::now();
            let timeout = self.timeout;
            let prepare = |request: reqwest::RequestBuilder| {
                let request = request.timeout(timeout);
                match body {
                    Some((bytes, content_type)) => request
                        .header(header::CONTENT_TYPE, content_type)
                        .body(bytes.to_vec()),
                    None => request,
                }
            };
            let sent = match self.client.send(method.clone(), url, &prepare).await {
                Ok(response) => Ok(response),
                Err(SendError::Http(error)) => Err(error),
                Err(SendError::Token(error)) => {
                    let text = self.client.redact(&error.to_string());
                    attempts.push(Attempt {
                        at,
                        http_status: None,
                        error: Some(text.clone()),
                    });
                    return Exchange {
                        attempts,
                        ending: Ending::NoToken(text),
                    };
                }
            };
            let (text, delay) = match sent {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    // Taken, not cloned: the body is all that is read from the response now.
                    let headers = std::mem::take(response.headers_mut());
                    let cap = if (200..300).contains(&status) {
                        success_cap
                    } else {
                        ERROR_BODY_CAP
                    };
                    let (bytes, truncated, _) = read_capped(response, cap).await;
                    if (200..300).contains(&status) {
                        attempts.push(Attempt {
                            at,
                            http_status: Some(status),
                            error: None,
                        });
                        return Exchange {
                            attempts,
                            ending: Ending::Answered(Answer {
                                status,
                                headers,
                                body: bytes,
                                truncated,
                                gave_up: None,
                            }),
                        };
                    }
                    let text = self.status_text(status, &headers, &bytes);
                    attempts.push(Attempt {
                        at,
                        http_status: Some(status),
                        error: Some(text.clone()),
                    });
                    // 429 and 503 say the destination did nothing, so even a POST may go again.
                    let retry =
                        is_retryable_status(status) && (idempotent || matches!(status, 429 | 503));
                    let retry_after = headers
                        .get(header::RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| parse_retry_after(value, Utc::now()));
                    let verdict = if retry {
                        self.policy.delay(number, retry_after).map_err(Some)
                    } else {
                        Err(None)
                    };
                    match verdict {
                        Ok(delay) => (text, delay),
                        Err(gave_up) => {
                            return Exchange {
                                attempts,
                                ending: Ending::Answered(Answer {
                                    status,
                                    headers,
                                    body: bytes,
                                    truncated,
                                    gave_up,
                                }),
                            };
                        }
                    }
                }
                Err(error) => {
                    let timed_out = error.is_timeout();
                    // A failed connect never reached the destination: safe to retry, POST too.
                    let reached = !error.is_connect();
                    let text = self.transport_text(&error.without_url(), timed_out);
                    attempts.push(Attempt {
                        at,
                        http_status: None,
                        error: Some(text.clone()),
                    });
                    if !idempotent && reached {
                        return Exchange {
                            attempts,
                            ending: Ending::Unanswered {
                                text,
                                reached,
                                gave_up: None,
                            },
                        };
                    }
                    match self.policy.delay(number, None) {
                        Ok(delay) => (text, delay),
                        Err(reason) => {
                            return Exchange {
                                attempts,
                                ending: Ending::Unanswered {
                                    text,
                                    reached,
                                    gave_up: Some(reason),
                                },
                            };
                        }
                    }
                }
            };
            on_retry(RetryNotice {
                attempt: number,
                delay,
                reason: text,
            });
            tokio::time::sleep(delay).await;
        }
    }
    /// "HTTP 405 Method Not Allowed [METHOD_NOT_ALLOWED]: ...", redacted.
    fn status_text(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> String {
        let (code, message) = body::error_details(body, content_type(headers));
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let mut text = format!("HTTP {status} {reason}").trim_end().to_string();
        if let Some(code) = code {
            text.push_str(&format!(" [{code}]"));
        }
        if let Some(message) = message {
            text.push_str(&format!(": {message}"));
        }
        self.client.redact(&text)
    }

    /// A timeout or connection error in words, with its causes, redacted.
    fn transport_text(&self, error: &reqwest::Error, timed_out: bool) -> String {
        let text = if timed_out {
            format!("no answer within {}s (timed out)", self.timeout.as_secs())
        } else {
            let mut parts = vec![error.to_string()];
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                let cause = cause.to_string();
                if !parts.iter().any(|part| part.contains(&cause)) {
                    parts.push(cause);
                }
                source = cause_of(source);
            }
            format!("connection error: {}", parts.join(": "))
        };
        let text = self.client.redact(&text);
        match text.char_indices().nth(MAX_TRANSPORT_TEXT) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }

    /// The error details of a non-2xx answer (SPEC section 4).
    pub(super) fn http_error(&self, answer: &Answer, method: &str, shown_url: &str) -> EntryError {
        let Answer {
            status,
            headers,
            body,
            truncated,
            gave_up,
        } = answer;
        let (code, _) = body::error_details(body, content_type(headers));
        let code = code.map(|code| self.client.redact(&code));
        let redirect = matches!(status, 301 | 302 | 303 | 307 | 308)
            .then(|| redirect_reason(headers, shown_url))
            .flatten();
        let message = join_reason(
            &self.status_text(*status, headers, body),
            gave_up.as_deref().or(redirect.as_deref()),
        );
        let hint = match status {
            300..=399 => Some(REDIRECTED),
            _ => hints::for_status(*status, code.as_deref()),
        };
        EntryError {
            http_status: Some(*status),
            code,
            message: self.client.redact(&message),
            hint: hint.map(str::to_string),
            method: Some(method.to_string()),
            url: Some(shown_url.to_string()),
            response_excerpt: self.excerpt(body, *truncated),
        }
    }

    /// At most [`EXCERPT_LIMIT`] bytes of a body, redacted, lossy UTF-8; None when empty.
    fn excerpt(&self, body: &[u8], truncated: bool) -> Option<String> {
        if body.is_empty() {
            return None;
        }
        // Redact the whole capped body first, so a secret across the cut is still found.
        let text = self.client.redact(&super::http::printable(body));
        if text.len() <= EXCERPT_LIMIT && !truncated {
            return Some(text);
        }
        let marker = "…";
        let mut cut = EXCERPT_LIMIT.min(text.len()) - marker.len().min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        Some(format!("{}{marker}", &text[..cut]))
    }
}

/// Why a 3xx answer was not followed: its `Location` leads to another origin (shown as its
/// origin only, since the rest of it may carry a secret), or the same-origin chain ran past the
/// redirect limit. None without a usable `Location`.
fn redirect_reason(headers: &HeaderMap, request_url: &str) -> Option<String> {
    let from = Url::parse(request_url).ok()?;
    let location = headers.get(header::LOCATION)?.to_str().ok()?;
    let to = from.join(location).ok()?;
    let same_origin = from.scheme() == to.scheme()
        && from.host_str() == to.host_str()
        && from.port_or_known_default() == to.port_or_known_default();
    Some(if same_origin {
        "redirected too many times: stopped".to_string()
    } else {
        format!(
            "redirected to another host or port ({}): not followed",
            to.origin().ascii_serialization()
        )
    })
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
}

fn cause_of<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(std::error::Error::source)
}

pub(super) fn join_reason(text: &str, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("{text}; {reason}"),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn location(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::LOCATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_redirect_elsewhere_names_the_origin_only() {
        let from = "http://127.0.0.1:7300/things/T-1?trace=[redacted]";
        let reason =
            redirect_reason(&location("http://127.0.0.1:7400/x?token=s3cret"), from).unwrap();
        assert_eq!(
            reason,
            "redirected to another host or port (http://127.0.0.1:7400): not followed"
        );
        let reason = redirect_reason(&location("https://127.0.0.1:7300/x"), from).unwrap();
        assert!(reason.contains("https://127.0.0.1:7300"), "{reason}");
        let reason = redirect_reason(&location("/things/T-2"), from).unwrap();
        assert_eq!(reason, "redirected too many times: stopped");
        assert_eq!(redirect_reason(&HeaderMap::new(), from), None);
    }
}
