//! The terminal console: keys and engine events in, frames out (see ARCHITECTURE.md).
//!
//! - [`app`]: the one state the loop drives, and what carries actions out;
//! - [`views`]: the five tabs, each a folder with its state, its keys and its drawing;
//! - [`overlays`]: what opens over any view (confirmation, help, the new-run dialog);
//! - [`widgets`]: drawing pieces every view uses (lists, gauges, formats, theme, layout);
//! - [`keymap`] and [`action`]: the key machinery; [`event_loop`] and [`tui`]: the terminal.

pub mod action;
pub mod app;
pub mod event_loop;
pub mod keymap;
pub mod overlays;
pub mod screen;
pub mod tui;
pub mod views;
pub mod widgets;

pub use app::{App, AppOptions};
pub use event_loop::{UiExit, run};
