//! The retention review from a device, for the Retention screen: the closed records of the
//! device's division due for review (the safeguarding unit: cases; an IDVA: health records),
//! and a decision on one. Blocking calls over a `Transport`, authenticated with the device
//! credential as a sync is; the server decides what the role may review and answers
//! `{code, message}` otherwise (`Error::ServerRefused`, e.g. code `forbidden` for an officer).
//! Input is checked here first with provide-core's `retention` rules, so a mistyped date costs
//! no round trip; the server checks it again (and whether the date is still in the future by
//! its own clock).

use super::transport::Transport;
use crate::error::{Error, Result};
use crate::retention::{self, Decision, DecisionRequest, DueList, ReviewDecision};

pub const DUE_PATH: &str = "v1/retention/due";
pub const DECISIONS_PATH: &str = "v1/retention/decisions";

/// What the device's user reviews that is due today.
pub fn due(transport: &mut dyn Transport, credential: &str) -> Result<DueList> {
    let body = transport.get(DUE_PATH, &[], Some(credential))?;
    serde_json::from_slice(&body)
        .map_err(|_| Error::Protocol("the retention due list could not be read".into()))
}

/// Records a decision; the server's record of it comes back.
pub fn decide(
    transport: &mut dyn Transport,
    credential: &str,
    request: &DecisionRequest,
) -> Result<ReviewDecision> {
    retention::check_reason(&request.reason).map_err(Error::InvalidInput)?;
    match (request.decision, &request.retain_until) {
        (Decision::Retain, Some(d)) => {
            retention::parse_date(d).map_err(Error::InvalidInput)?;
        }
        (Decision::Retain, None) => {
            return Err(Error::InvalidInput(
                "a retain decision needs a retain-until date".into(),
            ))
        }
        (Decision::Dispose, Some(_)) => {
            return Err(Error::InvalidInput(
                "a dispose decision takes no retain-until date".into(),
            ))
        }
        (Decision::Dispose, None) => {}
    }
    let body = serde_json::to_vec(request)
        .map_err(|_| Error::Internal("the decision could not be written".into()))?;
    let answer = transport.post(DECISIONS_PATH, &body, Some(credential))?;
    serde_json::from_slice(&answer).map_err(|_| {
        Error::Protocol("the server's record of the decision could not be read".into())
    })
}
