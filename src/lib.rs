//! syncdeck: a terminal console for outbound sync jobs.
//!
//! The binary (`src/main.rs`) parses the command line and dispatches; everything it runs lives
//! here so the integration tests in `tests/` drive the same code.

pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod engine;
pub mod export;
pub mod logging;
pub mod panic_text;
pub mod paths;
pub mod store;
pub mod text;
pub mod ui;
