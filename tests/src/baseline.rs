//! BENCHMARK BASELINE, not product code: Automerge's stock sync protocol, the way a team would
//! use it without Provide's protocol, for `make bench` to compare against.
//!
//! Documents sync one by one, as automerge-repo does (one document per message): for each
//! document the device and the server keep a `sync::State` per peer, and exchange
//! `generate_sync_message` / `receive_sync_message` until both are quiet. Each message the
//! device sends is one HTTP POST (`/baseline/sync/{id}`) whose answer is the server's next
//! message for that document (empty when it has nothing to say). Between sessions both sides
//! keep each state's encoded form (the shared heads), as automerge-repo persists sync states,
//! so a document both already hold costs one exchange, not a full resync. Which documents
//! exist is itself an Automerge document, the index (`INDEX`, a map of document ids), synced
//! first in every session the same way, as an automerge-repo application keeps a root document
//! of document URLs: that is how a device learns of new ones. Over a link that breaks, the
//! exchange of the document in hand starts again from the persisted state.
//!
//! It runs over the same HTTP stack as Provide (the device's `HttpTransport`: reqwest blocking,
//! an axum server on loopback) and the same link shaper, and is counted by the same `Metered`
//! transport, so the numbers differ only by protocol. Message bodies go as the stock encoding
//! (Automerge compresses large change columns itself; no extra compression is added, as
//! automerge-repo adds none). The server holds everything in memory: the comparison is about
//! the link, not storage.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use automerge::sync::{Message, State, SyncDoc};
use automerge::{Automerge, ChangeHash};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use provide_core::sync::transport::Transport;
use provide_core::{Error, Result};

/// The id of the index document (every other document's id is a key in its root map).
pub const INDEX: &str = "index";

/// Exchanges per document before a session gives up on it (stock sync needs a handful).
const MAX_EXCHANGES: usize = 64;

#[derive(Default)]
struct Hub {
    docs: HashMap<String, Automerge>,
    /// (peer, document) -> the state of the session under way.
    live: HashMap<(String, String), State>,
    /// (peer, document) -> the persisted state (`State::encode`).
    saved: HashMap<(String, String), Vec<u8>>,
}

type Shared = Arc<Mutex<Hub>>;

/// The baseline's server, on its own runtime thread, on a loopback port.
pub struct BaselineServer {
    pub addr: SocketAddr,
    hub: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn peer(headers: &HeaderMap) -> std::result::Result<String, StatusCode> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .ok_or(StatusCode::UNAUTHORIZED)
}

/// Adds `id` to the index document in `docs` (a no-op if it is there).
fn index_add(docs: &mut HashMap<String, Automerge>, id: &str) {
    use automerge::transaction::Transactable;
    use automerge::ReadDoc;
    let index = docs.entry(INDEX.to_string()).or_default();
    if index.get(automerge::ROOT, id).ok().flatten().is_none() {
        index
            .transact::<_, _, automerge::AutomergeError>(|tx| {
                tx.put(automerge::ROOT, id, true)?;
                Ok(())
            })
            .expect("an index entry");
    }
}

async fn exchange(
    AxState(hub): AxState<Shared>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> std::result::Result<Vec<u8>, StatusCode> {
    let key = (peer(&headers)?, id.clone());
    let mut guard = hub.lock().unwrap();
    let hub = &mut *guard;
    if query.as_deref() == Some("start=1") {
        // a new session: what is remembered of this peer is the persisted state alone
        let state = hub
            .saved
            .get(&key)
            .and_then(|b| State::decode(b).ok())
            .unwrap_or_default();
        hub.live.insert(key.clone(), state);
    }
    let state = hub.live.entry(key.clone()).or_default();
    let doc = hub.docs.entry(id).or_default();
    if !body.is_empty() {
        let message = Message::decode(&body).map_err(|_| StatusCode::BAD_REQUEST)?;
        doc.receive_sync_message(state, message)
            .map_err(|_| StatusCode::UNPROCESSABLE_ENTITY)?;
    }
    let reply = doc.generate_sync_message(state);
    let encoded = state.encode();
    hub.saved.insert(key, encoded);
    Ok(reply.map(Message::encode).unwrap_or_default())
}

impl BaselineServer {
    pub fn start() -> Self {
        let hub: Shared = Arc::default();
        let app = Router::new()
            .route("/baseline/sync/{id}", post(exchange))
            .with_state(hub.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("an address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        BaselineServer {
            addr,
            hub,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Puts a document on the server (as if someone had synced it there), or merges it into
    /// the copy the server holds.
    pub fn put(&self, id: &str, bytes: &[u8]) {
        let mut hub = self.hub.lock().unwrap();
        let doc = hub.docs.entry(id.to_string()).or_default();
        doc.load_incremental(bytes).expect("a valid document");
        index_add(&mut hub.docs, id);
    }

    /// The server's heads of a document.
    pub fn heads(&self, id: &str) -> Vec<ChangeHash> {
        let hub = self.hub.lock().unwrap();
        hub.docs.get(id).map(|d| d.get_heads()).unwrap_or_default()
    }

    /// Documents held, the index not counted.
    pub fn doc_count(&self) -> usize {
        self.hub.lock().unwrap().docs.len().saturating_sub(1)
    }
}

impl Drop for BaselineServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A device syncing by stock Automerge: its documents and its persisted sync states.
pub struct BaselineDevice {
    /// Names the device to the server (one sync state per peer and document).
    pub peer: String,
    pub docs: HashMap<String, Automerge>,
    saved: HashMap<String, Vec<u8>>,
}

/// Which documents a session syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session<'a> {
    /// Reconnecting: sync the index, then every document it names or the device holds (what
    /// automerge-repo does for the documents it has when a peer connects).
    Everything,
    /// Still connected: sync only these documents, changed since the last message (what
    /// automerge-repo sends while connected), without asking for the list.
    Only(&'a [String]),
}

/// What a session did (the wire is counted by the transport).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionReport {
    pub docs: usize,
    /// Exchanges that broke off and were started again.
    pub restarts: u64,
}

impl BaselineDevice {
    pub fn new(peer: &str) -> Self {
        BaselineDevice {
            peer: peer.to_string(),
            docs: HashMap::new(),
            saved: HashMap::new(),
        }
    }

    /// Puts a document on the device (and in its index), or merges into the copy it holds.
    pub fn put(&mut self, id: &str, bytes: &[u8]) {
        let doc = self.docs.entry(id.to_string()).or_default();
        doc.load_incremental(bytes).expect("a valid document");
        index_add(&mut self.docs, id);
    }

    /// Documents held, the index not counted.
    pub fn doc_count(&self) -> usize {
        self.docs
            .len()
            .saturating_sub(usize::from(self.docs.contains_key(INDEX)))
    }

    pub fn heads(&self, id: &str) -> Vec<ChangeHash> {
        self.docs.get(id).map(|d| d.get_heads()).unwrap_or_default()
    }

    /// Runs one session over `transport`. A broken exchange (`Unreachable`) restarts that
    /// document's sync from the persisted state, up to `max_restarts` times in all.
    pub fn sync(
        &mut self,
        transport: &mut dyn Transport,
        which: Session,
        max_restarts: u64,
    ) -> Result<SessionReport> {
        let mut report = SessionReport::default();
        let ids: Vec<String> = match which {
            Session::Only(ids) => ids.to_vec(),
            Session::Everything => {
                let index = [INDEX.to_string()];
                report = self.sync(transport, Session::Only(&index), max_restarts)?;
                let mut all: BTreeSet<String> = self.docs.keys().cloned().collect();
                if let Some(doc) = self.docs.get(INDEX) {
                    use automerge::ReadDoc;
                    all.extend(doc.keys(automerge::ROOT));
                }
                all.remove(INDEX);
                all.into_iter().collect()
            }
        };
        for id in &ids {
            loop {
                match self.sync_doc(transport, id) {
                    Ok(()) => break,
                    Err(Error::Unreachable(_)) if report.restarts < max_restarts => {
                        report.restarts += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
            report.docs += 1;
        }
        Ok(report)
    }

    /// One document, until both sides are quiet.
    fn sync_doc(&mut self, transport: &mut dyn Transport, id: &str) -> Result<()> {
        let mut state = self
            .saved
            .get(id)
            .and_then(|b| State::decode(b).ok())
            .unwrap_or_default();
        let doc = self.docs.entry(id.to_string()).or_default();
        for n in 0..MAX_EXCHANGES {
            let message = doc.generate_sync_message(&mut state);
            if message.is_none() && n > 0 {
                // the server answered our last message; we have nothing more: both quiet
                return Ok(());
            }
            let body = message.map(Message::encode).unwrap_or_default();
            let path = if n == 0 {
                format!("baseline/sync/{id}?start=1")
            } else {
                format!("baseline/sync/{id}")
            };
            let answer = transport.post(&path, &body, Some(&self.peer))?;
            if !answer.is_empty() {
                let reply = Message::decode(&answer)
                    .map_err(|_| Error::Protocol("a baseline answer did not decode".into()))?;
                doc.receive_sync_message(&mut state, reply)
                    .map_err(|e| Error::Protocol(format!("a baseline answer failed: {e}")))?;
            }
            self.saved.insert(id.to_string(), state.encode());
        }
        Err(Error::Protocol(format!(
            "stock sync of {id} did not settle in {MAX_EXCHANGES} exchanges"
        )))
    }
}
