//! The gate in front of each demo system: count the request, then check the credential the way
//! the real system would (a wrong credential is refused; none at all is let through, so a plain
//! example config can talk to the demo without secrets).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::config::{CMDB_TOKEN, MDM_API_KEY, REGISTRY_PASSWORD, REGISTRY_USER};
use super::reply::ErrorFormat;
use super::state::Shared;
use super::stats::System;

/// The header the MDM reads its API key from.
pub(crate) const MDM_KEY_HEADER: &str = "x-api-key";

pub(crate) async fn guard(
    State((state, system)): State<(Shared, System)>,
    request: Request,
    next: Next,
) -> Response {
    let writing = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    state.counters.count(system, writing);
    match rejection(system, request.headers()) {
        None => next.run(request).await,
        Some(rejection) => rejection,
    }
}

/// The 401 for a credential the system does not accept; `None` lets the request through.
fn rejection(system: System, headers: &HeaderMap) -> Option<Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or(""));
    match system {
        System::Fleet => None,
        System::Cmdb => match authorization {
            None => None,
            Some(value) if scheme_value(value, "bearer") == Some(CMDB_TOKEN) => None,
            Some(_) => Some(unauthorized(
                ErrorFormat::Json,
                "the bearer token is not valid for this CMDB",
                Some("Bearer realm=\"demo-cmdb\""),
            )),
        },
        System::Registry => {
            let expected = base64(format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}").as_bytes());
            match authorization {
                None => None,
                Some(value) if scheme_value(value, "basic") == Some(expected.as_str()) => None,
                Some(_) => Some(unauthorized(
                    ErrorFormat::Xml,
                    "user name or password not accepted by the registry",
                    Some("Basic realm=\"demo-registry\""),
                )),
            }
        }
        System::Mdm => match headers.get(MDM_KEY_HEADER) {
            None => None,
            Some(value) if value.as_bytes() == MDM_API_KEY.as_bytes() => None,
            Some(_) => Some(unauthorized(
                ErrorFormat::Json,
                "the API key in X-Api-Key is not valid for this MDM",
                None,
            )),
        },
    }
}

/// The credential after an auth scheme, matching the scheme name case-insensitively.
fn scheme_value<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (name, rest) = value.trim().split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn unauthorized(format: ErrorFormat, message: &str, challenge: Option<&'static str>) -> Response {
    let mut response = format.error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
    if let Some(challenge) = challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
}

/// Standard base64 with padding; enough to compare a Basic credential without another crate.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_encoding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(
            base64(b"demo:demo-registry-pass"),
            "ZGVtbzpkZW1vLXJlZ2lzdHJ5LXBhc3M="
        );
    }

    #[test]
    fn scheme_names_are_case_insensitive() {
        assert_eq!(scheme_value("bearer abc", "Bearer"), Some("abc"));
        assert_eq!(scheme_value("Basic  abc ", "basic"), Some("abc"));
        assert_eq!(scheme_value("Token abc", "bearer"), None);
        assert_eq!(scheme_value("abc", "bearer"), None);
    }
}
