//! Where the engine's events go: a leaf every part of a run sends through.

use tokio::sync::mpsc;

use super::protocol::{Event, LogLevel};

/// Where events go; sending never blocks (progress is coalesced at the source).
#[derive(Clone)]
pub struct EventSink(mpsc::UnboundedSender<Event>);

impl EventSink {
    pub fn send(&self, event: Event) {
        let _ = self.0.send(event);
    }

    /// A log line, to the log file and to the front end.
    pub fn log(&self, level: LogLevel, message: String) {
        match level {
            LogLevel::Info => tracing::info!("{message}"),
            LogLevel::Warn => tracing::warn!("{message}"),
            LogLevel::Error => tracing::error!("{message}"),
        }
        self.send(Event::Log { level, message });
    }
}

impl EventSink {
    /// A sink sending into `sender`.
    pub(crate) fn new(sender: mpsc::UnboundedSender<Event>) -> EventSink {
        EventSink(sender)
    }
}
