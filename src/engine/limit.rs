//! A connection's request rate limit (`rate_limit_per_sec`): one token bucket shared by all the
//! connection's workers, holding about one second of requests (at least one) as a burst.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket; clones share it. `None` as the rate means no limit.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    bucket: Option<Arc<Mutex<Bucket>>>,
}

#[derive(Debug)]
struct Bucket {
    per_sec: f64,
    burst: f64,
    /// Tokens available at `updated`; negative when callers have reserved future tokens.
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// A limiter for `per_sec` requests a second; `None` (or a rate that is not a positive
    /// number) limits nothing.
    pub fn new(per_sec: Option<f64>) -> Self {
        let bucket = per_sec
            .filter(|rate| rate.is_finite() && *rate > 0.0)
            .map(|per_sec| {
                let burst = per_sec.max(1.0);
                Arc::new(Mutex::new(Bucket {
                    per_sec,
                    burst,
                    tokens: burst,
                    updated: Instant::now(),
                }))
            });
        RateLimiter { bucket }
    }

    /// A limiter that never waits.
    pub fn unlimited() -> Self {
        RateLimiter { bucket: None }
    }

    /// Waits until a request may be sent. Each caller reserves its token at once, so waiting
    /// callers are served in the order they arrived and none starves.
    pub async fn acquire(&self) {
        let Some(bucket) = &self.bucket else {
            return;
        };
        let wait = bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

impl Bucket {
    /// Takes one token at `now` and says how long its holder waits for it. Tokens may go
    /// negative: each one reserved ahead pushes the next caller's wait back by 1 / rate.
    fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        self.updated = self.updated.max(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_sec)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(per_sec: f64, now: Instant) -> Bucket {
        let burst = per_sec.max(1.0);
        Bucket {
            per_sec,
            burst,
            tokens: burst,
            updated: now,
        }
    }

    /// How long one caller making `count` acquisitions in a row takes, from `start`, on the
    /// bucket's own clock (no real sleeping).
    fn run(bucket: &mut Bucket, start: Instant, count: usize) -> Duration {
        let mut now = start;
        for _ in 0..count {
            now += bucket.reserve(now);
        }
        now - start
    }

    fn about(actual: Duration, expected: Duration) -> bool {
        let slack = Duration::from_millis(1);
        actual + slack >= expected && actual <= expected + slack
    }

    #[test]
    fn a_burst_then_n_acquisitions_take_n_over_the_rate() {
        let t0 = Instant::now();
        let mut limited = bucket(10.0, t0);
        // The first second's worth goes at once.
        assert_eq!(run(&mut limited, t0, 10), Duration::ZERO);
        // Then N more take N / rate.
        let took = run(&mut limited, t0, 50);
        assert!(about(took, Duration::from_secs(5)), "{took:?}");
    }

    #[test]
    fn callers_arriving_together_queue_behind_each_other() {
        let t0 = Instant::now();
        let mut limited = bucket(4.0, t0);
        let waits: Vec<Duration> = (0..8).map(|_| limited.reserve(t0)).collect();
        let expected_ms = [0, 0, 0, 0, 250, 500, 750, 1_000];
        for (wait, ms) in waits.iter().zip(expected_ms) {
            assert!(about(*wait, Duration::from_millis(ms)), "{waits:?}");
        }
    }

    #[test]
    fn slow_rates_burst_one() {
        let t0 = Instant::now();
        let mut limited = bucket(0.5, t0);
        let took = run(&mut limited, t0, 3);
        assert!(about(took, Duration::from_secs(4)), "{took:?}");
    }

    #[test]
    fn idle_time_refills_only_up_to_the_burst() {
        let t0 = Instant::now();
        let mut limited = bucket(5.0, t0);
        run(&mut limited, t0, 5);
        let later = t0 + Duration::from_secs(60);
        let took = run(&mut limited, later, 15);
        assert!(about(took, Duration::from_secs(2)), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_takes_n_over_the_rate_on_paused_time() {
        let limiter = RateLimiter::new(Some(10.0));
        let start = Instant::now();
        for _ in 0..10 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst goes at once");
        let start = Instant::now();
        for _ in 0..50 {
            limiter.acquire().await;
        }
        let took = start.elapsed();
        assert!(about(took, Duration::from_secs(5)), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn clones_share_the_bucket() {
        let limiter = RateLimiter::new(Some(20.0));
        let start = Instant::now();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        limiter.acquire().await;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.unwrap();
        }
        // 30 acquisitions at 20/s with a burst of 20: the last 10 take half a second.
        let took = start.elapsed();
        assert!(about(took, Duration::from_millis(500)), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_rate_no_wait() {
        for limiter in [
            RateLimiter::new(None),
            RateLimiter::new(Some(0.0)),
            RateLimiter::new(Some(-3.0)),
            RateLimiter::new(Some(f64::NAN)),
            RateLimiter::unlimited(),
        ] {
            assert!(limiter.bucket.is_none());
            let start = Instant::now();
            for _ in 0..1_000 {
                limiter.acquire().await;
            }
            assert_eq!(start.elapsed(), Duration::ZERO);
        }
    }
}
