//! The time the screens are drawn at: the system clock, or a fixed instant for snapshots.

use chrono::{DateTime, Utc};

/// Where "now" comes from (elapsed times, ETAs, log stamps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    #[default]
    System,
    /// Always this instant: screens drawn twice look the same.
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(at) => at,
        }
    }
}
