//! A system's request rate limit (`rate_limit_per_sec`): one token bucket shared by all the
//! requests to it, with a burst of one request, so requests are spaced `1 / rate` apart and no
//! second ever sees more than the rate (a bucket holding a second's worth would let twice the
//! rate through in the first second, and throttled APIs count that).

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
                let burst = 1.0;
                Arc::new(Mutex::new(Bucket {
                    per_sec,
                    burst,
                    tokens: burst,
                    updated: Instant::now(),
                }))
            });
        RateLimiter { bucket }
    }

    /// True when it limits anything.
    pub fn is_limited(&self) -> bool {
        self.bucket.is_some()
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
        Bucket {
            per_sec,
            burst: 1.0,
            tokens: 1.0,
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
    fn n_acquisitions_take_n_minus_one_over_the_rate() {
        let t0 = Instant::now();
        let mut limited = bucket(10.0, t0);
        assert_eq!(run(&mut limited, t0, 1), Duration::ZERO);
        let took = run(&mut limited, t0, 50);
        assert!(about(took, Duration::from_secs(5)), "{took:?}");
    }

    #[test]
    fn callers_arriving_together_queue_behind_each_other() {
        let t0 = Instant::now();
        let mut limited = bucket(4.0, t0);
        let waits: Vec<Duration> = (0..5).map(|_| limited.reserve(t0)).collect();
        let expected_ms = [0, 250, 500, 750, 1_000];
        for (wait, ms) in waits.iter().zip(expected_ms) {
            assert!(about(*wait, Duration::from_millis(ms)), "{waits:?}");
        }
    }

    #[test]
    fn slow_rates_space_requests_too() {
        let t0 = Instant::now();
        let mut limited = bucket(0.5, t0);
        let took = run(&mut limited, t0, 3);
        assert!(about(took, Duration::from_secs(4)), "{took:?}");
    }

    #[test]
    fn idle_time_refills_only_one_request() {
        let t0 = Instant::now();
        let mut limited = bucket(5.0, t0);
        run(&mut limited, t0, 5);
        let later = t0 + Duration::from_secs(60);
        let took = run(&mut limited, later, 11);
        assert!(about(took, Duration::from_secs(2)), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_second_sees_more_than_the_rate() {
        let limiter = RateLimiter::new(Some(10.0));
        let start = Instant::now();
        let mut sent = Vec::new();
        for _ in 0..60 {
            limiter.acquire().await;
            sent.push(start.elapsed());
        }
        for (i, at) in sent.iter().enumerate() {
            let within = sent[i..]
                .iter()
                .take_while(|t| **t < *at + Duration::from_secs(1))
                .count();
            // The rate, and at most one more where float rounding meets the window's edge
            // (a bucket holding a second's worth let 20 through in the first second).
            assert!(within <= 11, "{within} requests in the second from {at:?}");
        }
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
        // 30 acquisitions at 20/s, the first at once: 29 / 20 s.
        let took = start.elapsed();
        assert!(about(took, Duration::from_millis(1450)), "{took:?}");
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
