//! Reading a request body into memory, only once the request may send one: at most `max`
//! bytes (a declared length over it is refused before a byte is read), and at a minimum
//! average rate (`Limits::body_min_rate` after `Limits::body_grace`), so a trickling body is
//! cut off with `timed_out` instead of holding its memory and connection.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::error::ServerError;
use crate::limits::Limits;

/// The length the request declares, if it declares one.
pub fn declared_len(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Refuses a request whose declared length is over `max`, before anything is read.
pub fn check_declared(headers: &HeaderMap, max: usize) -> Result<(), ServerError> {
    match declared_len(headers) {
        Some(n) if n > max as u64 => Err(ServerError::TooLarge),
        _ => Ok(()),
    }
}

/// The time by which more than `received` bytes must have arrived.
fn deadline(start: Instant, received: usize, limits: &Limits) -> Instant {
    let rate = limits.body_min_rate.max(1) as f64;
    start + limits.body_grace + Duration::from_secs_f64(received as f64 / rate)
}

/// Reads the whole body: at most `max` bytes, each part before its deadline.
pub async fn read(
    mut body: Body,
    headers: &HeaderMap,
    max: usize,
    limits: &Limits,
) -> Result<Bytes, ServerError> {
    check_declared(headers, max)?;
    let start = Instant::now();
    let mut out: Vec<u8> = Vec::new();
    loop {
        let next = tokio::time::timeout_at(deadline(start, out.len(), limits), body.frame());
        match next.await {
            Err(_) => return Err(ServerError::TimedOut),
            Ok(None) => return Ok(Bytes::from(out)),
            Ok(Some(Err(_))) => {
                return Err(ServerError::BadRequest(
                    "the request body could not be read".into(),
                ))
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > max {
                        return Err(ServerError::TooLarge);
                    }
                    out.extend_from_slice(&data);
                }
            }
        }
    }
}
