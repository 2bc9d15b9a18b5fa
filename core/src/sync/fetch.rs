//! The safeguarding unit fetching a closed case from the server on request (issue 15). Closed
//! cases leave the unit's devices after the division's grace period (`scope::holds_now`); when
//! one is needed again, the unit asks the server by police reference or by the victim's whole
//! name. The server finds the division's matching cases by keyed digests (it keeps no names
//! to search), sends each closed one the device does not hold, with its history, and audits
//! the search and every case sent as a consultation; the device stores them as a sync answer
//! would, audits each as consulted, and lets them go again once the grace period after the
//! fetch has passed (the server tells it to, on a later sync).

use serde::{Deserialize, Serialize};

use super::protocol::SyncResponse;
use super::transport::{Transport, FETCH_PATH};
use crate::error::{Error, Result};
use crate::model::Role;
use crate::store::{ServerLink, Store};

/// The largest body the server accepts on `FETCH_PATH`.
pub const MAX_FETCH_BODY: usize = 1024;
/// The most cases one fetch sends.
pub const MAX_FOUND: usize = 20;
/// The longest reference or name accepted.
pub const MAX_QUERY_CHARS: usize = 128;

/// What to look for: exactly one of a police reference (spaces and case ignored) or the
/// victim's whole name (case and runs of spaces ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The device's sync cursor: what is sent is pending until the device's next sync
    /// confirms it, as a sync answer's updates are.
    #[serde(default)]
    pub cursor: u64,
}

/// Which of the two a request searches by, checked: the query's text, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query<'a> {
    Reference(&'a str),
    Name(&'a str),
}

impl FetchRequest {
    /// The query, or why it is not one.
    pub fn query(&self) -> std::result::Result<Query<'_>, String> {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|t| !t.is_empty())
        }
        let q = match (given(&self.reference), given(&self.name)) {
            (Some(r), None) => Query::Reference(r),
            (None, Some(n)) => Query::Name(n),
            (None, None) => return Err("give a police reference or the victim's name".into()),
            (Some(_), Some(_)) => {
                return Err("give a police reference or the victim's name, not both".into())
            }
        };
        let text = match q {
            Query::Reference(t) | Query::Name(t) => t,
        };
        if text.chars().count() > MAX_QUERY_CHARS || text.chars().any(char::is_control) {
            return Err(format!(
                "a reference or name is at most {MAX_QUERY_CHARS} printable characters"
            ));
        }
        Ok(q)
    }
}

/// What a fetch brought.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct FetchReport {
    /// The closed cases now on the device, by id.
    pub fetched: Vec<String>,
}

/// The request for `reference` or `name` from this device, checked, and the server to send
/// it to. Only the safeguarding unit may fetch.
pub fn prepare(
    store: &Store,
    reference: Option<&str>,
    name: Option<&str>,
) -> Result<(FetchRequest, ServerLink)> {
    if store.session().role != Role::Safeguarding {
        return Err(Error::Forbidden {
            role: store.session().role.as_str().into(),
            action: "fetch a closed case from the server".into(),
        });
    }
    let link = store.server_link()?;
    let request = FetchRequest {
        reference: reference.map(str::to_string),
        name: name.map(str::to_string),
        cursor: store.sync_cursor()?,
    };
    request.query().map_err(Error::InvalidInput)?;
    Ok((request, link))
}

/// Sends the request; the answer is checked to be a fetch's (updates only, the cursor sent).
pub fn ask(
    transport: &mut dyn Transport,
    credential: &str,
    request: &FetchRequest,
) -> Result<SyncResponse> {
    let body = serde_json::to_vec(request).map_err(|e| Error::Internal(e.to_string()))?;
    let answer = transport.post(FETCH_PATH, &body, Some(credential))?;
    let response = SyncResponse::decode(&answer)?;
    if response.cursor != request.cursor
        || !response.acks.is_empty()
        || !response.purge.is_empty()
        || response.revoked
        || response.more
    {
        return Err(Error::Protocol(
            "the server's answer to a fetch is not one".into(),
        ));
    }
    Ok(response)
}

/// Asks the server for the closed cases `reference` or `name` finds and stores them (the
/// command line; the app does the same in three steps so the store is not held while the
/// request travels).
pub fn fetch_closed(
    store: &mut Store,
    transport: &mut dyn Transport,
    reference: Option<&str>,
    name: Option<&str>,
) -> Result<FetchReport> {
    let (request, link) = prepare(store, reference, name)?;
    let response = ask(transport, &link.credential, &request)?;
    Ok(FetchReport {
        fetched: store.apply_fetched(&response)?,
    })
}
