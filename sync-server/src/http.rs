//! The HTTP surface: three routes, bodies in and out, errors as `{code, message}` with their
//! status. Work runs on the blocking pool, since storage and Automerge are synchronous.
//!
//! - `POST /v1/enrol`: JSON `EnrolRequest` → JSON `EnrolResponse`.
//! - `POST /v1/sync`: bearer credential, binary `SyncRequest` → binary `SyncResponse`.
//! - `GET /v1/health`: `ok`, for load balancers and reachability checks.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use provide_core::sync::enrol::EnrolRequest;
use provide_core::sync::protocol::MAX_BODY;
use provide_core::sync::transport::CONTENT_TYPE;

use crate::error::ServerError;
use crate::service::Service;

/// The largest request body accepted on the wire (compressed).
pub const MAX_REQUEST_BYTES: usize = MAX_BODY;

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({ "code": self.code(), "message": self.to_string() });
        (status, axum::Json(body)).into_response()
    }
}

pub fn router(service: Service) -> Router {
    Router::new()
        .route("/v1/health", get(|| async { "ok" }))
        .route("/v1/enrol", post(enrol))
        .route("/v1/sync", post(sync))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(service)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
) -> Result<T, ServerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ServerError::Internal("the request's task failed".into()))?
}

/// The body, or a `{code, message}` answer when it is too large or broke off.
fn body_of(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ServerError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ServerError::TooLarge
        } else {
            ServerError::BadRequest("the request body could not be read".into())
        }
    })
}

async fn enrol(
    State(service): State<Service>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ServerError> {
    let body = body_of(body)?;
    let req: EnrolRequest = serde_json::from_slice(&body)
        .map_err(|_| ServerError::BadRequest("the enrolment request is not valid JSON".into()))?;
    let answer = blocking(move || service.enrol(&req)).await?;
    Ok(axum::Json(answer).into_response())
}

fn bearer(headers: &HeaderMap) -> Result<String, ServerError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_string())
        .ok_or(ServerError::Unauthorized)
}

async fn sync(
    State(service): State<Service>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ServerError> {
    let credential = bearer(&headers)?;
    let body = body_of(body)?;
    let answer = blocking(move || {
        let device = service.authenticate(&credential)?;
        service.sync(&device, &body)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], answer).into_response())
}
