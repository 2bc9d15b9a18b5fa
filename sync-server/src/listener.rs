//! Accepting connections and serving HTTP/1.1 on them, within `Limits`: a cap on open
//! connections, a timer on headers (which also closes idle kept-alive connections), a timer on
//! the TLS handshake, and a timer on each whole request. At the cap the oldest connection with
//! no request in progress (a slow-header or idle one: the cheapest for an attacker to hold) is
//! closed to make room; if every connection is busy with a request, the newcomer is closed.
//! Each request carries the peer address (`ConnectInfo<SocketAddr>`) for throttling.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;

use crate::error::ServerError;
use crate::limits::Limits;

/// The longest request head accepted (request line and headers).
const MAX_HEADER_BYTES: usize = 16 * 1024;

struct Conn {
    /// Requests in progress on it.
    busy: Arc<AtomicUsize>,
    close: Arc<Notify>,
    closing: bool,
}

#[derive(Default)]
struct Registry {
    next: u64,
    /// Open connections, oldest first.
    open: BTreeMap<u64, Conn>,
}

type Shared = Arc<Mutex<Registry>>;

fn lock(r: &Shared) -> std::sync::MutexGuard<'_, Registry> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers a new connection, making room at the cap; `None` when there is none to make.
fn admit(reg: &Shared, max: usize) -> Option<(u64, Arc<AtomicUsize>, Arc<Notify>)> {
    let mut r = lock(reg);
    let live = r.open.values().filter(|c| !c.closing).count();
    if live >= max.max(1) {
        let oldest_idle = r
            .open
            .values_mut()
            .find(|c| !c.closing && c.busy.load(Ordering::Acquire) == 0)?;
        oldest_idle.closing = true;
        oldest_idle.close.notify_one();
    }
    let id = r.next;
    r.next += 1;
    let busy = Arc::new(AtomicUsize::new(0));
    let close = Arc::new(Notify::new());
    r.open.insert(
        id,
        Conn {
            busy: busy.clone(),
            close: close.clone(),
            closing: false,
        },
    );
    Some((id, busy, close))
}

/// Removes a connection from the registry when its task ends, however it ends.
struct Registered(Shared, u64);

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.0).open.remove(&self.1);
    }
}

/// Counts a request in progress on its connection.
struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accepts and serves until `stop` turns true, then closes every connection (requests in
/// progress finish) and waits up to `grace` for them.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let reg: Shared = Arc::default();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(_) => {
                // out of file descriptors or a connection reset before accept: wait a moment
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some((id, busy, close)) = admit(&reg, limits.max_connections) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let registered = Registered(reg.clone(), id);
        let tls = tls.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _registered = registered;
            match tls {
                None => connection(stream, peer, app, limits, busy, close).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream));
                    let stream = tokio::select! {
                        h = handshake => match h {
                            Ok(Ok(s)) => s,
                            _ => return,
                        },
                        _ = close.notified() => return,
                    };
                    connection(stream, peer, app, limits, busy, close).await
                }
            }
        });
    }
    drop(listener);
    let closing: Vec<Arc<Notify>> = {
        let mut r = lock(&reg);
        r.open
            .values_mut()
            .map(|c| {
                c.closing = true;
                c.close.clone()
            })
            .collect()
    };
    for c in closing {
        c.notify_one();
    }
    let deadline = tokio::time::Instant::now() + grace;
    while !lock(&reg).open.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Serves HTTP/1.1 on one connection until it ends or is told to close.
async fn connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    busy: Arc<AtomicUsize>,
    close: Arc<Notify>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let in_progress = busy.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        busy.fetch_add(1, Ordering::AcqRel);
        let guard = Busy(busy.clone());
        let mut app = app.clone();
        let timeout = limits.request_timeout;
        async move {
            let _guard = guard;
            let answer = match tokio::time::timeout(timeout, app.call(req)).await {
                Ok(Ok(r)) => r,
                Ok(Err(never)) => match never {},
                Err(_) => {
                    let mut r = ServerError::TimedOut.into_response();
                    crate::http::mark_versions(&mut r);
                    r
                }
            };
            Ok::<_, Infallible>(answer)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = close.notified() => {
            // nothing in progress (waiting for headers, or idle): drop it at once; else let
            // the request in progress finish first
            if in_progress.load(Ordering::Acquire) > 0 {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
}

/// Raises this process's soft limit on open files to its hard limit, so the connection cap
/// and not the default 1,024 descriptors decides how many clients are served.
pub fn raise_open_file_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
