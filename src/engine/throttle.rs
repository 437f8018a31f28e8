//! How fast one system is asked: every request of a connection (lookups, writes,
//! verifications) — or of a source — passes its [`Throttle`]: the configured
//! `rate_limit_per_sec`, and with `concurrency = "auto"` an adaptive limit that backs off on
//! 429, 503 and timeouts and grows back while answers stay fast.
//!
//! The adaptive limit holds two numbers: how many requests may be in flight (slow start, then
//! one more per round trip while latency holds; cut by 30% on a throttling answer), and, once
//! the system has said "too many" (429), a pace in requests per second: 95% of the rate at
//! which answers succeeded over the last few round trips, probed upward by 3% every quarter of
//! a second while no throttling answer comes (so a pace learned too low recovers in seconds).
//! Several throttling answers within two round trips count as one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::limit::RateLimiter;

/// A system's request throttle; clones share it.
#[derive(Clone, Debug)]
pub struct Throttle {
    rate: RateLimiter,
    adaptive: Option<Arc<Adaptive>>,
}

/// What became of one request, for the adaptive limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Any answer that is not a throttling one.
    Fine,
    /// 429 Too Many Requests.
    TooMany,
    /// 503, or a timeout: the system is overloaded.
    Overloaded,
    /// A connection error: says nothing about load.
    Neutral,
}

impl Answer {
    pub fn of_status(status: u16) -> Answer {
        match status {
            429 => Answer::TooMany,
            503 => Answer::Overloaded,
            _ => Answer::Fine,
        }
    }
}

/// A request let through; hand it back with [`Throttle::done`]. Dropped without (a request
/// canceled mid-flight), it frees its place all the same.
#[derive(Debug)]
pub struct Admission {
    sent: Instant,
    adaptive: Option<Arc<Adaptive>>,
    answer: Answer,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(adaptive) = self.adaptive.take() {
            adaptive.leave(self.sent.elapsed(), self.answer);
        }
    }
}

impl Throttle {
    /// A throttle at `rate` requests a second at most (None: no fixed limit), adaptive up to
    /// `ceiling` requests in flight when `adaptive`.
    pub fn new(rate: Option<f64>, adaptive: bool, start: usize, ceiling: usize) -> Throttle {
        Throttle {
            rate: RateLimiter::new(rate),
            adaptive: adaptive.then(|| Arc::new(Adaptive::new(start, ceiling))),
        }
    }

    /// No limit at all.
    pub fn unlimited() -> Throttle {
        Throttle {
            rate: RateLimiter::unlimited(),
            adaptive: None,
        }
    }

    /// The same throttle with this fixed rate limiter (shared with its other holders).
    pub fn with_rate(mut self, rate: RateLimiter) -> Throttle {
        self.rate = rate;
        self
    }

    /// Waits until a request may go.
    pub async fn admit(&self) -> Admission {
        if let Some(adaptive) = &self.adaptive {
            adaptive.enter().await;
        }
        // Counted from here: a drop while waiting for the rate frees the place too.
        let mut admission = Admission {
            sent: Instant::now(),
            adaptive: self.adaptive.clone(),
            answer: Answer::Neutral,
        };
        self.rate.acquire().await;
        admission.sent = Instant::now();
        admission
    }

    /// The request admitted ended with `answer`.
    pub fn done(&self, mut admission: Admission, answer: Answer) {
        admission.answer = answer;
        drop(admission);
    }

    /// The adaptive limit's requests in flight now allowed (None when fixed).
    pub fn concurrency(&self) -> Option<usize> {
        self.adaptive.as_ref().map(|a| a.limit())
    }
}

#[derive(Debug)]
struct Adaptive {
    state: Mutex<State>,
    room: Notify,
    ceiling: usize,
}

#[derive(Debug)]
struct State {
    /// Requests allowed in flight (fractional: grows by 1/limit per good answer).
    limit: f64,
    in_flight: usize,
    /// Doubling per round trip until the first throttling answer.
    slow_start: bool,
    /// Requests per second once a 429 taught one; None before.
    pace: Option<f64>,
    /// When the next paced request may go.
    next_send: Instant,
    /// When the limit was last cut.
    last_cut: Option<Instant>,
    /// When the pace was last raised.
    last_probe: Instant,
    /// Successful answers in the last second.
    successes: VecDeque<Instant>,
    /// The fastest answer seen lately: what "fast" means for this system.
    base_latency: Option<Duration>,
    /// Smoothed latency.
    latency: Option<Duration>,
}

/// A pace is learned from at least this much of the recent past…
const MIN_WINDOW: Duration = Duration::from_millis(100);
/// …and at most this much: eight round trips, so an idle spell before does not count.
const ROUND_TRIPS_MEASURED: u32 = 8;
/// How often the pace is raised while nothing is throttled, and by how much.
const PROBE_EVERY: Duration = Duration::from_millis(250);
const PROBE_STEP: f64 = 1.03;

impl Adaptive {
    fn new(start: usize, ceiling: usize) -> Adaptive {
        let now = Instant::now();
        Adaptive {
            state: Mutex::new(State {
                limit: start.clamp(1, ceiling.max(1)) as f64,
                in_flight: 0,
                slow_start: true,
                pace: None,
                next_send: now,
                last_cut: None,
                last_probe: now,
                successes: VecDeque::new(),
                base_latency: None,
                latency: None,
            }),
            room: Notify::new(),
            ceiling: ceiling.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn limit(&self) -> usize {
        (self.lock().limit.floor() as usize).max(1)
    }

    async fn enter(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait = {
                let mut state = self.lock();
                if state.in_flight < (state.limit.floor() as usize).max(1) {
                    state.in_flight += 1;
                    let now = Instant::now();
                    match state.pace {
                        Some(pace) => {
                            let at = state.next_send.max(now);
                            state.next_send = at + Duration::from_secs_f64(1.0 / pace);
                            Some(at - now)
                        }
                        None => Some(Duration::ZERO),
                    }
                } else {
                    None
                }
            };
            match wait {
                Some(wait) => {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                    return;
                }
                None => notified.await,
            }
        }
    }

    fn leave(&self, latency: Duration, answer: Answer) {
        let now = Instant::now();
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            while state
                .successes
                .front()
                .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(1))
            {
                state.successes.pop_front();
            }
            match answer {
                Answer::Fine => self.grow(&mut state, latency, now),
                Answer::TooMany | Answer::Overloaded => self.cut(&mut state, answer, now),
                Answer::Neutral => {}
            }
        }
        self.room.notify_waiters();
    }

    fn grow(&self, state: &mut State, latency: Duration, now: Instant) {
        state.successes.push_back(now);
        let smoothed = match state.latency {
            Some(old) => old.mul_f64(0.8) + latency.mul_f64(0.2),
            None => latency,
        };
        state.latency = Some(smoothed);
        // The fastest answer drifts up slowly, so a system that got slower for good is not
        // held to the old figure forever.
        let base = match state.base_latency {
            Some(base) if latency < base => latency,
            Some(base) => base.mul_f64(1.001),
            None => latency,
        };
        state.base_latency = Some(base);
        let holds = smoothed <= base.mul_f64(2.0) + Duration::from_millis(5);
        let round_trip = smoothed.max(Duration::from_millis(10));
        let settled = state
            .last_cut
            .is_none_or(|at| now.duration_since(at) > round_trip * 2);
        if holds && settled {
            let ceiling = self.ceiling as f64;
            state.limit = if state.slow_start {
                (state.limit + 1.0).min(ceiling)
            } else {
                (state.limit + 1.0 / state.limit).min(ceiling)
            };
        }
        if let Some(pace) = state.pace
            && now.duration_since(state.last_probe) >= PROBE_EVERY
            && settled
        {
            state.pace = Some(pace * PROBE_STEP);
            state.last_probe = now;
        }
    }

    fn cut(&self, state: &mut State, answer: Answer, now: Instant) {
        let round_trip = state
            .latency
            .unwrap_or(Duration::from_millis(50))
            .max(Duration::from_millis(20));
        // Answers to requests sent before the last cut say nothing new.
        if state
            .last_cut
            .is_some_and(|at| now.duration_since(at) < round_trip * 2)
        {
            return;
        }
        state.last_cut = Some(now);
        state.slow_start = false;
        state.limit = (state.limit * 0.7).max(1.0);
        if answer == Answer::TooMany {
            // The success rate of the last few round trips (not of an idle spell before them).
            let span =
                (round_trip * ROUND_TRIPS_MEASURED).clamp(MIN_WINDOW, Duration::from_secs(1));
            let recent = state
                .successes
                .iter()
                .filter(|t| now.duration_since(**t) < span)
                .count();
            let window = state
                .successes
                .front()
                .map_or(Duration::ZERO, |first| now.duration_since(*first))
                .min(span);
            let measured =
                (window >= MIN_WINDOW && recent > 0).then(|| recent as f64 / window.as_secs_f64());
            state.pace = match (state.pace, measured) {
                (Some(pace), Some(measured)) => Some((pace * 0.9).min(measured * 0.95)),
                (Some(pace), None) => Some(pace * 0.8),
                (None, Some(measured)) => Some(measured * 0.95),
                (None, None) => Some((state.limit / round_trip.as_secs_f64()).max(1.0)),
            }
            .map(|pace| pace.max(0.5));
            state.last_probe = now;
            state.next_send = state.next_send.max(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_limit_grows_while_fast_and_is_cut_on_429() {
        let throttle = Throttle::new(None, true, 4, 64);
        assert_eq!(throttle.concurrency(), Some(4));
        for _ in 0..20 {
            let admission = throttle.admit().await;
            tokio::time::advance(Duration::from_millis(20)).await;
            throttle.done(admission, Answer::Fine);
        }
        let grown = throttle.concurrency().unwrap_or(0);
        assert!(grown > 4, "{grown}");
        let admission = throttle.admit().await;
        throttle.done(admission, Answer::TooMany);
        let cut = throttle.concurrency().unwrap_or(0);
        assert!(cut < grown, "{cut} < {grown}");
        // A second 429 in the same round trip does not cut again.
        let admission = throttle.admit().await;
        throttle.done(admission, Answer::TooMany);
        assert_eq!(throttle.concurrency(), Some(cut));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_sets_a_pace_from_the_last_second() {
        let throttle = Throttle::new(None, true, 1, 1);
        // 50 answers a second for a second.
        for _ in 0..50 {
            let admission = throttle.admit().await;
            tokio::time::advance(Duration::from_millis(20)).await;
            throttle.done(admission, Answer::Fine);
        }
        let admission = throttle.admit().await;
        throttle.done(admission, Answer::TooMany);
        let start = Instant::now();
        for _ in 0..48 {
            let admission = throttle.admit().await;
            throttle.done(admission, Answer::Neutral);
        }
        // Paced at about 0.95 x 50/s: 48 requests take about a second.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took <= Duration::from_millis(1100),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_dropped_mid_flight_frees_its_place() {
        let throttle = Throttle::new(None, true, 1, 1);
        let first = throttle.admit().await;
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(1), throttle.admit()).await;
        assert!(second.is_ok(), "the dropped admission kept its place");
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_the_limit_is_in_flight() {
        let throttle = Throttle::new(None, true, 2, 2);
        let a = throttle.admit().await;
        let b = throttle.admit().await;
        let third = {
            let throttle = throttle.clone();
            tokio::spawn(async move { throttle.admit().await })
        };
        tokio::time::advance(Duration::from_millis(50)).await;
        assert!(!third.is_finished());
        throttle.done(a, Answer::Fine);
        let c = third.await.unwrap_or_else(|e| panic!("{e}"));
        throttle.done(b, Answer::Fine);
        throttle.done(c, Answer::Fine);
    }
}
