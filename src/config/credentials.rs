//! `[[credentials]]`: each kind's keys, secret references resolved now so a missing one is
//! named with its line.

use std::collections::HashSet;
use std::path::Path;

use super::listing::read_position;
use super::model::{Credential, CredentialKind};
use super::reader::{Reader, Table};
use super::secret::{self, Environment, Secret};

const CREDENTIAL_KEYS: &[&str] = &[
    "name",
    "kind",
    "token",
    "username",
    "password",
    "header",
    "value",
    "token_url",
    "client_id",
    "client_secret",
    "scope",
    "token_position",
    "expires_position",
];

const KINDS: &str = "bearer, basic, header, oauth2_client_credentials, token_exchange or none";

pub(super) fn read_credentials(
    r: &mut Reader,
    tables: &[Table],
    base_dir: &Path,
    env: &Environment,
) -> Vec<Credential> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for t in tables {
        r.check_keys(t, CREDENTIAL_KEYS);
        let name = r.string(t, "name", true).unwrap_or_default();
        if !name.is_empty() && !seen.insert(name.clone()) {
            let span = r.span_of(t, "name");
            r.problem(
                span,
                t.key_path("name"),
                format!("duplicate credential name \"{name}\""),
            );
        }
        let kind_name = r.string(t, "kind", true).unwrap_or_default();
        let applicable: &[&str] = match kind_name.as_str() {
            "none" | "" => &[],
            "bearer" => &["token"],
            "basic" => &["username", "password"],
            "header" => &["header", "value"],
            "oauth2_client_credentials" => &["token_url", "client_id", "client_secret", "scope"],
            "token_exchange" => &[
                "token_url",
                "username",
                "password",
                "token_position",
                "expires_position",
            ],
            other => {
                let span = r.span_of(t, "kind");
                r.problem(
                    span,
                    t.key_path("kind"),
                    format!("unknown credential kind \"{other}\" (expected {KINDS})"),
                );
                &[]
            }
        };
        for key in &CREDENTIAL_KEYS[2..] {
            if t.map.get(*key).is_some() && !applicable.contains(key) && !kind_name.is_empty() {
                let span = r.span_of(t, key);
                r.problem(
                    span,
                    t.key_path(key),
                    format!("`{key}` does not apply to credential kind \"{kind_name}\""),
                );
            }
        }
        let kind = match kind_name.as_str() {
            "bearer" => read_secret(r, t, "token", base_dir, env)
                .map(|token| CredentialKind::Bearer { token }),
            "basic" => {
                let username = read_plain_or_ref(r, t, "username", base_dir, env);
                let password = read_secret(r, t, "password", base_dir, env);
                username
                    .zip(password)
                    .map(|(username, password)| CredentialKind::Basic { username, password })
            }
            "header" => {
                let header = r.spanned_string(t, "header", true);
                if let Some((header, span)) = &header
                    && reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err()
                {
                    r.problem(
                        span.clone(),
                        t.key_path("header"),
                        format!("\"{header}\" is not a valid HTTP header name"),
                    );
                }
                let value = read_secret(r, t, "value", base_dir, env);
                header
                    .zip(value)
                    .map(|((header, _), value)| CredentialKind::Header { header, value })
            }
            "oauth2_client_credentials" => {
                let token_url = read_token_url(r, t, true);
                let client_id = read_plain_or_ref(r, t, "client_id", base_dir, env);
                let client_secret = read_secret(r, t, "client_secret", base_dir, env);
                let scope = r.string(t, "scope", false);
                match (token_url, client_id, client_secret) {
                    (Some(token_url), Some(client_id), Some(client_secret)) => {
                        Some(CredentialKind::OAuth2ClientCredentials {
                            token_url,
                            client_id,
                            client_secret,
                            scope,
                        })
                    }
                    _ => None,
                }
            }
            "token_exchange" => {
                let token_url = read_token_url(r, t, false);
                let username = read_plain_or_ref(r, t, "username", base_dir, env);
                let password = read_secret(r, t, "password", base_dir, env);
                let token_position = read_position(r, t, "token_position", true);
                let expires_position = read_position(r, t, "expires_position", false);
                match (token_url, username, password, token_position) {
                    (Some(token_url), Some(username), Some(password), Some(token_position)) => {
                        Some(CredentialKind::TokenExchange {
                            token_url,
                            username,
                            password,
                            token_position,
                            expires_position,
                        })
                    }
                    _ => None,
                }
            }
            _ => Some(CredentialKind::None),
        };
        out.push(Credential {
            name,
            kind: kind.unwrap_or(CredentialKind::None),
        });
    }
    out
}

/// A value that is not a secret (a user name, a client id): written as it is, or a reference.
fn read_plain_or_ref(
    r: &mut Reader,
    t: &Table,
    key: &str,
    base_dir: &Path,
    env: &Environment,
) -> Option<String> {
    match r.spanned_string(t, key, true) {
        Some((text, span)) if text.starts_with("env:") || text.starts_with("file:") => {
            match secret::parse_ref(&text, base_dir)
                .and_then(|reference| secret::resolve(&reference, env))
            {
                Ok(value) => Some(value.expose().to_string()),
                Err(problem) => {
                    r.problem(span, t.key_path(key), secret_problem(t, &problem));
                    None
                }
            }
        }
        other => other.map(|(text, _)| text),
    }
}

/// `token_url`: an absolute http(s) URL with no user or password in it; a path starting with
/// '/' (relative to the system's base URL) where `relative` allows it.
fn read_token_url(r: &mut Reader, t: &Table, absolute_only: bool) -> Option<String> {
    let (text, span) = r.spanned_string(t, "token_url", true)?;
    let key = t.key_path("token_url");
    if text.starts_with('/') {
        if absolute_only {
            r.problem(
                span,
                key,
                format!("expected an absolute http:// or https:// URL, found \"{text}\""),
            );
            return None;
        }
        return Some(text);
    }
    match reqwest::Url::parse(&text) {
        Ok(url) if !url.username().is_empty() || url.password().is_some() => {
            r.problem(
                span,
                key,
                "inline secret: token_url must not carry a user or password",
            );
            None
        }
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(text),
        _ => {
            let expected = if absolute_only {
                "an http:// or https:// URL"
            } else {
                "an http:// or https:// URL, or a path starting with '/'"
            };
            r.problem(span, key, format!("expected {expected}, found \"{text}\""));
            None
        }
    }
}

/// A credential value: only `env:NAME` or `file:PATH`, resolved now so a missing one is named.
pub(super) fn read_secret(
    r: &mut Reader,
    t: &Table,
    key: &str,
    base_dir: &Path,
    env: &Environment,
) -> Option<Secret> {
    let (text, span) = r.spanned_string(t, key, true)?;
    let outcome =
        secret::parse_ref(&text, base_dir).and_then(|reference| secret::resolve(&reference, env));
    match outcome {
        Ok(secret) => Some(secret),
        Err(problem) => {
            r.problem(span, t.key_path(key), secret_problem(t, &problem));
            None
        }
    }
}

/// A secret's problem, naming the credential when its value cannot be sent.
fn secret_problem(t: &Table, problem: &secret::SecretProblem) -> String {
    let name = match t.map.get("name").map(|v| v.get_ref()) {
        Some(toml::de::DeValue::String(name)) => Some(name),
        _ => None,
    };
    match (problem, name) {
        (secret::SecretProblem::Unsendable(..), Some(name)) => {
            format!("credential \"{name}\": {problem}")
        }
        _ => problem.to_string(),
    }
}
