//! Running the server: bind, optionally wrap in TLS (rustls, certificate and key from PEM
//! files), serve until stopped. `start` runs it on its own runtime thread and returns the
//! bound address, which is how the tests and the demo get a real server on loopback.
//! Connections are served by `listener` within the service's `Limits`; refused credentials
//! counted by the guard are written to the audit log every `audit_window` and on stopping.
//! With a metrics address, `GET /metrics` is served there too (see `metrics`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::{Result, ServerError};
use crate::guard::Guard;
use crate::http::router;
use crate::listener;
use crate::metrics::{self, Metrics};
use crate::service::Service;

/// How long requests in flight get to finish when the server stops.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct Listen {
    pub addr: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A server running on its own thread.
pub struct Running {
    pub addr: SocketAddr,
    /// Where the metrics are served, when they are.
    pub metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish, and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|_| ServerError::Tls("the certificate file cannot be read".into()))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| ServerError::Tls("the certificate file is not valid PEM".into()))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(
            "the certificate file holds no certificate".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|_| ServerError::Tls("the key file holds no usable private key".into()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Starts the server on a new thread with its own runtime; returns once it is listening.
pub fn start(service: Service, listen: Listen) -> Result<Running> {
    start_with_metrics(service, listen, None)
}

/// `start`, also serving the metrics on `metrics_addr` when given.
pub fn start_with_metrics(
    service: Service,
    listen: Listen,
    metrics_addr: Option<SocketAddr>,
) -> Result<Running> {
    let tls = match &listen.tls {
        Some((cert, key)) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(
            cert, key,
        )?))),
        None => None,
    };
    let listener = std::net::TcpListener::bind(listen.addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let metrics_listener = metrics_addr.map(metrics::bind).transpose()?;
    let metrics_addr = metrics_listener
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    let (stop, stopped) = watch::channel(false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("provide-sync-server")
        .build()?;
    let limits = service.config.limits;
    let guard = Arc::new(Guard::new(limits));
    let counters = Arc::new(Metrics::new());
    let app = router(service.clone(), guard.clone(), counters.clone());
    let thread = std::thread::spawn(move || {
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(cause = %e.kind(), "the server stopped");
                    return;
                }
            };
            let scraper = metrics_listener.map(|l| {
                tokio::spawn(metrics::serve(
                    l,
                    counters,
                    service.clone(),
                    guard.clone(),
                    stopped.clone(),
                ))
            });
            let auditor = {
                let (guard, service) = (guard.clone(), service.clone());
                tokio::spawn(async move {
                    let mut every =
                        tokio::time::interval(limits.audit_window.max(Duration::from_secs(1)));
                    every.tick().await;
                    loop {
                        every.tick().await;
                        let (guard, service) = (guard.clone(), service.clone());
                        let _ =
                            tokio::task::spawn_blocking(move || guard.flush_audit(&service)).await;
                    }
                })
            };
            listener::serve(listener, tls, app, limits, stopped, STOP_GRACE).await;
            auditor.abort();
            if let Some(s) = scraper {
                let _ = s.await;
            }
            let _ = tokio::task::spawn_blocking(move || guard.flush_audit(&service)).await;
        });
    });
    Ok(Running {
        addr,
        metrics_addr,
        stop,
        thread: Some(thread),
    })
}
