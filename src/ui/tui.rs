//! The terminal: one `Tui` owns it (raw mode, alternate screen, hidden cursor) and gives it back
//! on every way out — a normal quit, an error (`Drop`), a panic on the UI thread (the hook), and
//! signals (the loop handles those and drops the `Tui`).

use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, ThreadId};
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event as TermEvent, KeyEventKind};
use ratatui::crossterm::terminal::{
    self, BeginSynchronizedUpdate, EndSynchronizedUpdate, EnterAlternateScreen,
    LeaveAlternateScreen,
};
use ratatui::crossterm::{cursor, execute, style};
use tokio::sync::mpsc;

/// What the input thread forwards: key presses, and resizes (which need a redraw).
#[derive(Debug)]
pub enum Input {
    Key(event::KeyEvent),
    Resize,
}

/// True while the terminal is in raw mode on the alternate screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The thread that owns the terminal: only its panics restore the terminal.
static UI_THREAD: OnceLock<Mutex<Option<ThreadId>>> = OnceLock::new();

/// Owns the terminal while the screens run.
pub struct Tui {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Tui {
    /// Takes the terminal: raw mode, alternate screen, hidden cursor.
    pub fn enter() -> io::Result<Tui> {
        install_panic_hook();
        *UI_THREAD
            .get_or_init(|| Mutex::new(None))
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(thread::current().id());
        // With NO_COLOR set, crossterm's colour commands turn into style resets that also wipe
        // bold and reverse; our own theme honours NO_COLOR instead.
        style::force_color_output(true);
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut stdout = io::stdout();
        if let Err(e) = execute!(stdout, EnterAlternateScreen, cursor::Hide) {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(terminal) => Ok(Tui { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }

    /// Draws one frame inside a synchronized update, so a slow link never shows half a frame.
    pub fn draw(&mut self, render: impl FnOnce(&mut ratatui::Frame)) -> io::Result<()> {
        let _ = execute!(self.terminal.backend_mut(), BeginSynchronizedUpdate);
        let drawn = self.terminal.draw(render).map(|_| ());
        let _ = execute!(self.terminal.backend_mut(), EndSynchronizedUpdate);
        drawn
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal back: leaves the alternate screen, shows the cursor, ends raw mode. Safe to
/// call more than once and from any exit path.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut stdout = io::stdout();
        let _ = execute!(
            stdout,
            EndSynchronizedUpdate,
            LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
        let _ = stdout.flush();
    }
}

/// A panic on the UI thread restores the terminal, logs the panic with a backtrace and leaves
/// one line on the screen saying where the details are: the operator's shell gets a clean
/// screen, not a Rust panic message. A panic on any other thread (an engine task) goes to the
/// log only: printing it would scribble on the screen, and the engine turns it into a Failed
/// connection run. Once the screens are gone, panics are reported as usual.
fn install_panic_hook() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_ui = UI_THREAD
                .get()
                .and_then(|t| *t.lock().unwrap_or_else(|e| e.into_inner()))
                .is_none_or(|id| id == thread::current().id());
            if !ACTIVE.load(Ordering::SeqCst) {
                tracing::error!("panic: {info}");
                default(info);
                return;
            }
            if !on_ui {
                tracing::error!("panic in a background task: {info}");
                return;
            }
            restore();
            if !tracing::dispatcher::has_been_set() {
                // Logging is off (its directory could not be made): the screen is all there is.
                default(info);
                return;
            }
            let backtrace = std::backtrace::Backtrace::force_capture();
            tracing::error!("panic on the UI thread: {info}\n{backtrace}");
            eprintln!(
                "syncdeck: internal error (a bug): the screens stopped; the details are in the \
                 log in {}",
                crate::paths::log_dir().display()
            );
        }));
    });
}

/// Reads the terminal on its own thread and forwards key presses and resizes until `stop` is set
/// or the receiver is gone.
pub fn spawn_input(stop: Arc<AtomicBool>) -> mpsc::UnboundedReceiver<Input> {
    let (tx, rx) = mpsc::unbounded_channel();
    thread::Builder::new()
        .name("syncdeck-input".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // A short poll lets the thread notice `stop`; idle, it costs a few wakeups a second.
                match event::poll(Duration::from_millis(250)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(_) => break,
                }
                let forwarded = match event::read() {
                    Ok(TermEvent::Key(key)) if key.kind == KeyEventKind::Press => {
                        tx.send(Input::Key(key))
                    }
                    Ok(TermEvent::Resize(..)) => tx.send(Input::Resize),
                    Ok(_) => Ok(()),
                    Err(_) => break,
                };
                if forwarded.is_err() {
                    break;
                }
            }
        })
        .ok();
    rx
}
