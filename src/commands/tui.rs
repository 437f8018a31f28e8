//! `syncdeck` and `syncdeck demo`: the screens, on the configured systems or on the built-in demo.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::exit::{CommandError, Exit};
use super::setup::{Access, load_config, open_store};
use crate::config::{self, Environment};
use crate::demo::{self, DemoOptions};
use crate::store::{Store, StoreOptions};
use crate::ui::{self, AppOptions, UiExit};

/// Opens the screens: on the config when one exists (or is named), else on the demo.
pub fn run(
    config: Option<&Path>,
    store: Option<&Path>,
    demo_requested: bool,
) -> Result<Exit, CommandError> {
    let runtime = tokio::runtime::Runtime::new().map_err(|source| CommandError::Io {
        context: "cannot start the async runtime".into(),
        source,
    })?;
    let use_demo =
        demo_requested || (config.is_none() && !crate::paths::default_config_file().exists());
    let exit = if use_demo {
        runtime.block_on(run_demo(store))?
    } else {
        let config = load_config(config)?;
        let store = open_store(store, &config, Access::Read)?;
        let theme = config.ui.theme;
        runtime
            .block_on(ui::run(
                Arc::new(config),
                store,
                AppOptions {
                    theme,
                    banner: None,
                    triage: None,
                },
            ))
            .map_err(|source| CommandError::Io {
                context: "the terminal".into(),
                source,
            })?
    };
    Ok(match exit {
        UiExit::Quit => Exit::Success,
        UiExit::Signal(number) => Exit::Signal(number),
    })
}

/// The demo systems in-process on a free loopback port, a scratch store, the demo config.
async fn run_demo(store: Option<&Path>) -> Result<UiExit, CommandError> {
    let server = demo::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        DemoOptions::default(),
    )
    .await
    .map_err(|source| CommandError::Io {
        context: "cannot start the demo systems".into(),
        source,
    })?;
    let text = demo::config_for(server.addr());
    let env = Environment::with_fallbacks(demo::demo_secrets().iter().copied());
    let config = config::parse(&text, Path::new("assets/demo/config.toml (built in)"), &env)?;
    let scratch = store.is_none().then(scratch_dir);
    let store_path = match (store, &scratch) {
        (Some(path), _) => path.to_path_buf(),
        (None, Some(dir)) => dir.join("demo.redb"),
        (None, None) => unreachable!("a scratch dir exists when no store is named"),
    };
    let store = Store::open(&store_path, StoreOptions::default())?;
    // The banner names the store the demo really keeps its history in.
    let kept = match scratch {
        None => format!("store {}", store_path.display()),
        Some(_) => "scratch store, deleted on quit".to_string(),
    };
    // Short enough for two lines at 80 columns: where the demo is, what happens to its
    // history, and the way out.
    let banner = format!(
        "DEMO on http://{} · {kept} · to leave the demo, write {} (see config.example.toml)",
        server.addr(),
        home_relative(&crate::paths::default_config_file())
    );
    tracing::info!(addr = %server.addr(), store = %store_path.display(), "demo started");
    let theme = config.ui.theme;
    let result = ui::run(
        Arc::new(config),
        store,
        AppOptions {
            theme,
            banner: Some(banner),
            triage: None,
        },
    )
    .await;
    server.shutdown().await;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    result.map_err(|source| CommandError::Io {
        context: "the terminal".into(),
        source,
    })
}

/// `~/.config/syncdeck/config.toml` rather than the full path under the home directory.
fn home_relative(path: &Path) -> String {
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if !home.as_os_str().is_empty() => match path.strip_prefix(&home) {
            Ok(rest) => format!("~/{}", rest.display()),
            Err(_) => path.display().to_string(),
        },
        _ => path.display().to_string(),
    }
}

/// A fresh directory for the demo's scratch store, removed when the demo ends.
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{}{}",
        crate::ui::app::DEMO_SCRATCH_PREFIX,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    dir
}
