//! Screens under test: the App over a real store in a temp dir, drawn on ratatui's TestBackend
//! with a frozen clock.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use syncdeck::config::{Config, Theme};
use syncdeck::engine::Command;
use syncdeck::store::{Store, StoreOptions};
use syncdeck::ui::app::{App, AppOptions};
use tokio::sync::mpsc;

/// 14 March 2025 at `h:m:s` UTC, the day every screen is drawn on.
pub fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, h, m, s).unwrap()
}

/// The frozen clock of every screen: 15:00 that day.
pub fn now() -> DateTime<Utc> {
    at(15, 0, 0)
}

/// The default theme and no banner, as `syncdeck` starts on a config file.
pub fn plain() -> AppOptions {
    AppOptions {
        theme: Theme::Default,
        banner: None,
        triage: None,
    }
}

/// An App over `store` with `config`, as `syncdeck` builds it (the clock not frozen), and the
/// commands it sends.
pub fn app_over(
    config: Arc<Config>,
    store: &Store,
    options: AppOptions,
) -> (App, mpsc::UnboundedReceiver<Command>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = App::new(config, store.clone(), tx, options).unwrap();
    (app, rx)
}

/// An App on the frozen clock over a store that keeps everything, in a temp dir.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub config: Arc<Config>,
    pub store: Store,
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub app: App,
    /// What the app writes to the terminal outside frames (OSC 52 copies).
    pub clipboard: Arc<Mutex<Vec<u8>>>,
}

impl Fixture {
    /// Opens the store, lets `fill` write to it, then starts the App at [`now`].
    pub fn open(
        config: Arc<Config>,
        options: AppOptions,
        fill: impl FnOnce(&Config, &Store),
    ) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path().join("store.redb"),
            StoreOptions { retention_days: 0 },
        )
        .unwrap();
        fill(&config, &store);
        let (mut app, commands) = app_over(config.clone(), &store, options);
        app.freeze_clock(now());
        let clipboard = Arc::new(Mutex::new(Vec::new()));
        app.set_terminal_writer(Box::new(Shared(clipboard.clone())));
        Fixture {
            dir,
            config,
            store,
            commands,
            app,
            clipboard,
        }
    }
}

/// Collects what the app writes to the terminal outside frames.
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One key press with no modifier.
pub fn key(app: &mut App, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
}

/// Types `text`, one key per character.
pub fn chars(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// Waits up to `limit` for the app's background jobs (counting, exports, health checks).
pub fn settle(app: &mut App, limit: Duration) {
    assert!(app.wait_background(limit), "background jobs did not finish");
}

/// One frame of `app` on a `width` x `height` TestBackend.
pub fn draw(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| app.draw(frame)).unwrap();
    terminal
}

/// One frame of `app` at `width` x `height`, as text.
pub fn render(app: &mut App, width: u16, height: u16) -> String {
    draw(app, width, height).backend().to_string()
}
