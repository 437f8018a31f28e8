//! The screen loop: keys and engine events in, frames out — at most `[ui] fps` frames a second,
//! and none while nothing changes. Signals (SIGTERM, SIGHUP, SIGINT) cancel the run going, record
//! it, and give the terminal back.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::crossterm::event::KeyCode;
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::Config;
use crate::engine::{self, Command, Event};
use crate::store::{Store, Trigger};
use crate::ui::app::follow;
use crate::ui::app::{App, AppOptions};
use crate::ui::tui::{self, Input, Tui};

/// How long an exit waits for a canceled run to record its end (in-flight requests finish or
/// time out meanwhile).
const CANCEL_GRACE: Duration = Duration::from_secs(15);

/// Environment variable that arms the test hook for a panic on the UI thread: with the value
/// `ui` at start, F12 panics (the end-to-end tests prove the terminal is given back and the panic
/// logged). Read once; unset, or any other value, F12 is an ordinary key.
pub const TEST_PANIC_ENV: &str = "SYNCDECK_TEST_PANIC";

/// The message of the test hook's panic.
pub const TEST_PANIC_MESSAGE: &str = "test panic on the UI thread (SYNCDECK_TEST_PANIC=ui, F12)";

/// True when [`TEST_PANIC_ENV`] asks for the UI test panic.
fn test_panic_armed() -> bool {
    std::env::var(TEST_PANIC_ENV).is_ok_and(|value| value == "ui")
}

/// How the screens ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiExit {
    /// The operator quit.
    Quit,
    /// A signal ended it; the conventional exit code is 128 + the signal number.
    Signal(i32),
}

/// Runs the screens until the operator quits or a signal arrives.
pub async fn run(config: Arc<Config>, store: Store, options: AppOptions) -> io::Result<UiExit> {
    let fps = config.ui.fps.max(1);
    let mut engine = engine::spawn_as(config.clone(), store.clone(), Trigger::console());
    // Runs of other processes on the same store, as their batches commit.
    let newest = store
        .list_runs(None, 1)
        .ok()
        .and_then(|runs| runs.first().map(|r| r.id));
    let (mut followed, follower) = follow::spawn(store.clone(), newest.unwrap_or(0));
    let mut app = App::new(config, store, engine.commands.clone(), options)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let panic_armed = test_panic_armed();
    let mut signals = Signals::new()?;
    let mut tui = Tui::enter()?;
    let stop_input = Arc::new(AtomicBool::new(false));
    let mut input = tui::spawn_input(stop_input.clone());

    // Counts, select-all, resync plans and exports finish on background threads.
    let background = app.background_signal();
    let frame_gap = Duration::from_secs_f64(1.0 / f64::from(fps));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tui.draw(|frame| app.draw(frame))?;
    // The first frame shows the state as it is: no second, identical frame for it.
    app.take_dirty();
    let mut last_frame = Instant::now();
    let mut pending_draw = false;
    let mut redraw_all = false;

    let exit = loop {
        if app.should_quit() {
            break UiExit::Quit;
        }
        let next_frame = last_frame + frame_gap;
        tokio::select! {
            received = input.recv() => match received {
                Some(Input::Key(key)) => {
                    if panic_armed && key.code == KeyCode::F(12) {
                        panic!("{TEST_PANIC_MESSAGE}");
                    }
                    app.handle_key(key)
                }
                Some(Input::Resize) => redraw_all = true,
                // The terminal went away (its input closed): leave as on SIGHUP.
                None => break UiExit::Signal(1),
            },
            received = engine.events.recv() => match received {
                Some(event) => {
                    app.handle_engine(event);
                    // Drain what else is queued: one frame shows it all.
                    while let Ok(event) = engine.events.try_recv() {
                        app.handle_engine(event);
                    }
                }
                None => break UiExit::Quit,
            },
            Some(found) = followed.recv() => {
                app.handle_followed(found);
                while let Ok(found) = followed.try_recv() {
                    app.handle_followed(found);
                }
            }
            _ = tick.tick() => app.tick(),
            _ = background.notified() => app.poll_background(),
            _ = tokio::time::sleep_until(next_frame), if pending_draw => {}
            signal = signals.recv() => break UiExit::Signal(signal),
        }
        if app.take_dirty() || redraw_all {
            pending_draw = true;
        }
        if pending_draw && Instant::now() >= last_frame + frame_gap {
            if redraw_all {
                tui.terminal.clear()?;
                redraw_all = false;
            }
            tui.draw(|frame| app.draw(frame))?;
            last_frame = Instant::now();
            pending_draw = false;
        }
    };

    // Cancel what runs and let it record how it ended before the terminal is given back.
    if let Some(run_id) = app.running_run() {
        let _ = engine.commands.send(Command::Cancel { run_id });
        let deadline = Instant::now() + CANCEL_GRACE;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, engine.events.recv()).await {
            let finished = matches!(event, Event::RunFinished { .. });
            app.handle_engine(event);
            if exit == UiExit::Quit && app.take_dirty() {
                let _ = tui.draw(|frame| app.draw(frame));
            }
            if finished {
                break;
            }
        }
    }
    follower.abort();
    let _ = engine.commands.send(Command::Shutdown);
    let _ = tokio::time::timeout(CANCEL_GRACE, &mut engine.task).await;
    stop_input.store(true, Ordering::Relaxed);
    drop(tui);
    Ok(exit)
}

/// SIGTERM, SIGHUP and SIGINT as one stream of signal numbers.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                hup: signal(SignalKind::hangup())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// The number of the next signal.
    async fn recv(&mut self) -> i32 {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => 15,
                _ = self.hup.recv() => 1,
                _ = self.int.recv() => 2,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            2
        }
    }
}
