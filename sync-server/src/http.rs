//! The HTTP surface: bodies in and out, errors as `{code, message}` with their status. Work
//! runs on the blocking pool, since storage and Automerge are synchronous.
//!
//! - `POST /v1/enrol`: JSON `EnrolRequest` → JSON `EnrolResponse`.
//! - `POST /v1/sync`: bearer credential, binary `SyncRequest` → binary `SyncResponse`.
//! - `POST /v1/device/users`: bearer credential, JSON `AddUserRequest` → JSON `AddUserResponse`.
//! - `POST /v1/device/certificate`: bearer credential, JSON `CertificateRequest` → JSON
//!   `CertificateResponse` (the device certificate for peer sync in the car).
//! - `GET /v1/reports/dashboard?from=&to=`: bearer credential → JSON `Dashboard`.
//! - `GET /v1/reports/export?from=&to=&format=csv|json`: bearer credential → CSV or JSON.
//! - `GET /v1/audit?device=&user=&record=&action=&from=&to=&limit=`: → JSON `[AuditRow]`.
//! - `GET /v1/reference?have=TAG`: bearer credential → JSON `ReferenceUpdate` (the forms and
//!   directory published since the device's tag; every sync answer carries the server's tag in
//!   `Provide-Reference`).
//! - `GET /v1/retention/due`: bearer credential → JSON `DueList` (the unit: its division's
//!   cases due for retention review; an IDVA: its division's health records; `service::review`).
//! - `POST /v1/retention/decisions`: bearer credential, JSON `DecisionRequest` (≤ 4 KiB) → JSON
//!   `ReviewDecision`.
//! - `GET /v1/health`: `ok` while the process serves (liveness).
//! - `GET /v1/ready`: `ready` once the database answers a trivial query, else `503`
//!   (readiness: take the server out of a load balancer while it fails).
//!
//! Every request passes `request::observe` (its id, log line and counts). A server failure
//! (5xx other than `busy`) is logged with its cause and answered with a generic message
//! naming the request id, so its cause never reaches the device.
//!
//! Every authenticated route checks the credential (throttled, see `guard`) before anything
//! else, and `/v1/sync` reads its body only after that, within the caps on syncs and body
//! bytes in flight; `/v1/enrol` takes at most `Limits::max_enrol_bytes`. An answer over a cap
//! is `503 busy` or `429 throttled`, each with `Retry-After`.
//!
//! Every answer, refusals and unknown routes included, names the protocol versions the server
//! speaks in `Provide-Protocol: OLDEST-NEWEST` (the current and the previous): a device the
//! server no longer speaks to learns that the app must be updated, not that it is offline.
//!
//! Query parameters are checked strictly: an unknown or repeated name is a 400, so a typo is
//! never silently ignored. Report answers are marked `Cache-Control: no-store`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use provide_core::report::AuditQuery;
use provide_core::sync::protocol::MAX_BODY;
use provide_core::sync::reference;
use provide_core::sync::transport::CONTENT_TYPE;

use crate::error::ServerError;
use crate::guard::Guard;
use crate::metrics::Metrics;
use crate::request;
use crate::service::reports::Reading;
use crate::service::Service;
use crate::storage::Device;

/// The largest request body accepted on the wire (compressed).
pub const MAX_REQUEST_BYTES: usize = MAX_BODY;

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let failed = self.is_failure();
        request::note_error(self.code(), failed);
        let message = if failed {
            let id = request::request_id();
            tracing::error!(
                request_id = %id,
                code = self.code(),
                cause = %self.loggable(),
                "the server failed a request"
            );
            format!(
                "The server could not complete the request; its operator can look it up by request id {id}."
            )
        } else {
            self.to_string()
        };
        let body = serde_json::json!({ "code": self.code(), "message": message });
        let mut answer = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        answer
    }
}

/// What every handler is given: the service and the guard in front of it.
#[derive(Clone)]
pub struct App {
    pub service: Service,
    pub guard: Arc<Guard>,
}

/// How long the readiness probe waits for the database.
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl App {
    async fn device(&self, peer: SocketAddr, headers: &HeaderMap) -> Result<Device, ServerError> {
        let device = self
            .guard
            .authenticate(&self.service, peer, headers)
            .await?;
        request::note_device(&device.id);
        Ok(device)
    }
}

/// Adds `Provide-Protocol` to an answer.
pub fn mark_versions(resp: &mut Response) {
    if let Ok(v) = HeaderValue::from_str(&provide_core::sync::protocol::versions_spoken()) {
        resp.headers_mut()
            .insert(provide_core::sync::protocol::VERSIONS_HEADER, v);
    }
}

async fn name_versions(mut resp: Response) -> Response {
    mark_versions(&mut resp);
    resp
}

/// The routes. Requests must carry `ConnectInfo<SocketAddr>` (as `listener` adds it).
pub fn router(service: Service, guard: Arc<Guard>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/v1/health", get(|| async { "ok" }))
        .route("/v1/ready", get(ready))
        .route("/v1/enrol", post(enrol))
        .route("/v1/sync", post(sync))
        .route("/v1/device/users", post(add_user))
        .route("/v1/device/certificate", post(device_certificate))
        .route("/v1/cases/fetch", post(fetch_closed))
        .route("/v1/retention/due", get(retention_due))
        .route("/v1/retention/decisions", post(retention_decide))
        .route("/v1/reports/dashboard", get(dashboard))
        .route("/v1/reports/export", get(export))
        .route("/v1/audit", get(audit))
        .route("/v1/reference", get(reference_data))
        .with_state(App { service, guard })
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            request::observe,
        ))
        .layer(axum::middleware::map_response(name_versions))
}

/// `GET /v1/ready`: the database answers a trivial query within `READY_WAIT`.
async fn ready(State(app): State<App>) -> Response {
    let service = app.service;
    let ping = tokio::task::spawn_blocking(move || service.storage.ping());
    match tokio::time::timeout(READY_WAIT, ping).await {
        Ok(Ok(Ok(()))) => "ready".into_response(),
        Ok(Ok(Err(e))) => {
            tracing::warn!(code = e.code(), cause = %e.loggable(), "not ready: the database failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the database failed",
            )
                .into_response()
        }
        _ => {
            tracing::warn!("not ready: the database did not answer in time");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the database did not answer in time",
            )
                .into_response()
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
) -> Result<T, ServerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ServerError::Internal("the request's task failed".into()))?
}

async fn enrol(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    let answer = app.guard.enrol(&app.service, peer, &headers, body).await?;
    Ok(axum::Json(answer).into_response())
}

async fn sync(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    // the credential first: an unknown client's body is never read
    let device = app.device(peer, &headers).await?;
    let admitted = app.guard.admit_sync(&device, &headers, MAX_REQUEST_BYTES)?;
    let body = app
        .guard
        .read_body(body, &headers, MAX_REQUEST_BYTES)
        .await?;
    let worker = app.guard.gates.worker(body.len()).await?;
    let service = app.service.clone();
    let (answer, docs, tag) = blocking(move || {
        let _held = (admitted, worker);
        let (answer, docs) = service.sync_counted(&device, &body)?;
        Ok((answer, docs, service.reference_tag()?))
    })
    .await?;
    request::note_docs(docs);
    Ok((
        [
            (header::CONTENT_TYPE, CONTENT_TYPE.to_string()),
            (
                header::HeaderName::from_static(reference::REFERENCE_HEADER),
                tag,
            ),
        ],
        answer,
    )
        .into_response())
}

/// `GET /v1/reference?have=TAG`: bearer credential → JSON `ReferenceUpdate`, what the device
/// lacks of the published forms and directory (`service::reference`).
async fn reference_data(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ServerError> {
    app.device(peer, &headers).await?;
    let q = params(raw, &["have"])?;
    let have = arg(&q, "have").unwrap_or_default().to_string();
    let service = app.service.clone();
    let update = blocking(move || service.reference_update(&have)).await?;
    Ok(axum::Json(update).into_response())
}

/// `POST /v1/device/users`: bearer credential, JSON `AddUserRequest` (≤ 4 KiB) → JSON
/// `AddUserResponse` (`service::users`).
async fn add_user(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    // the credential first (throttled), then at most a small body
    let device = app.device(peer, &headers).await?;
    let body = app
        .guard
        .read_body(body, &headers, provide_core::sync::users::MAX_ADD_USER_BODY)
        .await?;
    let service = app.service.clone();
    let answer = blocking(move || service.add_device_user(&device, &body)).await?;
    Ok(axum::Json(answer).into_response())
}

/// `POST /v1/device/certificate`: bearer credential, JSON `CertificateRequest` (≤ 1 KiB) →
/// JSON `CertificateResponse` (`service::certificates`).
async fn device_certificate(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    let device = app.device(peer, &headers).await?;
    let body = app
        .guard
        .read_body(
            body,
            &headers,
            provide_core::sync::certificate::MAX_CERTIFICATE_BODY,
        )
        .await?;
    let service = app.service.clone();
    let answer = blocking(move || service.issue_device_certificate(&device, &body)).await?;
    Ok(axum::Json(answer).into_response())
}

/// `POST /v1/cases/fetch`: bearer credential, JSON `FetchRequest` (≤ 1 KiB) → a sync answer
/// carrying the closed cases found (`service::fetch`).
async fn fetch_closed(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    let device = app.device(peer, &headers).await?;
    let body = app
        .guard
        .read_body(body, &headers, provide_core::sync::fetch::MAX_FETCH_BODY)
        .await?;
    let worker = app.guard.gates.worker(body.len()).await?;
    let service = app.service.clone();
    let answer = blocking(move || {
        let _held = worker;
        service.fetch_closed(&device, &body)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE.to_string())], answer).into_response())
}

/// `GET /v1/retention/due`: bearer credential → JSON `DueList` (`service::review`).
async fn retention_due(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ServerError> {
    let device = app.device(peer, &headers).await?;
    let service = app.service;
    let due = blocking(move || {
        let list = service.due_for_device(&device)?;
        if query.is_some_and(|q| !q.is_empty()) {
            return Err(ServerError::BadRequest(
                "this request takes no parameters".into(),
            ));
        }
        Ok(list)
    })
    .await?;
    json_body(&due)
}

/// `POST /v1/retention/decisions`: bearer credential, JSON `DecisionRequest` (≤ 4 KiB) → JSON
/// `ReviewDecision` (`service::review`).
async fn retention_decide(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ServerError> {
    let device = app.device(peer, &headers).await?;
    let body = app
        .guard
        .read_body(body, &headers, provide_core::retention::MAX_DECISION_BODY)
        .await?;
    let service = app.service;
    let decision = blocking(move || service.decide_for_device(&device, &body)).await?;
    json_body(&decision)
}

/// The longest query string accepted.
const MAX_QUERY_LEN: usize = 4096;

/// The query's parameters, each named at most once and only from `allowed`.
fn params(
    raw: Option<String>,
    allowed: &[&str],
) -> Result<std::collections::HashMap<String, String>, ServerError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_QUERY_LEN {
        return Err(ServerError::BadRequest("the query is too long".into()));
    }
    let mut out = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            // the name is echoed only when it is one a person could have meant
            return Err(ServerError::BadRequest(format!(
                "unknown parameter; the parameters are {}",
                allowed.join(", ")
            )));
        }
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(ServerError::BadRequest(format!("`{k}` is given twice")));
        }
    }
    Ok(out)
}

fn arg<'a>(q: &'a std::collections::HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str)
}

fn no_store(content_type: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn json_body<T: serde::Serialize>(v: &T) -> Result<Response, ServerError> {
    let body = serde_json::to_vec(v)
        .map_err(|_| ServerError::Internal("the answer could not be written".into()))?;
    Ok(no_store("application/json", body))
}

async fn dashboard(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ServerError> {
    let device = app.device(peer, &headers).await?;
    let service = app.service;
    let figures = blocking(move || {
        // the role is checked before the input, so a refusal says nothing about the input
        service.may_read(&device, Reading::Dashboard)?;
        let q = params(query, &["from", "to"])?;
        service.dashboard(&device, arg(&q, "from"), arg(&q, "to"))
    })
    .await?;
    json_body(&figures)
}

async fn export(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ServerError> {
    let device = app.device(peer, &headers).await?;
    let service = app.service;
    let export = blocking(move || {
        service.may_read(&device, Reading::Export)?;
        let q = params(query, &["from", "to", "format"])?;
        service.export_for_device(&device, arg(&q, "from"), arg(&q, "to"), arg(&q, "format"))
    })
    .await?;
    Ok(no_store(export.format.content_type(), export.body))
}

async fn audit(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ServerError> {
    let device = app.device(peer, &headers).await?;
    let service = app.service;
    let rows = blocking(move || {
        service.may_read(&device, Reading::AuditLog)?;
        let q = params(
            query,
            &["device", "user", "record", "action", "from", "to", "limit"],
        )?;
        let text = |k: &str| q.get(k).cloned();
        let limit = match q.get("limit") {
            None => None,
            Some(l) => Some(l.trim().parse::<u32>().map_err(|_| {
                ServerError::BadRequest("`limit` must be a whole number from 1 to 5000".into())
            })?),
        };
        let query = AuditQuery {
            device: text("device"),
            user: text("user"),
            record: text("record"),
            action: text("action"),
            from: text("from"),
            to: text("to"),
            limit,
        };
        service.read_audit(&device, &query)
    })
    .await?;
    json_body(&rows)
}
