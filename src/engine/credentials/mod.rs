//! Credentials that are tokens asked for at a token endpoint (SPEC section 11):
//! `oauth2_client_credentials` (RFC 6749 section 4.4) and `token_exchange` (basic auth for a
//! token, Jamf Pro's `/api/v1/auth/token`).
//!
//! One [`TokenSource`] per credential identity in the process (token URL, client or user, scope
//! and secret): every worker, connection run and health check that presents the credential
//! shares its token. One token request at a time: a worker that needs a token while another
//! asks for one waits for that answer. A token is renewed before it expires, and once after a
//! 401 (the request is then sent again; a second 401 is the destination's answer).
//!
//! Token requests are plain reqwest calls: the `oauth2` crate would bring its own reqwest
//! version and a model of grants we do not use, for two small POSTs.
//!
//! Secrets: the client secret, the password and every token issued are redacted from anything
//! shown ([`TokenSource::secrets`]); the token request's answer is never logged.

mod grant;
mod request;

pub(crate) use grant::Grant;
pub use grant::{TOKEN_HINT, TokenError};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;
use tokio::time::Instant;

use crate::config::CredentialKind;

/// A token in hand.
struct Token {
    header: HeaderValue,
    /// Renew at this moment (some time before it expires); None: until a 401 says otherwise.
    renew_at: Option<Instant>,
    /// Counts tokens issued, so a 401 renews only the token it was answered to.
    generation: u64,
}

/// One credential's token, shared by everything that presents it.
pub struct TokenSource {
    grant: Grant,
    http: reqwest::Client,
    /// Held while a token is asked for: the single flight.
    current: tokio::sync::Mutex<Option<Token>>,
    /// Every token issued and the grant's secrets, in the forms redaction looks for.
    secrets: Mutex<Vec<String>>,
    issued: std::sync::atomic::AtomicU64,
}

/// Tokens are asked for with this timeout.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(20);
/// The most tokens remembered for redaction (a long-lived console renews many).
const REMEMBERED_TOKENS: usize = 64;

impl TokenSource {
    /// The shared source of a token credential, for a system at `base`; None for the other
    /// kinds. Err when the token URL cannot be used.
    pub fn for_credential(
        kind: &CredentialKind,
        base: &Url,
    ) -> Result<Option<Arc<TokenSource>>, String> {
        let grant = match kind {
            CredentialKind::OAuth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => Grant::ClientCredentials {
                url: Url::parse(token_url).map_err(|e| format!("invalid token_url: {e}"))?,
                client_id: client_id.clone(),
                client_secret: client_secret.expose().to_string(),
                scope: scope.clone(),
            },
            CredentialKind::TokenExchange {
                token_url,
                username,
                password,
                token_position,
                expires_position,
            } => Grant::Exchange {
                url: resolve(base, token_url)?,
                username: username.clone(),
                password: password.expose().to_string(),
                token_position: token_position.clone(),
                expires_position: expires_position.clone(),
            },
            _ => return Ok(None),
        };
        let key = identity(&grant);
        let mut registry = registry().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(source) = registry.get(&key) {
            return Ok(Some(source.clone()));
        }
        let source = Arc::new(TokenSource::new(grant)?);
        registry.insert(key, source.clone());
        Ok(Some(source))
    }

    fn new(grant: Grant) -> Result<TokenSource, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(TOKEN_TIMEOUT)
            // A token endpoint that redirects is not followed: the secret stays where it was sent.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("syncdeck/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the token client: {}", e.without_url()))?;
        let secret = match &grant {
            Grant::ClientCredentials { client_secret, .. } => client_secret.clone(),
            Grant::Exchange { password, .. } => password.clone(),
        };
        Ok(TokenSource {
            grant,
            http,
            current: tokio::sync::Mutex::new(None),
            secrets: Mutex::new(super::wire::secret_forms(vec![secret])),
            issued: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The `Authorization` header to send and the generation of its token: the token in hand
    /// while it is fresh, else a new one (one request at a time, the others wait for it).
    pub async fn header(&self) -> Result<(HeaderValue, u64), TokenError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && token.renew_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok((token.header.clone(), token.generation));
        }
        let fresh = request::ask(&self.grant, &self.http, &|text: &str| self.redact(text)).await?;
        let generation = self
            .issued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let mut header =
            HeaderValue::from_str(&format!("Bearer {}", fresh.value)).map_err(|_| TokenError {
                message: "the token is not a valid header value".to_string(),
                http_status: None,
            })?;
        header.set_sensitive(true);
        self.remember(fresh.value);
        let token = Token {
            header: header.clone(),
            renew_at: fresh.lifetime.map(|lifetime| {
                // Renew a minute early, or halfway through a short-lived token.
                let margin = (lifetime / 2).min(Duration::from_secs(60));
                Instant::now() + lifetime.saturating_sub(margin)
            }),
            generation,
        };
        *current = Some(token);
        Ok((header, generation))
    }

    /// A 401 answered the token of `generation`: forget it, so the next [`Self::header`] asks
    /// for a new one (a token renewed meanwhile by another worker is kept).
    pub async fn rejected(&self, generation: u64) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|t| t.generation == generation) {
            *current = None;
        }
    }

    /// Tokens asked for so far.
    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The values to redact: the secret and every token issued, in their echoed forms.
    pub fn secrets(&self) -> Vec<String> {
        self.secrets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn remember(&self, token: String) {
        let mut secrets = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
        for form in super::wire::secret_forms(vec![token]) {
            if !secrets.contains(&form) {
                secrets.push(form);
            }
        }
        // The secret's forms come first; old tokens go once there are many.
        let limit = REMEMBERED_TOKENS * 5;
        if secrets.len() > limit {
            let excess = secrets.len() - limit;
            let end = (5 + excess).min(secrets.len());
            secrets.drain(5.min(end)..end);
        }
        secrets.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    /// `text` with the secret and any token removed.
    pub(crate) fn redact(&self, text: &str) -> String {
        super::wire::redact_values(text, &self.secrets())
    }
}

/// A token URL: absolute, or a path under the system's base URL.
fn resolve(base: &Url, token_url: &str) -> Result<Url, String> {
    if token_url.starts_with('/') {
        let mut url = base.clone();
        let base_path = base.path().trim_end_matches('/');
        url.set_path(&format!("{base_path}{token_url}"));
        return Ok(url);
    }
    Url::parse(token_url).map_err(|e| format!("invalid token_url: {e}"))
}

/// What identifies a token: the same credential against the same endpoint shares one.
fn identity(grant: &Grant) -> String {
    let text = match grant {
        Grant::ClientCredentials {
            url,
            client_id,
            client_secret,
            scope,
        } => format!("oauth2\n{url}\n{client_id}\n{client_secret}\n{scope:?}"),
        Grant::Exchange {
            url,
            username,
            password,
            token_position,
            ..
        } => format!("exchange\n{url}\n{username}\n{password}\n{token_position}"),
    };
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

fn registry() -> &'static Mutex<HashMap<String, Arc<TokenSource>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<TokenSource>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}
