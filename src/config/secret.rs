//! Secret references (`env:NAME`, `file:PATH`) and the values they resolve to.
//!
//! A secret never appears inline in a config file, and its value never appears in `Debug`,
//! `Display` or serialized output: those show the reference (`env:CMDB_TOKEN`) instead.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

/// Where the value of a secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// A file, private to its owner, holding the value alone on one line (surrounding
    /// whitespace and a final line break are trimmed).
    File(PathBuf),
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// Why a secret reference could not be used. The messages never contain a secret value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretProblem {
    /// The text is not `env:NAME` or `file:PATH`: a secret written inline.
    Inline,
    /// `env:` or `file:` with nothing after it, or an invalid variable name.
    Malformed(String),
    /// The environment variable is not set (or empty).
    UnsetEnv(String),
    /// The file cannot be read.
    Unreadable(PathBuf, String),
    /// The file can be read by its group or by others.
    NotPrivate(PathBuf, u32),
    /// The file holds more than one line.
    SeveralLines(PathBuf, usize),
    /// The value holds a byte an HTTP header cannot carry (what, in words).
    Unsendable(SecretRef, &'static str),
}

impl fmt::Display for SecretProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretProblem::Inline => write!(
                f,
                "inline secret: a credential value must be a reference, `env:NAME` or `file:PATH` \
                 (the value is not shown here)"
            ),
            SecretProblem::Malformed(why) => write!(f, "malformed secret reference: {why}"),
            SecretProblem::UnsetEnv(name) => {
                write!(
                    f,
                    "environment variable {name} is not set (export {name}=...)"
                )
            }
            SecretProblem::Unreadable(path, why) => {
                write!(f, "cannot read secret file {}: {why}", path.display())
            }
            SecretProblem::NotPrivate(path, mode) => write!(
                f,
                "secret file {} is readable by group or others (mode {:o}); fix with `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ),
            SecretProblem::SeveralLines(path, lines) => write!(
                f,
                "secret file {} holds {lines} lines: a secret file holds the value alone on one \
                 line (a final line break is fine)",
                path.display()
            ),
            SecretProblem::Unsendable(reference, what) => write!(
                f,
                "the value of {reference} holds {what}, which an HTTP header cannot carry (the \
                 value is not shown)"
            ),
        }
    }
}

/// Parses `env:NAME` or `file:PATH`; a relative file path is taken from `base_dir`.
pub fn parse_ref(text: &str, base_dir: &Path) -> Result<SecretRef, SecretProblem> {
    if let Some(name) = text.strip_prefix("env:") {
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(SecretProblem::Malformed(format!(
                "`env:` must be followed by a variable name such as CMDB_TOKEN, found `env:{name}`"
            )));
        }
        return Ok(SecretRef::Env(name.to_string()));
    }
    if let Some(path) = text.strip_prefix("file:") {
        if path.trim().is_empty() {
            return Err(SecretProblem::Malformed(
                "`file:` must be followed by a path".to_string(),
            ));
        }
        let path = Path::new(path);
        let full = if path.is_absolute() {
            path.to_path_buf()
        } else {
            base_dir.join(path)
        };
        return Ok(SecretRef::File(full));
    }
    Err(SecretProblem::Inline)
}

/// Where environment variables are read from: the process, or the process with fallbacks (the
/// demo supplies its own credentials when the operator has not set them).
#[derive(Clone, Debug, Default)]
pub struct Environment {
    fallbacks: HashMap<String, String>,
    /// Set for commands that only read the store (`report`, `contracts`): they send nothing, so
    /// a reference that cannot be resolved here reads as an empty value instead of an error.
    unresolved_allowed: bool,
}

impl Environment {
    /// The process environment alone.
    pub fn process() -> Self {
        Self::default()
    }

    /// The process environment, then these values for variables it does not set.
    pub fn with_fallbacks<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Environment {
            fallbacks: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            unresolved_allowed: false,
        }
    }

    /// The process environment, for a command that sends nothing: secrets it cannot resolve
    /// are left empty (never read, never sent) instead of refusing the config.
    pub fn for_reading() -> Self {
        Environment {
            unresolved_allowed: true,
            ..Self::default()
        }
    }

    /// True for [`Environment::for_reading`].
    pub fn allows_unresolved(&self) -> bool {
        self.unresolved_allowed
    }

    /// The value of a variable, if set and not empty.
    pub fn var(&self, name: &str) -> Option<String> {
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => Some(value),
            _ => self.fallbacks.get(name).cloned(),
        }
    }
}

/// Reads the value a reference points at.
pub fn resolve(reference: &SecretRef, env: &Environment) -> Result<Secret, SecretProblem> {
    match resolve_value(reference, env) {
        Err(_) if env.unresolved_allowed => Ok(Secret {
            reference: reference.clone(),
            value: String::new(),
        }),
        resolved => resolved,
    }
}

fn resolve_value(reference: &SecretRef, env: &Environment) -> Result<Secret, SecretProblem> {
    let value = match reference {
        SecretRef::Env(name) => env
            .var(name)
            .ok_or_else(|| SecretProblem::UnsetEnv(name.clone()))?,
        SecretRef::File(path) => read_private_file(path)?,
    };
    check_header_safe(reference, &value)?;
    Ok(Secret {
        reference: reference.clone(),
        value,
    })
}

fn read_private_file(path: &Path) -> Result<String, SecretProblem> {
    let meta = std::fs::metadata(path)
        .map_err(|e| SecretProblem::Unreadable(path.to_path_buf(), e.kind().to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(SecretProblem::NotPrivate(path.to_path_buf(), mode));
        }
    }
    if !meta.is_file() {
        return Err(SecretProblem::Unreadable(
            path.to_path_buf(),
            "not a regular file".to_string(),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| SecretProblem::Unreadable(path.to_path_buf(), e.kind().to_string()))?;
    let value = text.trim().to_string();
    if value.is_empty() {
        return Err(SecretProblem::Unreadable(
            path.to_path_buf(),
            "the file is empty".to_string(),
        ));
    }
    // The value is the whole file, so a second line would be sent as part of it (and a header
    // cannot carry a line break): refused rather than guessed at.
    let lines = value.lines().count();
    if lines > 1 {
        return Err(SecretProblem::SeveralLines(path.to_path_buf(), lines));
    }
    Ok(value)
}

/// Refuses a value with a control character (CR and LF above all): every secret goes into a
/// header (a token, a key, basic auth's user and password), and a header value with a line
/// break is refused when the request is built, which would read as "destination down" on
/// every record instead of a configuration error. Tab is a header's own whitespace.
fn check_header_safe(reference: &SecretRef, value: &str) -> Result<(), SecretProblem> {
    let bad = value.chars().find(|c| c.is_control() && *c != '\t');
    match bad {
        None => Ok(()),
        Some('\r' | '\n') => Err(SecretProblem::Unsendable(
            reference.clone(),
            "a line break (CR or LF)",
        )),
        Some(_) => Err(SecretProblem::Unsendable(
            reference.clone(),
            "a control character",
        )),
    }
}

/// A resolved secret. Shows and serializes as its reference, never as its value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    reference: SecretRef,
    value: String,
}

impl Secret {
    /// The secret value, for building a request header. Never log or display it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Where the value came from (`env:NAME`), safe to show.
    pub fn reference(&self) -> &SecretRef {
        &self.reference
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.reference)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_env_and_file_references() {
        let base = Path::new("/etc/syncdeck");
        assert_eq!(
            parse_ref("env:CMDB_TOKEN", base),
            Ok(SecretRef::Env("CMDB_TOKEN".into()))
        );
        assert_eq!(
            parse_ref("file:tokens/cmdb", base),
            Ok(SecretRef::File("/etc/syncdeck/tokens/cmdb".into()))
        );
        assert_eq!(
            parse_ref("file:/run/secrets/x", base),
            Ok(SecretRef::File("/run/secrets/x".into()))
        );
        assert_eq!(parse_ref("hunter2", base), Err(SecretProblem::Inline));
        assert!(matches!(
            parse_ref("env:", base),
            Err(SecretProblem::Malformed(_))
        ));
        assert!(matches!(
            parse_ref("env:A-B", base),
            Err(SecretProblem::Malformed(_))
        ));
    }

    #[test]
    fn debug_and_serialize_show_the_reference_only() {
        let secret = Secret {
            reference: SecretRef::Env("TOKEN".into()),
            value: "s3cr3t-value".into(),
        };
        assert_eq!(format!("{secret:?}"), "Secret(env:TOKEN)");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"env:TOKEN\"");
        assert_eq!(secret.expose(), "s3cr3t-value");
    }

    #[test]
    fn fallbacks_fill_unset_variables() {
        let env = Environment::with_fallbacks([("SYNCDECK_TEST_SURELY_UNSET_VAR", "x")]);
        assert_eq!(
            env.var("SYNCDECK_TEST_SURELY_UNSET_VAR").as_deref(),
            Some("x")
        );
        assert_eq!(
            Environment::process().var("SYNCDECK_TEST_SURELY_UNSET_VAR"),
            None
        );
    }

    #[test]
    fn values_a_header_cannot_carry_are_refused_unshown() {
        let reference = SecretRef::Env("T".into());
        for (value, what) in [
            ("abc\r\ndef", "a line break (CR or LF)"),
            ("abc\n", "a line break (CR or LF)"),
            ("a\u{1b}[2J", "a control character"),
            ("a\u{0}", "a control character"),
        ] {
            let problem = check_header_safe(&reference, value).unwrap_err();
            assert_eq!(
                problem.to_string(),
                format!(
                    "the value of env:T holds {what}, which an HTTP header cannot carry (the \
                     value is not shown)"
                )
            );
        }
        assert!(check_header_safe(&reference, "tok\ten é").is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn a_file_secret_is_one_line() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let private = |text: &str| {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            resolve(&SecretRef::File(path.clone()), &Environment::process())
        };
        assert_eq!(private("abc\n").unwrap().expose(), "abc");
        assert_eq!(private("  abc\r\n\n").unwrap().expose(), "abc");
        let problem = private("abc\nsecond line\n").unwrap_err();
        assert_eq!(
            problem.to_string(),
            format!(
                "secret file {} holds 2 lines: a secret file holds the value alone on one line \
                 (a final line break is fine)",
                path.display()
            )
        );
        assert!(!problem.to_string().contains("abc"));
    }

    #[cfg(unix)]
    #[test]
    fn file_secrets_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abc\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let reference = SecretRef::File(path.clone());
        let err = resolve(&reference, &Environment::process()).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secret = resolve(&reference, &Environment::process()).unwrap();
        assert_eq!(secret.expose(), "abc");
    }
}
