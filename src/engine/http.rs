//! One HTTP client per system: credentials applied (static ones, or a token from a token
//! endpoint renewed once after a 401), the system's own headers, every request through the
//! system's throttle, every timeout set, redirects kept to the same origin (so no credential
//! follows a redirect elsewhere), and redaction of secret values from anything that is logged,
//! stored or shown.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, Url};

use super::credentials::{TokenError, TokenSource};
use super::throttle::{Answer, Throttle};
pub use super::wire::read_capped;
use super::wire::secret_forms;
pub use super::wire::{REDACTED, redact_values};
use crate::config::{Credential, CredentialKind};

/// Query parameter names whose values are treated as secrets in URLs shown or stored.
const SECRET_PARAMS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api_key",
    "api-key",
    "key",
    "auth",
    "signature",
    "sig",
    "access_token",
];

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("invalid base URL {0}")]
    BaseUrl(String),
    #[error("invalid credential header: {0}")]
    Header(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("credential: {0}")]
    Token(String),
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum SendError {
    /// Connection, timeout, redirect or request-building errors.
    Http(reqwest::Error),
    /// The credential's token could not be had.
    Token(TokenError),
}

/// The credential as it goes on each request: a header value built once, marked sensitive,
/// and cloned per request (a reference count) rather than formatted and encoded per request.
#[derive(Clone)]
enum Auth {
    None,
    /// A token that cannot be a header value: each request fails to build, as reqwest says.
    Bearer(String),
    Header(HeaderName, HeaderValue),
    /// A token from a token endpoint, asked for when needed.
    Token(Arc<TokenSource>),
}

/// A sensitive header value, None when the text cannot be one.
fn sensitive_value(text: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// An HTTP client bound to one system's base URL and credential.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    base: Url,
    auth: Auth,
    secrets: Vec<String>,
    /// The system's own headers (`headers = {…}`), sent with every request.
    headers: HeaderMap,
    throttle: Throttle,
}

impl HttpClient {
    /// A client for `base_url` presenting `credential`, with connect, read and total timeouts.
    pub fn new(
        base_url: &str,
        credential: Option<&Credential>,
        timeout: Duration,
        pool_size: usize,
    ) -> Result<Self, HttpSetupError> {
        let base = Url::parse(&format!("{}/", base_url.trim_end_matches('/')))
            .map_err(|_| HttpSetupError::BaseUrl(base_url.to_string()))?;
        let (auth, secrets) = match credential.map(|c| &c.kind) {
            None | Some(CredentialKind::None) => (Auth::None, Vec::new()),
            Some(CredentialKind::Bearer { token }) => {
                let token = token.expose();
                let auth = match sensitive_value(&format!("Bearer {token}")) {
                    Some(value) => Auth::Header(AUTHORIZATION, value),
                    None => Auth::Bearer(token.to_string()),
                };
                (auth, vec![token.to_string()])
            }
            Some(CredentialKind::Basic { username, password }) => {
                use base64::Engine as _;
                // A destination that echoes the Authorization header shows user:password in
                // base64, one decode away from the password.
                let header = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()));
                // Base64 is always a valid header value.
                let auth = match sensitive_value(&format!("Basic {header}")) {
                    Some(value) => Auth::Header(AUTHORIZATION, value),
                    None => Auth::None,
                };
                (auth, vec![password.expose().to_string(), header])
            }
            Some(kind @ CredentialKind::OAuth2ClientCredentials { .. })
            | Some(kind @ CredentialKind::TokenExchange { .. }) => {
                match TokenSource::for_credential(kind, &base).map_err(HttpSetupError::Token)? {
                    Some(source) => (Auth::Token(source), Vec::new()),
                    None => (Auth::None, Vec::new()),
                }
            }
            Some(CredentialKind::Header { header, value }) => {
                let name = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|e| HttpSetupError::Header(e.to_string()))?;
                let mut value_header = HeaderValue::from_str(value.expose()).map_err(|_| {
                    HttpSetupError::Header(format!(
                        "the value of {header} is not a valid header value"
                    ))
                })?;
                value_header.set_sensitive(true);
                (
                    Auth::Header(name, value_header),
                    vec![value.expose().to_string()],
                )
            }
        };
        let connect = timeout.min(Duration::from_secs(10));
        let client = reqwest::Client::builder()
            .connect_timeout(connect)
            .read_timeout(timeout)
            .timeout(timeout)
            .pool_max_idle_per_host(pool_size.max(1))
            .redirect(same_origin_redirects())
            .user_agent(concat!("syncdeck/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpSetupError::Client(e.without_url().to_string()))?;
        Ok(HttpClient {
            client,
            base,
            auth,
            secrets: secret_forms(secrets),
            headers: HeaderMap::new(),
            throttle: Throttle::unlimited(),
        })
    }

    /// The same client sending these headers with every request (names and values were checked
    /// by the config reader; one that is not valid is left out).
    pub fn with_headers(mut self, headers: &[(String, String)]) -> Self {
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                self.headers.append(name, value);
            }
        }
        self
    }

    /// The same client with every request through `throttle`.
    pub fn with_throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// The throttle every request passes.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// The URL of `path` (which may start with '/') under the base URL, with a query (each
    /// part percent-encoded, spaces as `%20`).
    pub fn url(&self, path: &str, query: &[(String, String)]) -> Url {
        let mut url = self.base.clone();
        let base_path = self.base.path().trim_end_matches('/');
        let path = path.trim_start_matches('/');
        url.set_path(&format!("{base_path}/{path}"));
        if !query.is_empty() {
            url.set_query(Some(&super::placeholder::encode_query(query)));
        }
        url
    }

    /// A request with a static credential and the system's headers applied (a token credential
    /// is applied by [`HttpClient::send`]).
    pub fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let builder = self.client.request(method, url);
        let builder = match &self.auth {
            Auth::None | Auth::Token(_) => builder,
            Auth::Bearer(token) => builder.bearer_auth(token),
            Auth::Header(name, value) => builder.header(name.clone(), value.clone()),
        };
        if self.headers.is_empty() {
            builder
        } else {
            builder.headers(self.headers.clone())
        }
    }

    /// Sends one request through the system's throttle with the credential applied; `prepare`
    /// adds the rest (body, headers, timeout). With a token credential, a 401 renews the token
    /// once and the request is sent again.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        prepare: &(dyn Fn(RequestBuilder) -> RequestBuilder + Send + Sync),
    ) -> Result<Response, SendError> {
        let mut renewed = false;
        loop {
            let mut builder = prepare(self.request(method.clone(), url.clone()));
            let mut generation = None;
            if let Auth::Token(source) = &self.auth {
                let (header, issued) = source.header().await.map_err(SendError::Token)?;
                builder = builder.header(AUTHORIZATION, header);
                generation = Some(issued);
            }
            let admission = self.throttle.admit().await;
            let started = Instant::now();
            let sent = builder.send().await;
            let answer = match &sent {
                Ok(response) => Answer::of_status(response.status().as_u16()),
                Err(error) if error.is_timeout() => Answer::Overloaded,
                Err(_) => Answer::Neutral,
            };
            self.throttle.done(admission, answer);
            tracing::trace!(elapsed = ?started.elapsed(), "request answered");
            let response = sent.map_err(SendError::Http)?;
            match (&self.auth, generation) {
                (Auth::Token(source), Some(generation))
                    if response.status() == reqwest::StatusCode::UNAUTHORIZED && !renewed =>
                {
                    source.rejected(generation).await;
                    renewed = true;
                }
                _ => return Ok(response),
            }
        }
    }

    /// `text` with every secret value of this client replaced (tokens issued included).
    pub fn redact(&self, text: &str) -> String {
        let text = redact_values(text, &self.secrets);
        match &self.auth {
            Auth::Token(source) => redact_values(&text, &source.secrets()),
            _ => text,
        }
    }

    /// A URL fit to show: no user info, secret-looking query values and secret values replaced.
    pub fn redact_url(&self, url: &Url) -> String {
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        if shown.query().is_some() {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let secret_name = SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str());
                    let v = if secret_name {
                        REDACTED.to_string()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        self.redact(shown.as_str())
    }
}

/// Bytes from a remote system as text fit for a screen: lossy UTF-8, line ends as `\n`, and
/// every other control character (an escape sequence in a body) shown as a visible stand-in
/// ([`crate::text::terminal_lines`]) so it never reaches a terminal.
pub fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        text
    };
    crate::text::terminal_lines(&text).into_owned()
}

/// Follows at most 5 redirects, and only within the same scheme, host and port: a redirect to
/// another origin is not followed, so no credential (custom headers included) leaves the system.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.stop();
        }
        let same_origin = attempt.previous().first().is_some_and(|first| {
            first.scheme() == attempt.url().scheme()
                && first.host_str() == attempt.url().host_str()
                && first.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if same_origin {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Environment, secret};

    fn bearer(token_var: &str) -> Credential {
        let reference = secret::SecretRef::Env(token_var.to_string());
        let env = Environment::with_fallbacks([(token_var, "canary-T0KEN-123")]);
        Credential {
            name: "c".into(),
            kind: CredentialKind::Bearer {
                token: secret::resolve(&reference, &env).unwrap(),
            },
        }
    }

    #[test]
    fn urls_join_base_path_and_query() {
        let client =
            HttpClient::new("http://127.0.0.1:1/api/", None, Duration::from_secs(1), 1).unwrap();
        let url = client.url("/devices", &[("serial".into(), "SD 1+2".into())]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/api/devices?serial=SD%201%2B2"
        );
        let client =
            HttpClient::new("http://127.0.0.1:1", None, Duration::from_secs(1), 1).unwrap();
        assert_eq!(client.url("/x", &[]).as_str(), "http://127.0.0.1:1/x");
    }

    #[test]
    fn redaction_covers_echoed_forms_of_a_secret() {
        let forms = secret_forms(vec!["k3y/with+slash==".to_string()]);
        let text = r#"{"got":"k3y\/with+slash==","q":"k3y%2Fwith%2Bslash%3D%3D"}"#;
        let redacted = redact_values(text, &forms);
        assert!(!redacted.contains("k3y"), "{redacted}");
    }

    #[test]
    fn an_echoed_basic_authorization_header_is_redacted() {
        use base64::Engine as _;
        let env = Environment::with_fallbacks([("SYNCDECK_HTTP_TEST_UNSET_PASS", "pa55-w0rd")]);
        let password = secret::resolve(
            &secret::SecretRef::Env("SYNCDECK_HTTP_TEST_UNSET_PASS".into()),
            &env,
        )
        .unwrap();
        let credential = Credential {
            name: "c".into(),
            kind: CredentialKind::Basic {
                username: "bot".into(),
                password,
            },
        };
        let client = HttpClient::new(
            "http://127.0.0.1:1",
            Some(&credential),
            Duration::from_secs(1),
            1,
        )
        .unwrap();
        let header = base64::engine::general_purpose::STANDARD.encode("bot:pa55-w0rd");
        let echoed = format!("unauthorized: Basic {header}");
        let redacted = client.redact(&echoed);
        assert!(!redacted.contains(&header), "{redacted}");
    }

    #[test]
    fn redaction_removes_secret_values_and_secret_params() {
        let credential = bearer("SYNCDECK_HTTP_TEST_UNSET_TOKEN");
        let client = HttpClient::new(
            "http://127.0.0.1:1",
            Some(&credential),
            Duration::from_secs(1),
            1,
        )
        .unwrap();
        let body = r#"{"error":"bad token canary-T0KEN-123"}"#;
        assert!(!client.redact(body).contains("canary-T0KEN-123"));
        let url = Url::parse("http://u:p@127.0.0.1:1/x?api_key=abc&serial=S1&q=canary-T0KEN-123")
            .unwrap();
        let shown = client.redact_url(&url);
        assert!(
            !shown.contains("abc") && !shown.contains("canary") && !shown.contains("u:p"),
            "{shown}"
        );
        assert!(shown.contains("serial=S1"), "{shown}");
    }
}
