//! A lightweight simulated device for load benchmarks: enrolled through the real enrolment
//! endpoint with a real one-time code, holding a real credential and actor id, and speaking the
//! real sync protocol over HTTP (async reqwest, so a thousand fit in one process), but with no
//! encrypted store: it keeps its own case in memory, its cursor and request number, and does
//! not keep what it receives. `bulk_cases` makes documents for seeding a server quickly
//! through the same protocol. It obeys erasures as a device does (purges its case if erased,
//! confirms every erased id in its next request), and can speak an older protocol version
//! (`speak`) to measure a server of an earlier release.

use automerge::{ActorId, ChangeHash};
use provide_core::model::{Case, Deployment, RecordKind, Role};
use provide_core::record::author::Author;
use provide_core::record::{edit, RecordDoc};
use provide_core::sync::enrol::{EnrolRequest, EnrolResponse};
use provide_core::sync::protocol::{DocChanges, DocOutcome, SyncRequest, SyncResponse, VERSION};
use provide_core::sync::transport::{CONTENT_TYPE, ENROL_PATH, SYNC_PATH};
use provide_core::{Error, Result};

pub struct LightDevice {
    pub device_id: String,
    credential: String,
    actor: ActorId,
    author: Author,
    role: Role,
    pub division: String,
    pub team: String,
    /// The device's own case, and the heads the server acknowledged.
    case: Option<RecordDoc>,
    acked: Vec<ChangeHash>,
    pub cursor: u64,
    seq: u64,
    /// The protocol version its requests are sealed with.
    protocol: u16,
    /// Erased ids the last answer listed: confirmed in the next request.
    to_confirm: Vec<String>,
    /// The HTTP body sizes of the last exchange: (request, answer).
    pub last_bytes: (usize, usize),
}

fn failed(e: reqwest::Error) -> Error {
    Error::Unreachable(format!("the exchange failed ({e})"))
}

impl LightDevice {
    /// Enrols with the server at `url` using a one-time `code`.
    pub async fn enrol(client: &reqwest::Client, url: &str, code: &str) -> Result<Self> {
        let actor = ActorId::random();
        let answer = client
            .post(format!("{url}/{ENROL_PATH}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(
                serde_json::to_vec(&EnrolRequest {
                    code: code.to_string(),
                    actor_id: actor.to_hex_string(),
                })
                .expect("serialisable"),
            )
            .send()
            .await
            .map_err(failed)?;
        if !answer.status().is_success() {
            return Err(Error::Unreachable(format!(
                "enrolment answered {}",
                answer.status()
            )));
        }
        let body = answer.bytes().await.map_err(failed)?;
        let e: EnrolResponse = serde_json::from_slice(&body)
            .map_err(|_| Error::Protocol("the enrolment answer is not valid JSON".into()))?;
        let role = Role::parse(&e.role).map_err(Error::Protocol)?;
        Ok(LightDevice {
            device_id: e.device_id,
            credential: e.credential,
            actor,
            author: Author::new(&e.user, role),
            role,
            division: e.division,
            team: e.team,
            case: None,
            acked: Vec::new(),
            cursor: 0,
            seq: 0,
            protocol: VERSION,
            to_confirm: Vec::new(),
            last_bytes: (0, 0),
        })
    }

    /// Seals its requests with protocol `version` from now on (a device of an older release;
    /// before version 7 it confirms no erasure).
    pub fn speak(&mut self, version: u16) {
        self.protocol = version;
    }

    /// The erased ids it will confirm in its next request.
    pub fn to_confirm(&self) -> &[String] {
        &self.to_confirm
    }

    /// The id of its own case, if it holds one.
    pub fn case_id(&self) -> Option<String> {
        self.case.as_ref().and_then(|r| r.validated_id().ok())
    }

    /// The credential, for benchmarks that craft their own requests.
    pub fn credential(&self) -> &str {
        &self.credential
    }

    fn case_doc(&self, n: usize, division: &str, team: &str) -> RecordDoc {
        let now = chrono_now();
        let mut case = Case::new(
            edit::new_id(),
            Deployment::Consultation,
            &self.author.user,
            &now,
        );
        case.division = division.to_string();
        case.team = team.to_string();
        case.victim.name = format!("Fictional Person {n}");
        case.incident.reference = format!("LD-{n:07}-FICT");
        RecordDoc::new_case(&case, &self.actor, &self.author).expect("a new case")
    }

    /// Starts the device's own case (uploaded by the next sync).
    pub fn start_case(&mut self, n: usize) {
        let (d, t) = (self.division.clone(), self.team.clone());
        self.case = Some(self.case_doc(n, &d, &t));
        self.acked.clear();
    }

    /// One field edit of the device's own case.
    pub fn edit(&mut self, text: &str) {
        let role = self.role;
        let author = self.author.clone();
        let rec = self.case.as_mut().expect("a case started");
        edit::set_field(rec, "victim.safe_contact.safe_times", text, role).expect("a valid edit");
        rec.commit(&author);
    }

    /// `n` new cases by this device's actor, ready to upload, numbered from `from`.
    pub fn bulk_cases(&self, from: usize, n: usize) -> Vec<DocChanges> {
        (from..from + n)
            .map(|i| {
                let mut rec = self.case_doc(i, &self.division, &self.team);
                DocChanges {
                    id: rec.validated_id().expect("an id"),
                    kind: RecordKind::Case,
                    base: vec![],
                    changes: rec.wire_snapshot(),
                }
            })
            .collect()
    }

    /// One sync exchange: the case's unacknowledged changes (if any) and `extra` documents up,
    /// a page of changes down. Returns the answer.
    pub async fn sync(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        extra: Vec<DocChanges>,
    ) -> Result<SyncResponse> {
        let mut docs = extra;
        let mut sent_heads = None;
        if let Some(rec) = self.case.as_mut() {
            let heads = rec.heads();
            if heads != self.acked {
                let changes = if self.acked.is_empty() {
                    rec.wire_snapshot()
                } else {
                    rec.save_after(&self.acked)
                };
                docs.push(DocChanges {
                    id: rec.validated_id()?,
                    kind: RecordKind::Case,
                    base: self.acked.clone(),
                    changes,
                });
                sent_heads = Some((docs.len() - 1, heads));
            }
        }
        self.seq += 1;
        let request = SyncRequest {
            request_seq: self.seq,
            cursor: self.cursor,
            docs,
            max_response_bytes: 1 << 20,
            audit: vec![],
            erased_confirmed: self.to_confirm.clone(),
            epochs: vec![],
            relayed: vec![],
        };
        let body = request.encode_as(self.protocol);
        let sent = body.len();
        let answer = client
            .post(format!("{url}/{SYNC_PATH}"))
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .bearer_auth(&self.credential)
            .body(body)
            .send()
            .await
            .map_err(failed)?;
        let status = answer.status();
        let body = answer.bytes().await.map_err(failed)?;
        self.last_bytes = (sent, body.len());
        if !status.is_success() {
            return Err(Error::ServerRefused {
                status: status.as_u16(),
                code: "http".into(),
                message: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        let response = SyncResponse::decode(&body)?;
        if response.request_seq != self.seq {
            return Err(Error::Protocol("an answer to another request".into()));
        }
        if let Some((id, heads)) = sent_heads {
            for ack in response.acks.iter().filter(|a| a.doc == id) {
                match &ack.outcome {
                    DocOutcome::Accepted => self.acked = heads.clone(),
                    other => {
                        return Err(Error::Protocol(format!(
                            "the case was not taken: {other:?}"
                        )))
                    }
                }
            }
        }
        self.cursor = response.cursor;
        // obeys an erasure: its own case goes if erased, every erased id is confirmed next
        if let Some(id) = self.case_id() {
            if response.erased.contains(&id) {
                self.case = None;
                self.acked.clear();
            }
        }
        self.to_confirm = response.erased.clone();
        Ok(response)
    }
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Documents a seeding request carries at most.
const SEED_BATCH: usize = 1_000;

/// Seeds cases `from..to` through the protocol from `seeders` (their own cases, spread over
/// them, each device on server `urls[k % len]`), in requests of `SEED_BATCH` documents;
/// returns the devices and the ids of the cases the server took.
pub async fn seed(
    client: &reqwest::Client,
    urls: &[String],
    seeders: Vec<LightDevice>,
    from: usize,
    to: usize,
) -> (Vec<LightDevice>, Vec<String>) {
    let per = (to - from).div_ceil(seeders.len());
    let mut tasks = Vec::new();
    for (k, mut dev) in seeders.into_iter().enumerate() {
        let start = (from + k * per).min(to);
        let end = (start + per).min(to);
        let (c, url) = (client.clone(), urls[k % urls.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut n = start;
            while n < end {
                let batch = SEED_BATCH.min(end - n);
                // documents are built off the async workers: they are CPU work
                let (d, docs) = tokio::task::spawn_blocking(move || {
                    let docs = dev.bulk_cases(n, batch);
                    (dev, docs)
                })
                .await
                .unwrap();
                dev = d;
                let sent: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
                let answer = dev.sync(&c, &url, docs).await.unwrap();
                // a request takes what fits its budget (500 documents, 5 s of work: see
                // service/sync.rs), in order; the rest are built and sent again
                assert!(!answer.acks.is_empty(), "the server took none of a batch");
                ids.extend(sent.into_iter().take(answer.acks.len()));
                n += answer.acks.len();
            }
            (dev, ids)
        }));
    }
    let mut out = Vec::new();
    let mut ids = Vec::new();
    for t in tasks {
        let (dev, taken) = t.await.unwrap();
        out.push(dev);
        ids.extend(taken);
    }
    (out, ids)
}
