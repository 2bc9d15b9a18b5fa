//! One log line and one count per request. A middleware gives each request an id (a short safe
//! `X-Request-Id` from the client, else a new random one), returns it in `X-Request-Id`, and
//! when the request ends logs its method, route template (never the path or query), status,
//! error code, latency, bytes in and out and, once authenticated, the device id; the same facts
//! go to `metrics`. Handlers add what only they know (the device, the error code, documents
//! synced) through a task-local context.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::body::{Body, HttpBody as _};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt as _;

use crate::metrics::{Finished, Metrics};
use crate::service::sync::DocCounts;

/// The request id header, in both directions.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a client.
const MAX_CLIENT_ID: usize = 64;

/// The route templates served; any other path is logged and counted as `unmatched`.
const ROUTES: [&str; 10] = [
    "/v1/health",
    "/v1/ready",
    "/v1/enrol",
    "/v1/sync",
    "/v1/reference",
    "/v1/cases/fetch",
    "/v1/device/users",
    "/v1/reports/dashboard",
    "/v1/reports/export",
    "/v1/audit",
];

/// What the handlers of one request add to its log line.
struct Context {
    id: String,
    device: OnceLock<String>,
    code: OnceLock<&'static str>,
    failed: OnceLock<()>,
    docs: OnceLock<DocCounts>,
}

tokio::task_local! {
    static CONTEXT: Arc<Context>;
}

fn with<T>(f: impl FnOnce(&Context) -> T) -> Option<T> {
    CONTEXT.try_with(|c| f(c)).ok()
}

/// This request's id (outside a request: `none`).
pub fn request_id() -> String {
    with(|c| c.id.clone()).unwrap_or_else(|| "none".to_string())
}

/// The authenticated device, for the log line.
pub fn note_device(id: &str) {
    with(|c| c.device.set(id.to_string()));
}

/// The error code the request is answered with; `failed` for a server failure (a 5xx other
/// than `busy`).
pub fn note_error(code: &'static str, failed: bool) {
    with(|c| {
        let _ = c.code.set(code);
        if failed {
            let _ = c.failed.set(());
        }
    });
}

/// The documents a sync carried each way.
pub fn note_docs(docs: DocCounts) {
    with(|c| c.docs.set(docs));
}

/// A client's id if it is short and made of letters, digits and `-` only.
fn client_id(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(&REQUEST_ID)?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= MAX_CLIENT_ID
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| v.to_string())
}

fn new_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

fn route_of(req: &Request) -> &'static str {
    req.extensions()
        .get::<MatchedPath>()
        .and_then(|m| ROUTES.iter().find(|r| **r == m.as_str()))
        .copied()
        .unwrap_or("unmatched")
}

fn method_of(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// A request in progress; logged and counted when it ends, answered or not.
struct Line {
    ctx: Arc<Context>,
    metrics: Arc<Metrics>,
    method: &'static str,
    route: &'static str,
    start: Instant,
    bytes_in: Arc<AtomicU64>,
    answered: Option<(u16, u64)>,
}

impl Drop for Line {
    fn drop(&mut self) {
        let latency = self.start.elapsed();
        let status = self.answered.map(|(s, _)| s);
        let status_label = status.map_or("abandoned".to_string(), |s| s.to_string());
        let bytes_out = self.answered.map_or(0, |(_, b)| b);
        let bytes_in = self.bytes_in.load(Ordering::Relaxed);
        let code = self.ctx.code.get().copied();
        let failed = self.ctx.failed.get().is_some();
        let device = self.ctx.device.get().map(String::as_str);
        let latency_ms = (latency.as_secs_f64() * 1e6).round() / 1e3;
        tracing::info!(
            target: "provide::request",
            request_id = %self.ctx.id,
            method = self.method,
            route = self.route,
            status = %status_label,
            code,
            latency_ms,
            bytes_in,
            bytes_out,
            device,
            "{}",
            if status.is_some() { "request" } else { "request ended unanswered (timed out or the client left)" }
        );
        self.metrics.record(&Finished {
            route: self.route,
            status: &status_label,
            latency,
            code,
            failed,
            bytes_in,
            bytes_out,
            docs: self.ctx.docs.get().copied(),
        });
    }
}

/// The middleware: wraps every routed request (see `http::router`).
pub async fn observe(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = client_id(req.headers()).unwrap_or_else(new_id);
    let ctx = Arc::new(Context {
        id,
        device: OnceLock::new(),
        code: OnceLock::new(),
        failed: OnceLock::new(),
        docs: OnceLock::new(),
    });
    let bytes_in = Arc::new(AtomicU64::new(0));
    let mut line = Line {
        ctx: ctx.clone(),
        metrics,
        method: method_of(req.method()),
        route: route_of(&req),
        start,
        bytes_in: bytes_in.clone(),
        answered: None,
    };
    // count the body's bytes as the handler reads them
    let req = req.map(|body| {
        Body::new(body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                bytes_in.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            frame
        }))
    });
    let mut response = CONTEXT.scope(ctx.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&ctx.id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    let hint = response.body().size_hint();
    let bytes_out = hint.exact().unwrap_or(hint.lower());
    line.answered = Some((response.status().as_u16(), bytes_out));
    drop(line);
    response
}
