//! Throttled-destination benchmark (issue 13): how fast a Full Live run of 5,000 changed
//! records gets through a destination that allows N requests a second, answers 429 with
//! `Retry-After` above that, and adds 20 ms to every answer. Run with
//!
//! ```text
//! cargo bench --bench throttled                      # N = 200 a second, 5,000 records
//! SYNCDECK_BENCH_RATE=100 SYNCDECK_BENCH_RECORDS=2000 cargo bench --bench throttled
//! ```
//!
//! Three runs of the real binary (`syncdeck run --full --live --force --json`), each on a fresh
//! store against the same stand-in on 127.0.0.1 (in this process):
//!
//! 1. `concurrency = "auto"` and no rate configured. Aim: within 1.2x of records / N seconds,
//!    under 2% of requests answered 429.
//! 2. `rate_limit_per_sec = N` (concurrency 16). Aim: within 1.05x, no 429.
//! 3. Fixed `concurrency = 16` and no rate: what a connection did before issue 13.
//!
//! Printed per run: wall time, its ratio to records / N, requests, 429s (and their share),
//! updated and failed records. Nothing is asserted: the figures are the result.
//!
//! The stand-in's limit is a token bucket of N a second holding N/10 (at least 1) — the way
//! throttled APIs count — and `Retry-After` says, in fractional seconds, when the next token is
//! due.
//!
//! Measured here (release, 2 shared cores, load average about 6), 5,000 records:
//!
//! ```text
//! N = 200/s, ideal 25 s      wall     x ideal  429s
//! auto, no rate              27.48 s  1.099    47 of 5,052 (0.93%)   0 failed
//! rate_limit_per_sec = N     25.23 s  1.009     0 of 5,005           0 failed
//! fixed concurrency = 16     25.23 s  1.009  3,303 of 8,308 (39.8%)  0 failed (4 in another run)
//! N = 100/s, ideal 50 s
//! auto, no rate              54.84 s  1.097    67 of 5,072 (1.32%)   0 failed
//! rate_limit_per_sec = N     50.18 s  1.004     0 of 5,005           0 failed
//! fixed concurrency = 16     49.32 s  0.986  7,648 of 12,564 (60.9%) 89 failed
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use serde_json::{Value, json};

const LATENCY: Duration = Duration::from_millis(20);

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Throttled {
    records: usize,
    rate: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
    requests: AtomicU64,
    too_many: AtomicU64,
    patches: AtomicU64,
}

impl Throttled {
    /// Ok, or the seconds until a request would be allowed.
    fn take(&self) -> Result<(), f64> {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err((1.0 - bucket.tokens) / self.rate)
        }
    }

    /// Counts the request, waits the latency, and answers 429 when over the rate.
    async fn gate(&self) -> Option<Response> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let verdict = self.take();
        tokio::time::sleep(LATENCY).await;
        match verdict {
            Ok(()) => None,
            Err(wait) => {
                self.too_many.fetch_add(1, Ordering::Relaxed);
                Some(
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, format!("{wait:.3}"))],
                        axum::Json(json!({"error": {"code": "TooManyRequests", "message": "over the limit"}})),
                    )
                        .into_response(),
                )
            }
        }
    }
}

fn serial(i: usize) -> String {
    format!("TH-{i:06}")
}

async fn source(
    State(t): State<Arc<Throttled>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let size: usize = q
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1000);
    let items: Vec<Value> = (0..t.records)
        .skip((page - 1) * size)
        .take(size)
        .map(|i| json!({"serial": serial(i), "name": format!("host-{i}-new")}))
        .collect();
    axum::Json(json!({"items": items, "total": t.records})).into_response()
}

async fn list(
    State(t): State<Arc<Throttled>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(throttled) = t.gate().await {
        return throttled;
    }
    let offset: usize = q.get("offset").and_then(|p| p.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|p| p.parse().ok()).unwrap_or(1000);
    let result: Vec<Value> = (0..t.records)
        .skip(offset)
        .take(limit)
        .map(|i| json!({"id": i, "serial": serial(i), "name": format!("host-{i}-old")}))
        .collect();
    (
        [("X-Total-Count", t.records.to_string())],
        axum::Json(json!({"result": result})),
    )
        .into_response()
}

async fn write(State(t): State<Arc<Throttled>>, Path(_id): Path<u64>) -> Response {
    if let Some(throttled) = t.gate().await {
        return throttled;
    }
    t.patches.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT.into_response()
}

fn config(addr: SocketAddr, connection: &str) -> String {
    format!(
        r#"
[source]
base_url = "http://{addr}"
endpoint = "/source"
results_position = "items"
id_field = "serial"
[source.pagination]
style = "page"
size = 1000
total_position = "total"

[[connections]]
name = "throttled"
base_url = "http://{addr}"
max_retries = 8
{connection}
[connections.fetch]
path = "/things"
query = {{ serial = "{{serial}}" }}
results_position = "result"
serial_field = "serial"
id_field = "id"
bulk = true
[connections.fetch.pagination]
style = "offset"
size = 1000
total_header = "X-Total-Count"
[connections.update]
method = "PATCH"
path = "/things/{{id}}"
[[connections.mapping]]
source = "name"
target = "name"
"#
    )
}

struct Figures {
    wall: Duration,
    requests: u64,
    too_many: u64,
    updated: u64,
    failed: u64,
}

async fn one_run(t: &Arc<Throttled>, addr: SocketAddr, connection: &str) -> Figures {
    {
        let mut bucket = t.bucket.lock().unwrap_or_else(|e| e.into_inner());
        bucket.tokens = t.burst;
        bucket.at = Instant::now();
    }
    t.requests.store(0, Ordering::Relaxed);
    t.too_many.store(0, Ordering::Relaxed);
    t.patches.store(0, Ordering::Relaxed);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config(addr, connection)).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_syncdeck"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .arg("--config")
        .arg(&path)
        .arg("--store")
        .arg(dir.path().join("s.redb"))
        .args(["run", "--full", "--live", "--force", "--json"])
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let wall = started.elapsed();
    let summary: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let counters = &summary["connections"][0]["counters"];
    Figures {
        wall,
        requests: t.requests.load(Ordering::Relaxed),
        too_many: t.too_many.load(Ordering::Relaxed),
        updated: counters["updated"].as_u64().unwrap_or(0),
        failed: counters["failed"].as_u64().unwrap_or(0),
    }
}

fn main() {
    let rate: f64 = std::env::var("SYNCDECK_BENCH_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200.0);
    let records: usize = std::env::var("SYNCDECK_BENCH_RECORDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let burst = (rate / 10.0).max(1.0);
        let t = Arc::new(Throttled {
            records,
            rate,
            burst,
            bucket: Mutex::new(Bucket { tokens: burst, at: Instant::now() }),
            requests: AtomicU64::new(0),
            too_many: AtomicU64::new(0),
            patches: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/source", get(source))
            .route("/things", get(list))
            .route("/things/{id}", patch(write))
            .with_state(t.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let ideal = records as f64 / rate;
        println!(
            "throttled destination: {rate} requests/s (bucket of {burst}), +{} ms an answer, {records} changed records; ideal {ideal:.1} s",
            LATENCY.as_millis()
        );
        let runs = [
            ("concurrency = \"auto\", no rate", "concurrency = \"auto\"".to_string()),
            (
                "rate_limit_per_sec = N, concurrency = 16",
                format!("concurrency = 16\nrate_limit_per_sec = {rate}"),
            ),
            ("fixed concurrency = 16, no rate (before)", "concurrency = 16".to_string()),
        ];
        for (label, connection) in runs {
            let f = one_run(&t, addr, &connection).await;
            let secs = f.wall.as_secs_f64();
            println!(
                "{label:<42} {secs:6.2} s  {:.3}x ideal  {} requests  {} × 429 ({:.2}%)  updated {}  failed {}",
                secs / ideal,
                f.requests,
                f.too_many,
                100.0 * f.too_many as f64 / f.requests.max(1) as f64,
                f.updated,
                f.failed,
            );
        }
    });
}
