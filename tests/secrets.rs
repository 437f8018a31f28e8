//! Secrets (SPEC section 7, issue 7): a canary token set for a connection's credential is
//! echoed back by the destination in every way a careless server does (a 401 body quoting the
//! Authorization header, an error code and message, a `Location` and `WWW-Authenticate`
//! header), sits in the query of the update path, and is offered a redirect to another port —
//! and is then found nowhere syncdeck writes: log files (at trace level), the redb file, the
//! JSON/CSV/table outputs, the screen of the entry details. `file:` and `env:` secrets that
//! cannot be used stop `syncdeck check-config` and `syncdeck run` with exit code 2 and the fix.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{any, get, put};
use ratatui::crossterm::event::KeyCode;
use serde_json::{Value, json};
use syncdeck::config::{self, Environment};
use syncdeck::store::{Store, StoreOptions};
use syncdeck::ui::app::App;

mod common;

use common::cli::Output;
use common::screen::key;

const CANARY: &str = "SYNCDECK-CANARY-7f3a9c";
/// A part of the canary that no redaction marker or product text contains.
const CANARY_TAIL: &str = "7f3a9c";
/// The variable the credential names; set only in the child's environment.
const TOKEN_VAR: &str = "SYNCDECK_TEST_SECRETS_CANARY_TOKEN";
/// Longest a child may take; a hung one is killed and the test fails.
const CHILD_LIMIT: Duration = Duration::from_secs(120);

// ----- the servers ----------------------------------------------------------------------------

/// What the redirect target got: each request's method, URL and headers.
#[derive(Default)]
struct Elsewhere(Mutex<Vec<String>>);

fn authorization(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The redirect target, on its own port: records everything, answers 200.
async fn elsewhere() -> (SocketAddr, Arc<Elsewhere>) {
    let seen = Arc::new(Elsewhere::default());
    let router = Router::new()
        .fallback(any(
            |State(seen): State<Arc<Elsewhere>>,
             method: axum::http::Method,
             uri: axum::http::Uri,
             headers: HeaderMap| async move {
                seen.0
                    .lock()
                    .unwrap()
                    .push(format!("{method} {uri} {headers:?}"));
                StatusCode::OK
            },
        ))
        .with_state(seen.clone());
    (serve(router).await, seen)
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// The source and the destination on one port. Writes: S-1 gets a 401 quoting the header,
/// S-2 a 302 to `elsewhere` carrying the token, S-3 a 400 with the token in its code, message,
/// `Location` and `WWW-Authenticate`.
async fn careless_destination(elsewhere: SocketAddr) -> SocketAddr {
    let records: Vec<Value> = (1..=3)
        .map(|i| json!({"serial": format!("S-{i}"), "name": format!("host-{i}")}))
        .collect();
    let router = Router::new()
        .route(
            "/devices",
            get(move || {
                let records = records.clone();
                async move { axum::Json(records) }
            }),
        )
        .route(
            "/things",
            get(|Query(query): Query<HashMap<String, String>>| async move {
                let serial = query.get("serial").cloned().unwrap_or_default();
                axum::Json(json!([{"serial": serial, "id": format!("T-{serial}"), "name": "old"}]))
            }),
        )
        .route(
            "/things/{id}",
            put(
                move |UrlPath(id): UrlPath<String>, headers: HeaderMap| async move {
                    let auth = authorization(&headers);
                    let token = auth.strip_prefix("Bearer ").unwrap_or(&auth).to_string();
                    match id.as_str() {
                        "T-S-1" => (
                            StatusCode::UNAUTHORIZED,
                            axum::Json(json!({
                                "error": {"code": "invalid_token", "message": format!("rejected {auth}")},
                                "received": {"authorization": auth},
                            })),
                        )
                            .into_response(),
                        "T-S-2" => {
                            let location =
                                format!("http://{elsewhere}/things/T-S-2?access_token={token}");
                            (
                                StatusCode::FOUND,
                                [(header::LOCATION, location.clone())],
                                format!("moved to {location}"),
                            )
                                .into_response()
                        }
                        _ => (
                            StatusCode::BAD_REQUEST,
                            [
                                (header::LOCATION, format!("/things/{id}?token={token}")),
                                (
                                    header::WWW_AUTHENTICATE,
                                    format!("Bearer realm=\"{token}\""),
                                ),
                            ],
                            axum::Json(json!({
                                "error": {"code": format!("BAD_{token}"), "message": format!("{token} is not valid here")},
                            })),
                        )
                            .into_response(),
                    }
                },
            ),
        );
    serve(router).await
}

fn config_text(addr: SocketAddr) -> String {
    format!(
        r#"
[source]
name = "Canary source"
base_url = "http://{addr}"
endpoint = "/devices"
results_position = "_root"
id_field = "serial"

[[credentials]]
name = "canary"
kind = "bearer"
token = "env:{TOKEN_VAR}"

[[connections]]
name = "careless"
system = "Careless destination"
credential = "canary"
base_url = "http://{addr}"
dry_run = false
max_retries = 1
timeout_secs = 5
[connections.fetch]
path = "/things"
query = {{ serial = "{{serial}}" }}
results_position = "_root"
serial_field = "serial"
id_field = "id"
[connections.update]
method = "PUT"
# The token also rides in the query of every write URL, which entries and logs show.
path = "/things/{{id}}?trace={CANARY}"
formatter = "json"
[[connections.mapping]]
source = "name"
target = "name"
format = "string"
"#
    )
}

// ----- the binary -----------------------------------------------------------------------------

/// `syncdeck ARGS` with XDG dirs under `home`, the token in its environment and logging at
/// trace level (every crate), so anything that could log the token does.
async fn syncdeck(home: &Path, args: &[&str]) -> Output {
    let mut command = common::cli::command(home);
    command
        .args(args)
        .env("SYNCDECK_LOG", "trace")
        .env(TOKEN_VAR, CANARY);
    common::cli::output(command, CHILD_LIMIT).await
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(read) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in read.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn assert_clean(what: &str, bytes: &[u8]) {
    assert!(
        !contains(bytes, CANARY) && !contains(bytes, CANARY_TAIL),
        "the canary is in {what}:\n{}",
        String::from_utf8_lossy(bytes)
    );
}

// ----- the TUI --------------------------------------------------------------------------------

fn screen(app: &mut App, width: u16, height: u16) -> String {
    common::screen::settle(app, Duration::from_secs(10));
    common::screen::render(app, width, height)
}

/// The entry details of each report row, at two sizes, scrolled through.
fn detail_screens(store: &Store, config: Arc<config::Config>, rows: usize) -> Vec<String> {
    let (mut app, _commands) = common::screen::app_over(config, store, common::screen::plain());
    let mut screens = Vec::new();
    key(&mut app, KeyCode::Char('3'));
    screens.push(screen(&mut app, 160, 48));
    key(&mut app, KeyCode::Char('g'));
    for row in 0..rows {
        if row > 0 {
            key(&mut app, KeyCode::Char('j'));
        }
        key(&mut app, KeyCode::Enter);
        for _ in 0..4 {
            screens.push(screen(&mut app, 160, 48));
            screens.push(screen(&mut app, 80, 24));
            key(&mut app, KeyCode::PageDown);
        }
        key(&mut app, KeyCode::Esc);
    }
    screens
}

// ----- the tests ------------------------------------------------------------------------------

#[test]
fn a_canary_token_is_found_nowhere_syncdeck_writes() {
    assert!(
        std::env::var_os(TOKEN_VAR).is_none(),
        "{TOKEN_VAR} must not be set"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let config_path = home.path().join("canary.toml");
    let store_path = home.path().join("store").join("canary.redb");
    std::fs::create_dir_all(store_path.parent().unwrap()).unwrap();

    let (outputs, redirected, other) = runtime.block_on(async {
        let (other, redirected) = elsewhere().await;
        let addr = careless_destination(other).await;
        std::fs::write(&config_path, config_text(addr)).unwrap();
        let config = config_path.to_str().unwrap();
        let store = store_path.to_str().unwrap();
        let global = ["--config", config, "--store", store];
        let mut outputs = Vec::new();
        for args in [
            &["run", "--full", "--live", "--force", "--json"][..],
            &["run", "--full", "--live", "--force"],
            &["report", "--format", "csv", "--days", "15"],
            &["report", "--format", "json", "--days", "15"],
            &["report", "--days", "15"],
            &["contracts", "--json"],
            &["check", "--connection", "careless"],
        ] {
            let mut all = global.to_vec();
            all.extend_from_slice(args);
            let out = syncdeck(home.path(), &all).await;
            outputs.push((args.join(" "), out));
        }
        (outputs, redirected, other)
    });

    // The runs ran: three records failed, each for its own reason.
    let (_, run) = &outputs[0];
    assert_eq!(run.code, Some(1), "{run:?}");
    let (_, json) = &outputs[3];
    let entries: Vec<Value> = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| panic!("not a JSON array ({e}): {json:?}"));
    assert_eq!(
        entries.len(),
        6,
        "three entries in each of two runs: {json:?}"
    );
    let (_, csv) = &outputs[2];
    assert_eq!(csv.code, Some(0), "{csv:?}");
    let not_followed = format!("redirected to another host or port (http://{other}): not followed");
    for expected in [
        "401",
        "302",
        "400",
        "[redacted]",
        "another origin",
        &not_followed,
    ] {
        assert!(csv.stdout.contains(expected), "{expected} not in {csv:?}");
    }

    // The outputs.
    for (args, out) in &outputs {
        assert_clean(&format!("the stdout of `{args}`"), out.stdout.as_bytes());
        assert_clean(&format!("the stderr of `{args}`"), out.stderr.as_bytes());
    }
    // Every file syncdeck wrote: logs, the store, anything else under its directories.
    let written: Vec<PathBuf> = files_under(home.path())
        .into_iter()
        .filter(|path| *path != config_path)
        .collect();
    let logs: Vec<&PathBuf> = written
        .iter()
        .filter(|p| p.to_string_lossy().contains("syncdeck.log"))
        .collect();
    assert!(!logs.is_empty(), "no log file in {written:?}");
    let mut log_bytes = 0;
    for path in &written {
        let bytes = std::fs::read(path).unwrap();
        if logs.contains(&path) {
            log_bytes += bytes.len();
        }
        assert_clean(&path.display().to_string(), &bytes);
    }
    assert!(written.contains(&store_path), "{written:?}");
    assert!(log_bytes > 0, "the logs are empty: {logs:?}");

    // The redirect to another port was not followed: its target got nothing at all.
    let got = redirected.0.lock().unwrap().clone();
    assert!(got.is_empty(), "the redirect target was called: {got:#?}");

    // The screens: the report and every entry's details, scrolled.
    let env = Environment::with_fallbacks([(TOKEN_VAR, CANARY)]);
    let config = Arc::new(config::load(&config_path, &env).unwrap());
    // What a panic or an `expect` printing a credential would show (the update path holds the
    // canary as written in the file, so the whole config's Debug does too).
    assert_clean(
        "the credentials' Debug",
        format!("{:?}", config.credentials).as_bytes(),
    );
    let store = Store::open(store_path.clone(), StoreOptions::default()).unwrap();
    let screens = detail_screens(&store, config, 6);
    let all = screens.join("\n");
    assert!(all.contains("401"), "{all}");
    assert!(all.contains("[redacted]"), "{all}");
    assert_clean("the screens", all.as_bytes());
    println!(
        "canary: absent from {} outputs, {} files ({log_bytes} bytes of trace logs), {} screens; \
         the redirect target got 0 requests",
        outputs.len() * 2,
        written.len(),
        screens.len()
    );
}

/// A config whose one credential is `token`, checked in `home`.
fn credential_config(token: &str) -> String {
    format!(
        r#"
[source]
base_url = "http://127.0.0.1:9"
endpoint = "/devices"
results_position = "_root"
id_field = "serial"

[[credentials]]
name = "cmdb"
kind = "bearer"
token = "{token}"

[[connections]]
name = "cmdb"
credential = "cmdb"
base_url = "http://127.0.0.1:9"
[connections.fetch]
path = "/things"
query = {{ serial = "{{serial}}" }}
serial_field = "serial"
id_field = "id"
[connections.update]
method = "PATCH"
path = "/things/{{id}}"
[[connections.mapping]]
source = "name"
target = "name"
"#
    )
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_secret_readable_by_others_stops_check_config_and_run_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let secret = home.path().join("cmdb.token");
    std::fs::write(&secret, format!("{CANARY}\n")).unwrap();
    let config = home.path().join("config.toml");
    std::fs::write(&config, credential_config("file:cmdb.token")).unwrap();
    let config_arg = config.to_str().unwrap();
    let fix = format!("chmod 600 {}", secret.display());

    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = syncdeck(home.path(), &["check-config", config_arg]).await;
        assert_eq!(out.code, Some(2), "mode {mode:o}: {out:?}");
        assert!(out.stderr.contains(&fix), "mode {mode:o}: {out:?}");
        assert!(out.stderr.contains("credentials[0].token"), "{out:?}");
        assert_clean("check-config's output", out.stderr.as_bytes());
        assert_clean("check-config's output", out.stdout.as_bytes());
    }
    // `run` refuses the same config before any request.
    let out = syncdeck(
        home.path(),
        &["--config", config_arg, "run", "--full", "--dry-run"],
    )
    .await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains(&fix), "{out:?}");
    assert_clean("run's output", format!("{out:?}").as_bytes());

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = syncdeck(home.path(), &["check-config", config_arg]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_clean("check-config's output", format!("{out:?}").as_bytes());
}

#[tokio::test]
async fn a_missing_env_secret_is_named_by_check_config_and_run() {
    const UNSET: &str = "SYNCDECK_TEST_SECRETS_SURELY_UNSET_7";
    assert!(std::env::var_os(UNSET).is_none(), "{UNSET} must not be set");
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.toml");
    std::fs::write(&config, credential_config(&format!("env:{UNSET}"))).unwrap();
    let config_arg = config.to_str().unwrap();

    let out = syncdeck(home.path(), &["check-config", config_arg]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    let expected = format!("environment variable {UNSET} is not set");
    assert!(out.stderr.contains(&expected), "{out:?}");
    assert!(out.stderr.contains("credentials[0].token"), "{out:?}");

    let out = syncdeck(
        home.path(),
        &["--config", config_arg, "run", "--full", "--dry-run"],
    )
    .await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains(&expected), "{out:?}");
}

// ----- token credentials ----------------------------------------------------------------------

const SECRET_CANARY: &str = "SYNCDECK-CANARY-SECRET-5e1d77";
const TOKEN_CANARY: &str = "SYNCDECK-CANARY-TOKEN-9b4c21";
const SECRET_VAR: &str = "SYNCDECK_TEST_SECRETS_CLIENT_SECRET";

/// A token endpoint that hands out canary tokens (a new one each time, the first rejected by
/// the destination after one use) and a destination that echoes the token it gets everywhere.
async fn careless_token_systems() -> SocketAddr {
    let issued = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let listed: Vec<Value> = (1..=3)
        .map(|i| json!({"serial": format!("T-{i}"), "name": format!("host-{i}")}))
        .collect();
    let router = Router::new()
        .route(
            "/oauth2/token",
            axum::routing::post({
                let issued = issued.clone();
                move |body: String| {
                    let issued = issued.clone();
                    async move {
                        if !body.contains(SECRET_CANARY) {
                            return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client", "error_description": format!("bad secret in {body}")}))).into_response();
                        }
                        let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        // The answer echoes the secret too, as a careless endpoint might.
                        axum::Json(json!({"access_token": format!("{TOKEN_CANARY}-{n}"), "expires_in": 3600, "echo": body})).into_response()
                    }
                }
            }),
        )
        .route(
            "/devices",
            get(move || {
                let listed = listed.clone();
                async move { axum::Json(listed) }
            }),
        )
        .route(
            "/things",
            get(|Query(query): Query<HashMap<String, String>>, headers: HeaderMap| async move {
                let auth = authorization(&headers);
                if auth.ends_with("-1") {
                    // The first token is refused: it is renewed once.
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": {"code": "expired", "message": format!("token {auth} expired")}}))).into_response();
                }
                let serial = query.get("serial").cloned().unwrap_or_default();
                axum::Json(json!([{"serial": serial, "id": format!("X-{serial}"), "name": "old"}])).into_response()
            }),
        )
        .route(
            "/things/{id}",
            put(|headers: HeaderMap| async move {
                let auth = authorization(&headers);
                (
                    StatusCode::BAD_REQUEST,
                    [(header::WWW_AUTHENTICATE, format!("Bearer error=\"{auth}\""))],
                    axum::Json(json!({"error": {"code": format!("BAD_{auth}"), "message": format!("you sent {auth}")}})),
                )
                    .into_response()
            }),
        );
    serve(router).await
}

#[test]
fn token_credentials_leave_no_secret_or_token_anywhere_syncdeck_writes() {
    assert!(
        std::env::var_os(SECRET_VAR).is_none(),
        "{SECRET_VAR} must not be set"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let config_path = home.path().join("tokens.toml");
    let store_path = home.path().join("store").join("tokens.redb");
    std::fs::create_dir_all(store_path.parent().unwrap()).unwrap();
    let outputs = runtime.block_on(async {
        let addr = careless_token_systems().await;
        let text = format!(
            r#"
[source]
base_url = "http://{addr}"
endpoint = "/devices"
id_field = "serial"

[[credentials]]
name = "oauth"
kind = "oauth2_client_credentials"
token_url = "http://{addr}/oauth2/token"
client_id = "syncdeck"
client_secret = "env:{SECRET_VAR}"

[[connections]]
name = "careless-oauth"
credential = "oauth"
base_url = "http://{addr}"
dry_run = false
max_retries = 0
[connections.fetch]
path = "/things"
query = {{ serial = "{{serial}}" }}
serial_field = "serial"
id_field = "id"
[connections.update]
method = "PUT"
path = "/things/{{id}}"
[[connections.mapping]]
source = "name"
target = "name"
"#
        );
        std::fs::write(&config_path, text).unwrap();
        let config = config_path.to_str().unwrap();
        let store = store_path.to_str().unwrap();
        let mut outputs = Vec::new();
        for args in [
            &["run", "--full", "--live", "--force", "--json"][..],
            &["report", "--format", "csv", "--days", "15"],
            &["report", "--format", "json", "--days", "15"],
            &["check", "--connection", "careless-oauth"],
        ] {
            let mut command = common::cli::command(home.path());
            command
                .arg("--config")
                .arg(config)
                .arg("--store")
                .arg(store)
                .args(args)
                .env("SYNCDECK_LOG", "trace")
                .env(SECRET_VAR, SECRET_CANARY);
            outputs.push((
                args.join(" "),
                common::cli::output(command, CHILD_LIMIT).await,
            ));
        }
        outputs
    });
    let (_, run) = &outputs[0];
    assert_eq!(run.code, Some(1), "{run:?}");
    let summary = run.json();
    assert_eq!(
        summary["connections"][0]["counters"]["failed"], 3,
        "{summary:#}"
    );
    let (_, csv) = &outputs[1];
    assert!(csv.stdout.contains("[redacted]"), "{csv:?}");
    let clean = |what: &str, bytes: &[u8]| {
        for canary in [SECRET_CANARY, TOKEN_CANARY, "5e1d77", "9b4c21"] {
            assert!(
                !contains(bytes, canary),
                "{canary} is in {what}:\n{}",
                String::from_utf8_lossy(bytes)
            );
        }
    };
    for (args, out) in &outputs {
        clean(&format!("the stdout of `{args}`"), out.stdout.as_bytes());
        clean(&format!("the stderr of `{args}`"), out.stderr.as_bytes());
    }
    let written: Vec<PathBuf> = files_under(home.path())
        .into_iter()
        .filter(|path| *path != config_path)
        .collect();
    assert!(
        written
            .iter()
            .any(|p| p.to_string_lossy().contains("syncdeck.log")),
        "{written:?}"
    );
    for path in &written {
        clean(&path.display().to_string(), &std::fs::read(path).unwrap());
    }
}
