//! A crafted client for the attack tests: it holds an enrolled device's real credential and
//! actor, but writes whatever Automerge changes it likes (any author message, any time, any
//! field) and posts them as real sync requests, as a stolen or dishonest device could. Built
//! from provide-core's own types, so a refusal is the server's doing, not a malformed request.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ChangeHash};
use provide_core::model::RecordKind;
use provide_core::sync::protocol::{DocChanges, DocOutcome, SyncRequest, SyncResponse};
use provide_core::sync::transport::CONTENT_TYPE;
use reqwest::blocking::Client;

use crate::{Device, TestServer};

pub struct Attacker {
    client: Client,
    url: String,
    pub credential: String,
    pub actor: ActorId,
}

/// What the server answered.
#[derive(Debug)]
pub enum Answer {
    Ok(SyncResponse),
    Refused { status: u16, code: String },
}

impl Answer {
    /// The outcome of the first document of the request.
    pub fn first_outcome(&self) -> DocOutcome {
        match self {
            Answer::Ok(r) => r
                .acks
                .first()
                .map(|a| a.outcome.clone())
                .expect("the answer acknowledges the document"),
            Answer::Refused { status, code } => panic!("the request was refused: {status} {code}"),
        }
    }
}

/// An author message as the app writes it, naming whoever the attacker likes.
pub fn message(user: &str, role: &str) -> String {
    serde_json::json!({"user": user, "role": role}).to_string()
}

impl Attacker {
    /// Takes over an enrolled device's credential and actor.
    pub fn of(server: &TestServer, device: &Device) -> Self {
        Attacker {
            client: Client::new(),
            url: format!("{}/v1/sync", server.url),
            credential: device.store.server_link().unwrap().credential.to_string(),
            actor: device.store.actor().clone(),
        }
    }

    /// A document holding the record as the device has it, written as this attacker's actor.
    pub fn load(&self, device: &mut Device, id: &str) -> AutoCommit {
        let (_, bytes) = device.store.record_bytes(id).unwrap();
        AutoCommit::load(&bytes)
            .unwrap()
            .with_actor(self.actor.clone())
    }

    /// Commits what is pending in `doc` with the message and time given; returns the heads
    /// before and the new changes.
    pub fn commit(doc: &mut AutoCommit, before: &[ChangeHash], msg: &str, at_ms: i64) -> Vec<u8> {
        doc.commit_with(
            CommitOptions::default()
                .with_message(msg.to_string())
                .with_time(at_ms),
        );
        doc.save_after(before)
    }

    /// Puts one scalar at a path of map keys from the root.
    pub fn put(doc: &mut AutoCommit, path: &[&str], value: impl Into<automerge::ScalarValue>) {
        let mut obj = automerge::ROOT;
        let (last, parents) = path.split_last().unwrap();
        for key in parents {
            obj = match automerge::ReadDoc::get(doc, &obj, *key).unwrap() {
                Some((automerge::Value::Object(_), id)) => id,
                _ => doc.put_object(&obj, *key, automerge::ObjType::Map).unwrap(),
            };
        }
        doc.put(&obj, *last, value.into()).unwrap();
    }

    /// Posts a request carrying one document's changes.
    pub fn upload(
        &self,
        seq: u64,
        id: &str,
        kind: RecordKind,
        base: Vec<ChangeHash>,
        changes: Vec<u8>,
    ) -> Answer {
        self.upload_relayed(seq, id, kind, base, changes, vec![])
    }

    /// `upload`, with attestations for changes relayed from a partner's device.
    pub fn upload_relayed(
        &self,
        seq: u64,
        id: &str,
        kind: RecordKind,
        base: Vec<ChangeHash>,
        changes: Vec<u8>,
        relayed: Vec<provide_core::peer::attestation::Attestation>,
    ) -> Answer {
        self.post(
            SyncRequest {
                request_seq: seq,
                cursor: 0,
                docs: vec![DocChanges {
                    id: id.to_string(),
                    kind,
                    base,
                    changes,
                }],
                max_response_bytes: 1 << 20,
                audit: vec![],
                erased_confirmed: vec![],
                epochs: vec![],
                relayed: relayed.into_iter().map(|a| (0, a)).collect(),
            }
            .encode(),
        )
    }

    /// Posts raw bytes with the device's credential.
    pub fn post(&self, body: Vec<u8>) -> Answer {
        let resp = self
            .client
            .post(&self.url)
            .header("content-type", CONTENT_TYPE)
            .bearer_auth(&self.credential)
            .body(body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().unwrap();
        if status == 200 {
            Answer::Ok(SyncResponse::decode(&bytes).unwrap())
        } else {
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            Answer::Refused {
                status,
                code: v["code"].as_str().unwrap_or_default().to_string(),
            }
        }
    }
}

/// The time now in milliseconds, as changes from releases before issue 14 carry it (this
/// release writes seconds; the server takes both).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
