//! How a credential's token is asked for, and why none could be had: shared by the token
//! source and its requests, below both.

use reqwest::Url;

use crate::config::Position;

/// Why no token could be had. The message is redacted (no secret, no token).
#[derive(Clone, Debug, thiserror::Error)]
#[error("the credential's token request failed: {message}")]
pub struct TokenError {
    pub message: String,
    /// The token endpoint's HTTP status, when it answered.
    pub http_status: Option<u16>,
}

/// The hint of a failed token request.
pub const TOKEN_HINT: &str = "credential context rejected: check the credential's token_url, client id or user name, and its secret";

/// How a token is asked for.
#[derive(Clone, Debug)]
pub(crate) enum Grant {
    ClientCredentials {
        url: Url,
        client_id: String,
        client_secret: String,
        scope: Option<String>,
    },
    Exchange {
        url: Url,
        username: String,
        password: String,
        token_position: Position,
        expires_position: Option<Position>,
    },
}
