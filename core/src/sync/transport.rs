//! How sync messages reach the server: one POST per exchange (and a GET for reading reports
//! and the audit log). `Transport` is the seam the client is written against; `HttpTransport`
//! is the real one (reqwest over rustls), and the tests wrap it in link faults. Bodies are
//! counted as sent and received, compressed.
//!
//! Failures split in two: the server could not be reached or the exchange broke off
//! (`Unreachable`: try again later), the server asked to be called again later (`503` or
//! `429` with `Retry-After`: `ServerBusy`, honoured by the schedulers), or the server answered
//! with an error (`ServerRefused`, with the server's `{code, message}`). A refusal of the
//! protocol version is neither: it becomes `UpdateRequired` (or `ServerOutdated`), from the
//! versions the server says it speaks, and nothing retries it. A server whose certificate the
//! device does not trust is none of these: `UntrustedServer`, a security problem
//! (interception, or a server moved to a CA the device was not given), never "no signal".

use std::path::Path;
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::Url;

use super::endpoint::checked_url;
use super::protocol::{self, OLDEST_VERSION, VERSION, VERSIONS_HEADER};
use crate::error::{Error, Result};

pub const SYNC_PATH: &str = "v1/sync";
pub const ENROL_PATH: &str = "v1/enrol";
pub const USERS_PATH: &str = "v1/device/users";
pub const CERTIFICATE_PATH: &str = "v1/device/certificate";
pub const FETCH_PATH: &str = "v1/cases/fetch";
pub const CONTENT_TYPE: &str = "application/x-provide-sync";

pub trait Transport {
    /// Sends `body` to `path` on the server and returns the answer's body.
    fn post(&mut self, path: &str, body: &[u8], credential: Option<&str>) -> Result<Vec<u8>>;
    /// Reads `path` with the URL parameters `query` and returns the answer's body.
    fn get(
        &mut self,
        path: &str,
        query: &[(&str, String)],
        credential: Option<&str>,
    ) -> Result<Vec<u8>>;
    /// The reference-data tag of the last answer (`sync::reference`), if it carried one.
    fn reference_tag(&self) -> Option<String> {
        None
    }

    /// The certificate authority (PEM) this transport trusts for the server beyond the
    /// built-in roots, if any: enrolment keeps it in the store for every later sync.
    fn trusted_ca(&self) -> Option<&str> {
        None
    }
}

pub struct HttpTransport {
    base: Url,
    client: Client,
    reference_tag: std::sync::Mutex<Option<String>>,
    ca_pem: Option<String>,
}

/// Reads a PEM certificate authority file (one CA, or several, as during a move to a new CA),
/// checked to hold at least one certificate.
pub fn read_ca_cert(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::InvalidInput(format!(
            "the CA certificate could not be read ({})",
            e.kind()
        ))
    })?;
    let pem = String::from_utf8(bytes)
        .map_err(|_| Error::InvalidInput("the CA certificate is not valid PEM".into()))?;
    certificates(&pem)?;
    Ok(pem)
}

/// Every certificate in a PEM text; at least one.
fn certificates(pem: &str) -> Result<Vec<reqwest::Certificate>> {
    let bad = || Error::InvalidInput("the CA certificate is not valid PEM".into());
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(bad());
    }
    let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|_| bad())?;
    if certs.is_empty() {
        return Err(bad());
    }
    Ok(certs)
}

impl HttpTransport {
    /// A transport to `server` (checked: https, or http to loopback). `ca_cert` adds PEM
    /// certificate authorities to trust beyond the built-in roots (a force's own CA).
    pub fn new(server: &str, ca_cert: Option<&Path>) -> Result<Self> {
        let pem = ca_cert.map(read_ca_cert).transpose()?;
        Self::with_ca(server, pem)
    }

    /// A transport to `server` trusting the PEM certificate authority `ca_pem` (as kept in
    /// the store since enrolment) beyond the built-in roots.
    pub fn with_ca(server: &str, ca_pem: Option<String>) -> Result<Self> {
        let mut base = checked_url(server)?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mut builder = Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(180))
            .https_only(base.scheme() == "https")
            .user_agent(concat!("provide/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &ca_pem {
            for cert in certificates(pem)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| Error::Internal(format!("the HTTP client could not start ({e})")))?;
        Ok(HttpTransport {
            base,
            client,
            reference_tag: Default::default(),
            ca_pem,
        })
    }
}

/// The server's error body.
#[derive(serde::Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

impl HttpTransport {
    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|_| Error::Internal("bad request path".into()))
    }

    /// Sends a request and turns the answer into its body or the server's `{code, message}`.
    /// `sent` is the protocol version of a sync message sent, if it was one.
    fn exchange(
        &self,
        mut req: reqwest::blocking::RequestBuilder,
        credential: Option<&str>,
        sent: Option<u16>,
    ) -> Result<Vec<u8>> {
        if let Some(c) = credential {
            req = req.bearer_auth(c);
        }
        let resp = req.send().map_err(unreachable)?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        if let Some(tag) = resp
            .headers()
            .get(super::reference::REFERENCE_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            *self.reference_tag.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(tag.chars().take(1024).collect());
        }
        let theirs = resp
            .headers()
            .get(VERSIONS_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(protocol::parse_versions);
        let bytes = resp.bytes().map_err(unreachable)?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => (b.code, b.message),
            Err(_) => (
                "http".to_string(),
                status.canonical_reason().unwrap_or("error").to_string(),
            ),
        };
        if code == "unsupported_version" {
            let ours = match sent {
                Some(v) => (v.min(OLDEST_VERSION), v),
                None => (OLDEST_VERSION, VERSION),
            };
            return Err(protocol::version_skew(ours, theirs));
        }
        if let (503 | 429, Some(retry_after_secs)) = (status.as_u16(), retry_after) {
            return Err(Error::ServerBusy { retry_after_secs });
        }
        if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
            // a proxy or an overloaded server: the same as not reaching it, try again later
            return Err(Error::Unreachable(format!("the server answered {status}")));
        }
        Err(Error::ServerRefused {
            status: status.as_u16(),
            code,
            message,
        })
    }
}

impl Transport for HttpTransport {
    fn post(&mut self, path: &str, body: &[u8], credential: Option<&str>) -> Result<Vec<u8>> {
        let req = self
            .client
            .post(self.url(path)?)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body.to_vec());
        self.exchange(req, credential, protocol::version_of(body))
    }

    fn get(
        &mut self,
        path: &str,
        query: &[(&str, String)],
        credential: Option<&str>,
    ) -> Result<Vec<u8>> {
        let mut url = self.url(path)?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        self.exchange(self.client.get(url), credential, None)
    }

    fn reference_tag(&self) -> Option<String> {
        self.reference_tag
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn trusted_ca(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }
}

/// The longest wait a server may ask for: a misconfigured one must not silence a device.
pub const MAX_RETRY_AFTER_SECS: u64 = 3600;

/// A `Retry-After` in seconds (the HTTP-date form is not used by the server), capped.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(secs.min(MAX_RETRY_AFTER_SECS))
}

/// Describes a failed exchange without the address or any body.
fn unreachable(e: reqwest::Error) -> Error {
    if let Some(why) = untrusted_certificate(&e) {
        return Error::UntrustedServer(why);
    }
    let what = if e.is_timeout() {
        "the connection timed out"
    } else if e.is_connect() {
        "no connection could be made"
    } else if e.is_body() || e.is_decode() {
        "the connection broke off during the answer"
    } else {
        "the exchange failed"
    };
    Error::Unreachable(what.into())
}

/// Why the server's certificate was refused, if that is what failed: rustls's verdict, found
/// among the error's causes. An I/O error carries its cause as its inner error, which its
/// `source()` skips, so the walk opens I/O errors with `get_ref` instead.
fn untrusted_certificate(e: &reqwest::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        match err.downcast_ref::<rustls::Error>() {
            Some(rustls::Error::InvalidCertificate(why)) => return Some(certificate_fault(why)),
            Some(rustls::Error::NoCertificatesPresented) => {
                return Some("it presented no certificate".into())
            }
            _ => {}
        }
        cause = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

/// The certificate's fault in a few words (no names or addresses from the certificate).
fn certificate_fault(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match e {
        C::UnknownIssuer => "it is signed by an authority this device does not trust",
        C::Expired | C::ExpiredContext { .. } => "it has expired",
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet",
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it was issued for another server name"
        }
        C::Revoked => "it has been revoked",
        C::BadSignature => "its signature does not match the authority this device trusts",
        _ => "it failed verification",
    }
    .to_string()
}
