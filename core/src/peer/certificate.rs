//! Device certificates: what lets two devices in a car trust each other with no server in
//! reach. The server's device CA signs, for a key pair the device generated and keeps in its
//! encrypted store, a short-lived X.509 certificate (`LIFETIME_HOURS`) naming the device, the
//! signed-in user, their role, division and team, and the user's Automerge actor on that
//! device. Peers verify the chain and validity with rustls' WebPKI verifiers, then read the
//! claims from the certificate they just verified (`claims_of`).
//!
//! The claims travel in one non-critical extension (`CLAIMS_OID`) holding a DER UTF8String of
//! JSON. They are read only from certificates the device CA signed, so the reader is a small
//! DER walk rather than a general X.509 parser. The issuing half (`DeviceCa`) is the server's;
//! it lives here so the format has one home.

use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SignatureAlgorithm, PKCS_ECDSA_P256_SHA256,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::Role;

/// How long a device certificate is valid: a shift and a margin. A device renews it on every
/// sync with the server, so a device that stops syncing (lost, stolen, revoked) stops being
/// trusted by peers within a day.
pub const LIFETIME_HOURS: i64 = 24;

/// The name every device certificate carries and every peer asks for: peers are identified by
/// the claims, never by an address.
pub const PEER_NAME: &str = "peer.provide.invalid";

/// The claims extension's OID, in the UUID arc (2.25, ITU-T X.667).
pub const CLAIMS_OID: &[u64] = &[2, 25, 17_214_958_731_046_301_337];

/// Who a device certificate speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceClaims {
    pub device_id: String,
    pub user: String,
    pub role: Role,
    pub division: String,
    pub team: String,
    /// The user's Automerge actor on that device, hex.
    pub actor: String,
}

/// A verified certificate's claims and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    pub claims: DeviceClaims,
    /// SHA-256 of the certificate's public key (hex): stays the same across renewals, so a
    /// pairing survives the partner's renewal during a shift.
    pub key_fingerprint: String,
}

/// The SHA-256 fingerprint (hex) of a key pair's public key, as `PeerIdentity` names it.
pub fn key_fingerprint(public_key_raw: &[u8]) -> String {
    hex::encode(Sha256::digest(public_key_raw))
}

/// A fresh device key pair (ECDSA P-256), as PKCS#8 DER for the store.
pub fn new_device_key() -> Result<Vec<u8>> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .map_err(|e| Error::Crypto(format!("key generation failed ({e})")))?;
    Ok(key.serialize_der())
}

/// The raw public key of a stored device key.
pub fn public_key_of(key_der: &[u8]) -> Result<Vec<u8>> {
    let key = KeyPair::try_from(key_der)
        .map_err(|_| Error::Crypto("the device key is damaged".into()))?;
    Ok(key.public_key_raw().to_vec())
}

/// The server's device CA: signs device certificates. Its key is the server's secret; its
/// certificate is given to devices on every sync.
pub struct DeviceCa {
    key: KeyPair,
    cert: rcgen::Certificate,
}

impl DeviceCa {
    /// A new CA key, as PKCS#8 DER.
    pub fn new_key() -> Result<Vec<u8>> {
        new_device_key()
    }

    /// The CA of `key_der`. The certificate is made again from the key at every start: peers
    /// trust a CA by its name and key, so every process with the key issues certificates every
    /// device accepts.
    pub fn from_key(key_der: &[u8]) -> Result<DeviceCa> {
        let key = KeyPair::try_from(key_der)
            .map_err(|_| Error::Crypto("the device CA key is damaged".into()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "Provide device CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Provide");
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2099, 12, 31);
        let cert = params
            .self_signed(&key)
            .map_err(|e| Error::Crypto(format!("the device CA could not be made ({e})")))?;
        Ok(DeviceCa { key, cert })
    }

    /// The CA certificate, PEM, for devices to trust.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for `public_key_raw` (P-256, uncompressed point) naming `claims`, valid
    /// from a few minutes before `now_s` (clocks in cars drift) for `LIFETIME_HOURS`.
    pub fn issue(
        &self,
        public_key_raw: &[u8],
        claims: &DeviceClaims,
        now_s: i64,
    ) -> Result<String> {
        if public_key_raw.len() != 65 || public_key_raw[0] != 4 {
            return Err(Error::InvalidInput(
                "the public key must be an uncompressed P-256 point".into(),
            ));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(
            DnType::CommonName,
            format!("Provide device {}", claims.device_id),
        );
        params.subject_alt_names = vec![SanType::DnsName(
            PEER_NAME
                .try_into()
                .map_err(|_| Error::Internal("peer name".into()))?,
        )];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let start = time::OffsetDateTime::from_unix_timestamp(now_s - 600)
            .map_err(|_| Error::InvalidInput("the time is out of range".into()))?;
        params.not_before = start;
        params.not_after =
            start + time::Duration::hours(LIFETIME_HOURS) + time::Duration::minutes(10);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(
            &crate::crypto::random_bytes::<16>(),
        ));
        let json = serde_json::to_vec(claims).map_err(|e| Error::Internal(e.to_string()))?;
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            CLAIMS_OID,
            der_utf8_string(&json),
        )];
        let key = RawP256(public_key_raw.to_vec());
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .map_err(|e| Error::Crypto(format!("the certificate could not be signed ({e})")))?;
        Ok(cert.pem())
    }
}

/// A device's public key as the CA receives it.
struct RawP256(Vec<u8>);

impl PublicKeyData for RawP256 {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

/// The claims and key fingerprint of a certificate the device CA signed (DER). Call it only
/// on a certificate already verified against the CA.
pub fn claims_of(cert_der: &[u8]) -> Result<PeerIdentity> {
    let bad = || Error::Protocol("the partner's certificate carries no readable claims".into());
    let oid = der_oid(CLAIMS_OID);
    let at = find(cert_der, &oid).ok_or_else(bad)?;
    let mut rest = &cert_der[at + oid.len()..];
    // an optional `critical` BOOLEAN, then the OCTET STRING holding the value
    if rest.first() == Some(&0x01) {
        let (_, after) = der_item(rest, 0x01).ok_or_else(bad)?;
        rest = after;
    }
    let (value, _) = der_item(rest, 0x04).ok_or_else(bad)?;
    let (json, _) = der_item(value, 0x0c).ok_or_else(bad)?;
    let claims: DeviceClaims = serde_json::from_slice(json).map_err(|_| bad())?;
    let spki = public_key_in(cert_der).ok_or_else(bad)?;
    Ok(PeerIdentity {
        claims,
        key_fingerprint: key_fingerprint(spki),
    })
}

/// The raw public key of a P-256 certificate: the BIT STRING after the id-ecPublicKey and
/// prime256v1 OIDs.
fn public_key_in(cert_der: &[u8]) -> Option<&[u8]> {
    // 1.2.840.10045.3.1.7 (prime256v1)
    const CURVE: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let at = find(cert_der, CURVE)?;
    let (bits, _) = der_item(&cert_der[at + CURVE.len()..], 0x03)?;
    // the first byte of a BIT STRING counts unused bits
    bits.split_first().filter(|(u, _)| **u == 0).map(|(_, k)| k)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One DER item of `tag` at the start of `bytes`: its content and what follows it.
fn der_item(bytes: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = bytes.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for b in &rest[..n] {
            len = (len << 8) | usize::from(*b);
        }
        rest = &rest[n..];
        len
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
}

fn der_utf8_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0x0c];
    der_length(bytes.len(), &mut out);
    out.extend_from_slice(bytes);
    out
}

/// An OBJECT IDENTIFIER as DER (tag, length, content).
fn der_oid(arcs: &[u64]) -> Vec<u8> {
    let mut content = Vec::new();
    let first = arcs[0] * 40 + arcs[1];
    for arc in std::iter::once(first).chain(arcs[2..].iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v > 0 {
            groups.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        groups.reverse();
        content.extend_from_slice(&groups);
    }
    let mut out = vec![0x06];
    der_length(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

/// The DER of a PEM certificate (the first one in `pem`).
pub fn pem_to_der(pem: &str) -> Result<Vec<u8>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|_| Error::Protocol("not a PEM certificate".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> DeviceClaims {
        DeviceClaims {
            device_id: "dev-1".into(),
            user: "pc.fictional".into(),
            role: Role::Officer,
            division: "west".into(),
            team: "t1".into(),
            actor: "00112233445566778899aabbccddeeff".into(),
        }
    }

    #[test]
    fn an_issued_certificate_carries_its_claims_and_key() {
        let ca = DeviceCa::from_key(&DeviceCa::new_key().unwrap()).unwrap();
        let key = new_device_key().unwrap();
        let public = public_key_of(&key).unwrap();
        let pem = ca.issue(&public, &claims(), 1_800_000_000).unwrap();
        let id = claims_of(&pem_to_der(&pem).unwrap()).unwrap();
        assert_eq!(id.claims, claims());
        assert_eq!(id.key_fingerprint, key_fingerprint(&public));
    }

    #[test]
    fn the_ca_made_again_from_its_key_is_the_same_authority() {
        let key = DeviceCa::new_key().unwrap();
        let a = DeviceCa::from_key(&key).unwrap();
        let b = DeviceCa::from_key(&key).unwrap();
        assert_eq!(
            public_key_in(&pem_to_der(&a.pem()).unwrap()),
            public_key_in(&pem_to_der(&b.pem()).unwrap())
        );
    }

    #[test]
    fn a_bad_public_key_is_refused() {
        let ca = DeviceCa::from_key(&DeviceCa::new_key().unwrap()).unwrap();
        assert!(ca.issue(&[4u8; 10], &claims(), 1_800_000_000).is_err());
        assert!(claims_of(b"not a certificate").is_err());
    }
}
