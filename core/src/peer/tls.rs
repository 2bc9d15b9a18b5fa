//! Mutual TLS between the pair's devices: TLS 1.3 only, each side presenting its device
//! certificate and accepting only a certificate the server's device CA signed that is valid
//! now (rustls' WebPKI verifiers check the chain and the dates). Who the partner is, and
//! whether this device will sync with it, is decided after the handshake from the verified
//! certificate's claims (`session::acceptable`).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::error::{Error, Result};
use crate::store::PeerCredentials;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(creds: &PeerCredentials) -> Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(creds.ca_der.clone()))
        .map_err(|_| Error::Protocol("the device CA learned from the server is damaged".into()))?;
    Ok(Arc::new(roots))
}

fn chain(creds: &PeerCredentials) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    (
        vec![CertificateDer::from(creds.cert_der.clone())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(creds.key_der.to_vec())),
    )
}

fn tls_error(e: impl std::fmt::Display) -> Error {
    Error::Crypto(format!("the peer link could not be set up ({e})"))
}

/// The listening device's side: asks for, and verifies, the dialer's certificate.
pub fn server_config(creds: &PeerCredentials) -> Result<Arc<ServerConfig>> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(creds)?, provider())
        .build()
        .map_err(tls_error)?;
    let (certs, key) = chain(creds);
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(tls_error)?;
    Ok(Arc::new(config))
}

/// The dialing device's side: verifies the listener's certificate and presents its own.
pub fn client_config(creds: &PeerCredentials) -> Result<Arc<ClientConfig>> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(creds)?, provider())
        .build()
        .map_err(tls_error)?;
    let (certs, key) = chain(creds);
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(certs, key)
        .map_err(tls_error)?;
    Ok(Arc::new(config))
}
