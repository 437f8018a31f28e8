//! When to retry a request and how long to wait: exponential backoff with full jitter, capped,
//! honouring `Retry-After` (seconds or an HTTP date) up to a limit.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How a system's requests are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (`max_retries`).
    pub max_retries: u32,
    /// The first backoff step.
    pub base: Duration,
    /// No backoff step is longer.
    pub cap: Duration,
    /// A `Retry-After` longer than this fails the request instead of hanging the run.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The policy for `max_retries` retries with the default steps (250 ms doubling, 30 s cap,
    /// `Retry-After` up to 120 s).
    pub fn new(max_retries: u32) -> Self {
        RetryPolicy {
            max_retries,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }

    /// The same policy with `max_retry_after_secs` as the longest `Retry-After` waited out.
    pub fn with_max_retry_after(mut self, secs: u64) -> Self {
        self.max_retry_after = Duration::from_secs(secs);
        self
    }

    /// How long to wait before retry number `retry` (1-based), given the server's `Retry-After`.
    /// `Err` carries the reason the request must not be retried.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Result<Duration, String> {
        if retry > self.max_retries {
            return Err(format!(
                "gave up after {} attempt{}",
                retry,
                if retry == 1 { "" } else { "s" }
            ));
        }
        if let Some(wait) = retry_after {
            if wait > self.max_retry_after {
                return Err(format!(
                    "Retry-After of {}s is beyond the {}s limit (max_retry_after_secs)",
                    seconds_text(wait),
                    self.max_retry_after.as_secs()
                ));
            }
            // Never earlier than the server asked; a little jitter so retries do not align.
            return Ok(wait + jitter(self.base / 2));
        }
        let exponent = retry.saturating_sub(1).min(16);
        let step = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        // Full jitter keeps half the step as a floor so a retry never comes at once.
        Ok(step / 2 + jitter(step / 2))
    }
}

/// A random duration in `[0, max]`.
pub fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(max.as_nanos() as u64);
    let fraction = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
    max.mul_f64(fraction)
}

/// True for statuses worth retrying: 429 and 5xx (but 501, which will not change).
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status) && status != 501
}

/// "2.128", "120": seconds as the server wrote them, without trailing zeros.
fn seconds_text(wait: Duration) -> String {
    let text = format!("{:.3}", wait.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Parses a `Retry-After` value: delay-seconds (fractional too: Microsoft Graph sends
/// `2.128`) or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>()
        && (0.0..1e9).contains(&seconds)
    {
        return Some(Duration::from_secs_f64(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((date - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_the_cap() {
        let policy = RetryPolicy::new(10);
        for retry in 1..=10 {
            let step = (policy.base * (1u32 << (retry - 1))).min(policy.cap);
            let delay = policy.delay(retry, None).unwrap();
            assert!(
                delay >= step / 2 && delay <= step,
                "retry {retry}: {delay:?} vs {step:?}"
            );
        }
        assert!(policy.delay(11, None).is_err());
    }

    #[test]
    fn retry_after_is_honoured_and_bounded() {
        let policy = RetryPolicy::new(4);
        let delay = policy.delay(1, Some(Duration::from_secs(2))).unwrap();
        assert!(delay >= Duration::from_secs(2));
        let err = policy
            .delay(1, Some(Duration::from_secs(3600)))
            .unwrap_err();
        assert!(err.contains("beyond"), "{err}");
        let hourly = policy.with_max_retry_after(3600);
        assert!(hourly.delay(1, Some(Duration::from_secs(3600))).is_ok());
        let err = policy
            .delay(1, Some(Duration::from_millis(120_500)))
            .unwrap_err();
        assert!(err.contains("120.5s"), "{err}");
    }

    #[test]
    fn parses_both_retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 08:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 07:59:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("2.128", now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
    }

    #[test]
    fn retryable_statuses() {
        assert!(is_retryable_status(429));
        assert!(is_retryable_status(503));
        assert!(!is_retryable_status(501));
        assert!(!is_retryable_status(400));
        assert!(!is_retryable_status(405));
    }
}
