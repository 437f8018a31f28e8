//! Configuration: the example passes, and every kind of mistake is reported with its line and
//! key, all at once — through the library and through `syncdeck check-config`.

use std::path::{Path, PathBuf};
use std::process::Command;

use syncdeck::config::{self, ConfigError, Environment, Problem};

const VALID: &str = r#"
[source]
name = "Fleet"
base_url = "http://127.0.0.1:7300"
endpoint = "/fleet/api/devices"
results_position = "data.items"
id_field = "serial"
single_query = { serial = "{serial}" }
[source.pagination]
style = "page"
size = 100

[[credentials]]
name = "cmdb-cred"
kind = "bearer"
token = "env:SYNCDECK_TEST_TOKEN_SET"

[[connections]]
name = "cmdb"
system = "CMDB"
credential = "cmdb-cred"
base_url = "http://127.0.0.1:7300"
[connections.fetch]
path = "/cmdb/api/assets"
query = { serial_number = "{serial}" }
results_position = "result"
serial_field = "serial_number"
id_field = "sys_id"
[connections.update]
method = "PATCH"
path = "/cmdb/api/assets/{id}"
formatter = "json"
[connections.create]
method = "POST"
path = "/cmdb/api/assets"
[[connections.mapping]]
source = "hardware.memory_gb"
target = "ram_gb"
format = "integer"
"#;

fn env() -> Environment {
    Environment::with_fallbacks([("SYNCDECK_TEST_TOKEN_SET", "t0ken-value")])
}

fn problems(text: &str) -> Vec<Problem> {
    match config::parse(text, Path::new("/etc/syncdeck/test.toml"), &env()) {
        Ok(_) => panic!("expected problems, the config was accepted"),
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// The 1-based line of the first line containing `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in text"))
        + 1
}

fn assert_problem(problems: &[Problem], line: usize, key: &str, words: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.line == line && p.key == key && p.message.contains(words)),
        "no problem at line {line} for {key} saying {words:?}; got:\n{problems:#?}"
    );
}

#[test]
fn the_valid_config_loads_with_defaults() {
    let config = config::parse(VALID, Path::new("/etc/syncdeck/test.toml"), &env()).unwrap();
    let cmdb = &config.connections[0];
    assert_eq!(cmdb.name, "cmdb");
    assert!(cmdb.dry_run, "dry_run defaults to true");
    assert_eq!(cmdb.max_retries, 4);
    assert_eq!(cmdb.abort_after, 5);
    assert_eq!(cmdb.concurrency, 8);
    assert_eq!(config.store.retention_days, 15);
    assert_eq!(config.ui.fps, 15);
    // The resolved secret is there for requests but never shows.
    let debug = format!("{config:?}");
    assert!(!debug.contains("t0ken-value"), "secret leaked in Debug");
    assert!(debug.contains("env:SYNCDECK_TEST_TOKEN_SET"));
    let json = serde_json::to_string(&config).unwrap();
    assert!(!json.contains("t0ken-value"), "secret leaked in JSON");
}

#[test]
fn the_example_config_passes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let config = config::load(&path, &Environment::process())
        .unwrap_or_else(|e| panic!("config.example.toml must pass:\n{e}"));
    assert_eq!(config.connections.len(), 1);
    assert_eq!(config.connections[0].mapping.len(), 4);
}

#[test]
fn every_problem_is_reported_at_once_with_line_and_key() {
    let text = VALID
        .replace("style = \"page\"", "style = \"page\"\npage_parm = \"p\"")
        .replace("method = \"PATCH\"", "method = \"PATCHH\"")
        .replace("format = \"integer\"", "format = \"integr\"")
        .replace("credential = \"cmdb-cred\"", "credential = \"cmdb-prod\"")
        .replace(
            "path = \"/cmdb/api/assets\"\n[[",
            "path = \"/cmdb/api/assets/{id}\"\n[[",
        )
        .replace("size = 100", "size = \"100\"");
    let found = problems(&text);
    assert_problem(
        &found,
        line_of(&text, "page_parm"),
        "source.pagination.page_parm",
        "did you mean `page_param`",
    );
    assert_problem(
        &found,
        line_of(&text, "PATCHH"),
        "connections[0].update.method",
        "expected PATCH, PUT or POST",
    );
    assert_problem(
        &found,
        line_of(&text, "integr"),
        "connections[0].mapping[0].format",
        "unknown formatter \"integr\"",
    );
    assert_problem(
        &found,
        line_of(&text, "credential = \"cmdb-prod\""),
        "connections[0].credential",
        "credential \"cmdb-prod\" is not defined",
    );
    assert_problem(
        &found,
        line_of(&text, "[connections.create]") + 2,
        "connections[0].create.path",
        "a create path cannot use {id}",
    );
    assert_problem(
        &found,
        line_of(&text, "size = \"100\""),
        "source.pagination.size",
        "expected a whole number",
    );
    assert_eq!(found.len(), 6, "{found:#?}");
}

#[test]
fn duplicate_connection_names_are_refused() {
    let second = VALID[VALID.find("[[connections]]").unwrap()..].to_string();
    let text = format!("{VALID}\n{second}");
    let found = problems(&text);
    let second_name_line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "name = \"cmdb\"")
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert_problem(
        &found,
        second_name_line,
        "connections[1].name",
        "duplicate connection name \"cmdb\"",
    );
    // Its mapping target repeats only within the second connection's own rules: no other problem.
    assert_eq!(found.len(), 1, "{found:#?}");
}

#[test]
fn inline_and_unset_secrets_are_named_without_their_value() {
    let text = VALID.replace("env:SYNCDECK_TEST_TOKEN_SET", "sup3r-s3cret-inline");
    let found = problems(&text);
    assert_problem(
        &found,
        line_of(&text, "sup3r"),
        "credentials[0].token",
        "inline secret",
    );
    assert!(
        found.iter().all(|p| !p.message.contains("sup3r")),
        "the inline secret was echoed"
    );

    let text = VALID.replace("SYNCDECK_TEST_TOKEN_SET", "SYNCDECK_TEST_SURELY_UNSET_9");
    let found = problems(&text);
    assert_problem(
        &found,
        line_of(&text, "SURELY_UNSET"),
        "credentials[0].token",
        "environment variable SYNCDECK_TEST_SURELY_UNSET_9 is not set",
    );

    let text = VALID.replace(
        "base_url = \"http://127.0.0.1:7300\"\n[connections.fetch]",
        "base_url = \"http://bot:pa55word@127.0.0.1:7300\"\n[connections.fetch]",
    );
    let found = problems(&text);
    assert_problem(
        &found,
        line_of(&text, "pa55word"),
        "connections[0].base_url",
        "inline secret",
    );
    assert!(found.iter().all(|p| !p.message.contains("pa55word")));
}

#[cfg(unix)]
#[test]
fn a_file_secret_readable_by_others_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("cmdb.token");
    std::fs::write(&secret, "file-t0ken\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        VALID.replace("env:SYNCDECK_TEST_TOKEN_SET", "file:cmdb.token"),
    )
    .unwrap();
    let err = config::load(&file, &env()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("chmod 600 {}", secret.display())),
        "{text}"
    );
    assert!(!text.contains("file-t0ken"));

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = config::load(&file, &env()).unwrap();
    match &config.credentials[0].kind {
        config::CredentialKind::Bearer { token } => assert_eq!(token.expose(), "file-t0ken"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn wrong_types_missing_keys_and_style_mismatches() {
    let text = VALID
        .replace("id_field = \"serial\"\n", "")
        .replace("style = \"page\"", "style = \"page\"\ncursor_param = \"c\"")
        .replace("formatter = \"json\"", "formatter = \"xml\"")
        .replace("[[connections]]\n", "[[connections]]\ndry_run = \"yes\"\n");
    let found = problems(&text);
    assert_problem(
        &found,
        line_of(&text, "[source]"),
        "source.id_field",
        "missing key `id_field`",
    );
    assert_problem(
        &found,
        line_of(&text, "cursor_param"),
        "source.pagination.cursor_param",
        "does not apply to pagination style \"page\"",
    );
    assert_problem(
        &found,
        line_of(&text, "formatter = \"xml\""),
        "connections[0].update.xml_root",
        "needs `xml_root`",
    );
    assert_problem(
        &found,
        line_of(&text, "dry_run"),
        "connections[0].dry_run",
        "expected true or false, found the string \"yes\"",
    );
}

#[test]
fn toml_syntax_errors_name_their_line() {
    let text = VALID.replace("name = \"Fleet\"", "name = \"Fleet");
    let found = problems(&text);
    assert!(found[0].message.starts_with("invalid TOML"), "{found:#?}");
    assert_eq!(found[0].line, line_of(&text, "name = \"Fleet"));
}

fn syncdeck(args: &[&str]) -> std::process::Output {
    let state = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_syncdeck"))
        .args(args)
        .env("XDG_STATE_HOME", state.path())
        .env("XDG_DATA_HOME", state.path())
        .env("XDG_CONFIG_HOME", state.path())
        .env_remove("SYNCDECK_CONFIG")
        .env_remove("SYNCDECK_STORE")
        .output()
        .expect("run syncdeck")
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml")
}

#[test]
fn check_config_accepts_the_example() {
    let out = syncdeck(&["check-config", example_path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": OK"), "{stdout}");
    assert!(stdout.contains("cmdb"), "{stdout}");
}

#[test]
fn check_config_names_three_planted_mistakes_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("planted.toml");
    let text = std::fs::read_to_string(example_path())
        .unwrap()
        .replace("method = \"PATCH\"", "method = \"FETCH\"")
        .replace("format = \"lower\"", "format = \"lowercase\"")
        .replace(
            "retention_days = 15",
            "retention_days = 15\ncolour = \"blue\"",
        );
    std::fs::write(&file, &text).unwrap();
    let out = syncdeck(&["check-config", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let shown = file.display().to_string();
    for (needle, key) in [
        ("\"FETCH\"", "connections[0].update.method"),
        ("\"lowercase\"", "connections[0].mapping[0].format"),
        ("colour", "store.colour"),
    ] {
        let expected = format!("{shown}:{}:", line_of(&text, needle));
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&expected) && l.contains(key)),
            "missing `{expected} ... {key}` in:\n{stderr}"
        );
    }
    assert!(stderr.contains("3 problems in"), "{stderr}");
}

#[test]
fn check_config_on_a_missing_file_exits_2() {
    let out = syncdeck(&["check-config", "/nonexistent/syncdeck.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file"));
}
