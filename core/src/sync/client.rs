//! The device's side of a sync: build a request from the store (changed documents since their
//! acknowledged heads, the cursor, unsent audit entries), send it, apply the answer, and repeat
//! only while uploads or pages remain. In steady state that is one round trip.
//!
//! Safety rests on the store: acknowledged heads advance only on the server's acknowledgement,
//! a record with unacknowledged edits is never purged, and an answer to any other request than
//! the one just sent is refused. A revoked device uploads what it holds, then erases itself.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::protocol::{SyncRequest, SyncResponse};
use super::reference;
use super::transport::{Transport, SYNC_PATH};
use crate::error::{Error, Result};
use crate::store::Store;

/// Limits of one sync.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    /// About how many bytes of changes one request carries.
    pub max_upload_bytes: usize,
    /// The largest page of updates the device asks for.
    pub max_response_bytes: u64,
    /// Audit entries sent per request.
    pub max_audit_entries: usize,
    /// A stop for a sync that keeps finding work (a server that misbehaves).
    pub max_round_trips: u32,
    /// The protocol version the requests are sealed with: this build's, or the previous one's
    /// to stand in for a device that has not upgraded (tests of a fleet mid-upgrade).
    pub protocol: u16,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            max_upload_bytes: 256 * 1024,
            max_response_bytes: 1024 * 1024,
            max_audit_entries: 2_000,
            max_round_trips: 10_000,
            protocol: super::protocol::VERSION,
        }
    }
}

impl SyncOptions {
    /// The smallest request and page `shrunk` goes down to.
    pub const MIN_CHUNK: usize = 16 * 1024;

    /// Half the upload and page sizes (not below `MIN_CHUNK`), for a retry on a link that
    /// broke off: what got through is kept, and a smaller exchange is likelier to cross.
    pub fn shrunk(&self) -> Self {
        SyncOptions {
            max_upload_bytes: (self.max_upload_bytes / 2).max(Self::MIN_CHUNK),
            max_response_bytes: (self.max_response_bytes / 2).max(Self::MIN_CHUNK as u64),
            ..*self
        }
    }
}

/// What a sync did, as counted on the wire (compressed bodies).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct SyncReport {
    pub round_trips: u32,
    #[ts(type = "number")]
    pub bytes_up: u64,
    #[ts(type = "number")]
    pub bytes_down: u64,
    pub docs_sent: usize,
    pub docs_received: usize,
    pub docs_purged: usize,
    /// Documents the server would not take, with its reason (they stay unsynced here).
    pub refused: Vec<String>,
    pub unsynced_left: usize,
    /// Records the server sent that this device could not use (`id: reason`), set aside;
    /// the rest of the sync went on.
    pub set_aside: Vec<String>,
    pub audit_entries_sent: usize,
    pub audit_rejected: bool,
    #[ts(type = "number")]
    pub cursor: u64,
    /// The server revoked this device; its data has been erased.
    pub revoked: bool,
    /// Records erased at the server and purged here, in plain words (with any changes this
    /// device had not sent, which were lost on purpose and recorded).
    pub erased: Vec<String>,
    /// Records rectified at the server and replaced here by their corrected version, in plain
    /// words (what was replayed onto it, and any write of a struck value dropped).
    pub rectified: Vec<String>,
}

/// What the device says of a record rectified at the server, in plain words.
pub fn rectified_words(id: &str, r: &crate::record::rectify::Replayed) -> String {
    let short: String = id.chars().take(8).collect();
    let mut words = format!(
        "Record {short}… was corrected at the server (a wrongly recorded value was struck from \
         its history) and replaced on this device"
    );
    if r.changes > 0 {
        words.push_str(&format!(
            "; {} change(s) made here were kept and will be sent",
            r.changes
        ));
    }
    if !r.dropped.is_empty() {
        words.push_str(&format!(
            "; {} change(s) that wrote the struck value again were dropped ({})",
            r.dropped.len(),
            r.dropped.join(", ")
        ));
    }
    words.push('.');
    words
}

/// What the device says of a record erased at the server, in plain words.
pub fn erased_words(id: &str, unsent: usize) -> String {
    let short: String = id.chars().take(8).collect();
    match unsent {
        0 => format!(
            "Record {short}… was erased by the server's administrators and removed from this \
             device. This is recorded."
        ),
        n => format!(
            "Record {short}… was erased by the server's administrators and removed from this \
             device, with {n} change(s) made here that had not been sent: the server refuses \
             them. This is recorded."
        ),
    }
}

/// Where a sync stands, reported before each request and after each answer.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct Progress {
    pub round_trips: u32,
    /// Records with changes still to send.
    pub docs_left: usize,
    /// Bytes of changes in the request being sent (0 after an answer).
    #[ts(type = "number")]
    pub bytes_in_flight: u64,
    #[ts(type = "number")]
    pub bytes_up: u64,
    #[ts(type = "number")]
    pub bytes_down: u64,
    pub docs_sent: usize,
    pub docs_received: usize,
    /// The server has more pages for this device.
    pub more_to_receive: bool,
}

/// The store, as the steps of a sync that read or write it see it. The network exchanges happen
/// between these steps, so an app can hold the store behind a lock and keep it usable while a
/// slow link is busy; local edits made in between are safe (acknowledged heads only advance to
/// the heads an upload was built from).
pub trait StoreAccess {
    fn with_store(&self, f: &mut dyn FnMut(&mut Store) -> Result<()>) -> Result<()>;
}

impl StoreAccess for RefCell<&mut Store> {
    fn with_store(&self, f: &mut dyn FnMut(&mut Store) -> Result<()>) -> Result<()> {
        f(&mut self.borrow_mut())
    }
}

pub(crate) fn access<R>(a: &dyn StoreAccess, f: impl FnOnce(&mut Store) -> Result<R>) -> Result<R> {
    let mut f = Some(f);
    let mut out = None;
    a.with_store(&mut |store| {
        if let Some(f) = f.take() {
            out = Some(f(store)?);
        }
        Ok(())
    })?;
    out.ok_or_else(|| Error::Internal("the store was not lent to the sync".into()))
}

/// Runs one sync to completion (all uploads and pages), or until an exchange fails.
pub fn sync(
    store: &mut Store,
    transport: &mut dyn Transport,
    opts: &SyncOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SyncReport> {
    sync_shared(&RefCell::new(store), transport, opts, progress)
}

/// `sync` over a store reached through `StoreAccess`, held only while a step needs it.
pub fn sync_shared(
    store: &dyn StoreAccess,
    transport: &mut dyn Transport,
    opts: &SyncOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SyncReport> {
    let link = access(store, |s| s.server_link())?;
    let mut report = SyncReport::default();
    // records this user cannot read (health records, without the health key) are left for
    // a user who can
    let mut skip: HashSet<String> = access(store, |s| s.unreadable_unsynced())?
        .into_iter()
        .collect();
    let mut need_history: HashMap<String, u32> = HashMap::new();
    let mut more_to_receive = false;
    loop {
        if report.round_trips >= opts.max_round_trips {
            return Err(Error::Protocol(
                "the sync did not finish within its round-trip limit".into(),
            ));
        }
        let (uploads, request, docs_left) = access(store, |s| {
            let (uploads, _) = s.pending_uploads_except(opts.max_upload_bytes, &skip)?;
            let ids: Vec<&str> = uploads.iter().map(|u| u.doc.id.as_str()).collect();
            let request = SyncRequest {
                request_seq: s.next_request_seq()?,
                cursor: s.sync_cursor()?,
                docs: uploads.iter().map(|u| u.doc.clone()).collect(),
                max_response_bytes: opts.max_response_bytes,
                audit: s.audit_to_upload(opts.max_audit_entries)?,
                erased_confirmed: if opts.protocol >= 7 {
                    s.erased_to_confirm()?
                } else {
                    vec![]
                },
                epochs: s.epochs_of(&ids)?,
                relayed: if opts.protocol >= 8 {
                    s.relay_attestations(&ids)?
                } else {
                    vec![]
                },
            };
            let docs_left = s.unsynced_count()?.saturating_sub(skip.len());
            Ok((uploads, request, docs_left))
        })?;
        let body = request.encode_as(opts.protocol);
        progress(&Progress {
            round_trips: report.round_trips,
            docs_left,
            bytes_in_flight: body.len() as u64,
            bytes_up: report.bytes_up,
            bytes_down: report.bytes_down,
            docs_sent: report.docs_sent,
            docs_received: report.docs_received,
            more_to_receive,
        });
        let answer = match transport.post(SYNC_PATH, &body, Some(&link.credential)) {
            // revoked, and its final upload is over (a restored copy of a revoked device):
            // nothing it holds may be written anywhere, so it erases itself
            Err(Error::ServerRefused { code, .. }) if code == "revoked" => {
                report.revoked = true;
                access(store, |s| s.erase_now())?;
                return Ok(report);
            }
            other => other?,
        };
        report.round_trips += 1;
        report.bytes_up += body.len() as u64;
        report.bytes_down += answer.len() as u64;
        let response = SyncResponse::decode(&answer)?;
        if response.request_seq != request.request_seq {
            return Err(Error::Protocol(
                "the answer belongs to another request (a delayed or replayed message)".into(),
            ));
        }
        let applied = access(store, |s| {
            let applied = s.apply_sync_response(&uploads, &response)?;
            s.record_contact(response.audit_acked)?;
            // the server recorded the confirmations before it answered
            s.erased_confirmed(&request.erased_confirmed)?;
            Ok(applied)
        })?;
        report.audit_entries_sent += request.audit.len();
        report.audit_rejected |= response.audit_rejected;
        report.docs_sent += applied.acknowledged;
        report.docs_received += applied.received;
        report.docs_purged += applied.purged;
        report.set_aside.extend(applied.quarantined.iter().cloned());
        report
            .erased
            .extend(applied.erased.iter().map(|(id, n)| erased_words(id, *n)));
        report.rectified.extend(
            applied
                .rectified
                .iter()
                .map(|(id, r)| rectified_words(id, r)),
        );
        report.cursor = response.cursor;
        for (id, outcome) in response
            .acks
            .iter()
            .filter_map(|a| Some((&uploads.get(a.doc)?.doc.id, &a.outcome)))
        {
            if let super::protocol::DocOutcome::NeedHistory = outcome {
                // the whole document goes next time; twice means the server cannot use it
                let n = need_history.entry(id.clone()).or_default();
                *n += 1;
                if *n > 1 {
                    skip.insert(id.clone());
                    report.refused.push(format!("{id}: history not accepted"));
                }
            }
        }
        for refusal in &applied.refused {
            // edits made on a rectified record's old epoch were replayed onto the new one in
            // this same answer: they go in the next request
            if refusal.ends_with("Rectified") {
                continue;
            }
            if let Some((id, _)) = refusal.split_once(':') {
                skip.insert(id.to_string());
            }
            report.refused.push(refusal.clone());
        }
        more_to_receive = response.more;
        let uploads_left = access(store, |s| {
            Ok(s.unsynced_ids()?
                .iter()
                .filter(|id| !skip.contains(*id))
                .count())
        })?;
        progress(&Progress {
            round_trips: report.round_trips,
            docs_left: uploads_left,
            bytes_in_flight: 0,
            bytes_up: report.bytes_up,
            bytes_down: report.bytes_down,
            docs_sent: report.docs_sent,
            docs_received: report.docs_received,
            more_to_receive,
        });
        if response.revoked {
            // upload everything first, audit log included, then destroy the key and data
            let audit_left = access(store, |s| Ok(!s.audit_to_upload(1)?.is_empty()))?
                && !response.audit_rejected;
            let progressed = !request.docs.is_empty() || !request.audit.is_empty();
            if (uploads_left > 0 || audit_left) && progressed {
                continue;
            }
            report.unsynced_left = uploads_left;
            report.revoked = true;
            access(store, |s| s.erase_now())?;
            return Ok(report);
        }
        // purged erasures are confirmed by one more request
        if !applied.erased.is_empty() && opts.protocol >= 7 {
            continue;
        }
        if uploads_left == 0 && !response.more {
            break;
        }
        if request.docs.is_empty() && applied.received == 0 && applied.purged == 0 && !response.more
        {
            break;
        }
    }
    report.unsynced_left = access(store, |s| s.unsynced_count())?;
    fetch_reference(store, transport, &link.credential);
    renew_certificate(store, transport, &link.credential);
    Ok(report)
}

/// Renews the device certificate for the pair's peer sync when it is due
/// (`super::certificate`). A failure (a server of an earlier release has no such route) is
/// left for the next sync: the records have synced.
fn renew_certificate(store: &dyn StoreAccess, transport: &mut dyn Transport, credential: &str) {
    use super::certificate;
    let now_ms = chrono::Utc::now().timestamp_millis();
    if !access(store, |s| certificate::due(s, now_ms)).unwrap_or(false) {
        return;
    }
    let Ok(body) = access(store, certificate::request_body) else {
        return;
    };
    if let Ok(answer) = transport.post(super::transport::CERTIFICATE_PATH, &body, Some(credential))
    {
        let _ = access(store, |s| certificate::keep(s, &answer));
    }
}

/// Fetches the forms and directory the server has published since this device's, when the
/// last answer's tag says there are any. A failure is left for the next sync to try again:
/// the records have synced, and the device goes on with the reference data it has.
fn fetch_reference(store: &dyn StoreAccess, transport: &mut dyn Transport, credential: &str) {
    let Some(theirs) = transport.reference_tag() else {
        return;
    };
    let Ok(ours) = access(store, |s| s.reference_tag()) else {
        return;
    };
    if !reference::behind(&ours, &theirs) {
        return;
    }
    let Ok(body) = transport.get(
        reference::REFERENCE_PATH,
        &[("have", ours)],
        Some(credential),
    ) else {
        return;
    };
    if let Ok(update) = serde_json::from_slice::<reference::ReferenceUpdate>(&body) {
        let _ = access(store, |s| s.keep_reference(&update));
    }
}
