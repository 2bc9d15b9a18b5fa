//! The server's metrics, in Prometheus' text exposition format, served on a listener of their
//! own (`serve --metrics-listen ADDR`, `GET /metrics`; plain HTTP, for loopback or a private
//! monitoring network only). Counters are kept here as requests finish (`request`); gauges
//! (documents stored, syncs in flight, database connections) are read when scraped. Every
//! label comes from a fixed set (route templates, error codes, statuses), so no input can
//! grow the output.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

use crate::guard::Guard;
use crate::service::sync::DocCounts;
use crate::service::Service;

/// The upper bounds (seconds) of the request latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The longest a stored-documents count is reused while no sync has finished.
const COUNT_REUSE: Duration = Duration::from_secs(30);

/// A sync's outcome: answered, refused (4xx, busy), or failed (5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    Refused,
    Error,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Refused, Outcome::Error];

    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Error => "error",
        }
    }
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (bound, n) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if secs <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

#[derive(Default)]
struct Labelled {
    syncs: BTreeMap<Outcome, u64>,
    refusals: BTreeMap<&'static str, u64>,
    errors: BTreeMap<&'static str, u64>,
    requests: BTreeMap<(&'static str, String), u64>,
    latency: BTreeMap<&'static str, Histogram>,
}

/// The counters, shared by every request.
#[derive(Default)]
pub struct Metrics {
    labelled: Mutex<Labelled>,
    sync_received_bytes: AtomicU64,
    sync_sent_bytes: AtomicU64,
    docs_received: AtomicU64,
    docs_sent: AtomicU64,
    syncs_answered: AtomicU64,
    /// The last count of stored documents: when, after how many answered syncs, how many.
    stored: Mutex<Option<(Instant, u64, u64)>>,
}

/// One finished request, as the metrics count it.
pub struct Finished<'a> {
    pub route: &'static str,
    /// The status code, or `abandoned` when the request ended unanswered.
    pub status: &'a str,
    pub latency: Duration,
    /// The error code of a refusal or failure.
    pub code: Option<&'static str>,
    /// Whether the answer was a server failure (a 5xx other than `busy`).
    pub failed: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub docs: Option<DocCounts>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn labelled(&self) -> std::sync::MutexGuard<'_, Labelled> {
        self.labelled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one finished request.
    pub fn record(&self, r: &Finished<'_>) {
        let mut l = self.labelled();
        *l.requests
            .entry((r.route, r.status.to_string()))
            .or_default() += 1;
        l.latency
            .entry(r.route)
            .or_default()
            .observe(r.latency.as_secs_f64());
        if let Some(code) = r.code {
            let by_code = if r.failed {
                &mut l.errors
            } else {
                &mut l.refusals
            };
            *by_code.entry(code).or_default() += 1;
        }
        if r.route == "/v1/sync" {
            let outcome = if r.failed {
                Outcome::Error
            } else if r.status.starts_with('2') {
                Outcome::Ok
            } else {
                Outcome::Refused
            };
            *l.syncs.entry(outcome).or_default() += 1;
            drop(l);
            self.sync_received_bytes
                .fetch_add(r.bytes_in, Ordering::Relaxed);
            self.sync_sent_bytes
                .fetch_add(r.bytes_out, Ordering::Relaxed);
            if let Some(d) = r.docs {
                self.docs_received.fetch_add(d.received, Ordering::Relaxed);
                self.docs_sent.fetch_add(d.sent, Ordering::Relaxed);
            }
            if outcome == Outcome::Ok {
                self.syncs_answered.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The stored documents: counted again once a sync has finished since the last count, or
    /// after `COUNT_REUSE` (another process may share the database). Blocking.
    fn documents_stored(&self, service: &Service) -> Option<u64> {
        let answered = self.syncs_answered.load(Ordering::Relaxed);
        let mut last = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, after, n)) = *last {
            if after == answered && at.elapsed() < COUNT_REUSE {
                return Some(n);
            }
        }
        let n = service.storage.count_docs().ok()?;
        *last = Some((Instant::now(), answered, n));
        Some(n)
    }

    /// The exposition text. Blocking (it may count the stored documents).
    pub fn render(&self, service: &Service, guard: &Guard) -> String {
        let mut out = String::new();
        let l = self.labelled();
        family(
            &mut out,
            "provide_syncs_total",
            "counter",
            "Syncs answered, by outcome (ok; refused: 4xx or busy; error: 5xx).",
        );
        for o in Outcome::ALL {
            let n = l.syncs.get(&o).copied().unwrap_or(0);
            let _ = writeln!(out, "provide_syncs_total{{outcome=\"{}\"}} {n}", o.label());
        }
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            family(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        };
        counter(
            &mut out,
            "provide_sync_received_bytes_total",
            "Sync request body bytes received (compressed, as on the wire).",
            &self.sync_received_bytes,
        );
        counter(
            &mut out,
            "provide_sync_sent_bytes_total",
            "Sync answer body bytes sent.",
            &self.sync_sent_bytes,
        );
        counter(
            &mut out,
            "provide_documents_received_total",
            "Documents sent up by devices in answered syncs.",
            &self.docs_received,
        );
        counter(
            &mut out,
            "provide_documents_sent_total",
            "Documents sent down to devices in answered syncs.",
            &self.docs_sent,
        );
        by_code(
            &mut out,
            "provide_refusals_total",
            "Requests refused, by error code (4xx, and 503 busy).",
            &l.refusals,
        );
        by_code(
            &mut out,
            "provide_errors_total",
            "Requests failed by the server (5xx other than busy), by error code.",
            &l.errors,
        );
        family(
            &mut out,
            "provide_http_requests_total",
            "counter",
            "Requests finished, by route template and status (abandoned: ended unanswered).",
        );
        for ((route, status), n) in &l.requests {
            let _ = writeln!(
                out,
                "provide_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let name = "provide_http_request_duration_seconds";
        family(
            &mut out,
            name,
            "histogram",
            "Time from a request's headers to its answer, by route template.",
        );
        for (route, h) in &l.latency {
            for (bound, n) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(out, "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", h.count);
        }
        drop(l);
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            family(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {v}");
        };
        if let Some(n) = self.documents_stored(service) {
            gauge(
                &mut out,
                "provide_documents_stored",
                "Documents (records) held by the server.",
                n,
            );
        }
        let limits = guard.limits();
        gauge(
            &mut out,
            "provide_syncs_in_flight",
            "Syncs admitted and not yet answered.",
            guard.gates.syncs_in_flight() as u64,
        );
        gauge(
            &mut out,
            "provide_syncs_in_flight_max",
            "The cap on syncs in flight (--max-syncs-in-flight); more are answered busy.",
            limits.max_syncs_in_flight as u64,
        );
        let pool = service.storage.pool_use();
        family(
            &mut out,
            "provide_database_connections",
            "gauge",
            "Database connections, by state (in_use, idle).",
        );
        let _ = writeln!(
            out,
            "provide_database_connections{{state=\"in_use\"}} {}",
            pool.in_use
        );
        let _ = writeln!(
            out,
            "provide_database_connections{{state=\"idle\"}} {}",
            pool.idle
        );
        gauge(
            &mut out,
            "provide_database_connections_max",
            "The most database connections the server opens.",
            pool.max as u64,
        );
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn by_code(out: &mut String, name: &str, help: &str, counts: &BTreeMap<&'static str, u64>) {
    if counts.is_empty() {
        return;
    }
    family(out, name, "counter", help);
    for (code, n) in counts {
        let _ = writeln!(out, "{name}{{code=\"{code}\"}} {n}");
    }
}

#[derive(Clone)]
struct Scrape {
    metrics: Arc<Metrics>,
    service: Service,
    guard: Arc<Guard>,
}

async fn scrape(State(s): State<Scrape>) -> Response {
    let text = tokio::task::spawn_blocking(move || s.metrics.render(&s.service, &s.guard)).await;
    match text {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Serves `GET /metrics` on `listener` until `stop` turns true.
pub async fn serve(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
    service: Service,
    guard: Arc<Guard>,
    mut stop: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape {
            metrics,
            service,
            guard,
        });
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(cause = %e.kind(), "the metrics listener stopped");
            return;
        }
    };
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stopped)
        .await
    {
        tracing::error!(cause = %e.kind(), "the metrics listener stopped");
    }
}

/// Binds the metrics listener (so a bad address is refused before serving starts).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}
