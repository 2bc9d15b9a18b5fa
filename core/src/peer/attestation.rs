//! The author's signed word for changes a partner relays. Automerge changes carry no
//! signature: anyone holding a document can make a change under any actor id. So a change
//! that reaches the server from a device other than its author's (relayed from the partner's
//! device in the car) is taken only with its author's attestation: the author's device signs,
//! with the device key its certificate names, "in record R, my changes up to change H are
//! mine". Changes form a hash chain, so the signature covers every change of that actor that
//! H depends on; a change forged later under the author's actor is covered by nothing.
//!
//! The receiving partner checks an attestation before taking the changes it covers, keeps it,
//! and sends it with the relayed changes (`SyncRequest::relayed`, protocol 8); the server
//! checks it again against its own device CA (`verify`).

use std::collections::HashSet;

use automerge::{AutoCommit, Change, ChangeHash};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use rustls::pki_types::{CertificateDer, UnixTime};

use super::certificate::{self, PeerIdentity};
use crate::error::{Error, Result};

/// The most bytes a certificate or a signature in an attestation may take.
pub const MAX_CERT_BYTES: usize = 4096;
pub const MAX_SIGNATURE_BYTES: usize = 128;
/// The most certificates, and attestations, one message or request may carry: a pair relays
/// its two devices' words (and a few kept from earlier partners) for each record, never more.
pub const MAX_CERTS: usize = 16;
pub const MAX_ATTESTATIONS: usize = 2_048;
/// The most attestations weighed for one record (one per author is all that is needed).
pub const MAX_PER_RECORD: usize = 8;

/// Attestations of the documents of a message or request, by each document's place in it.
pub type Attested = Vec<(usize, Attestation)>;

/// An author's signed word for its changes to one record, up to `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// The author's device certificate (DER).
    pub cert: Vec<u8>,
    /// The author's latest change to the record.
    pub head: ChangeHash,
    /// When it was signed (seconds): the certificate must have been valid then.
    pub signed_at: i64,
    /// ECDSA P-256 / SHA-256 (ASN.1) over `signed_bytes(record, head, signed_at)`.
    pub signature: Vec<u8>,
}

/// How far a signing time or a head's time may lie past the checker's clock (clocks in cars
/// drift), as the server allows for changes.
pub const CLOCK_SKEW_S: i64 = 600;
/// How long an attestation carries relayed changes: a device out of signal for two weeks
/// still gets its partner's work to the server; a key stolen later cannot backdate past it.
pub const MAX_AGE_S: i64 = 14 * 86_400;

fn signed_bytes(record: &str, head: &ChangeHash, signed_at: i64) -> Vec<u8> {
    let mut m = b"provide attestation v1\0".to_vec();
    m.extend_from_slice(record.as_bytes());
    m.push(0);
    m.extend_from_slice(&head.0);
    m.extend_from_slice(&signed_at.to_be_bytes());
    m
}

/// Signs `head` of `record` now with the device key `key_der` (PKCS#8) certified by `cert`.
pub fn sign(key_der: &[u8], cert: &[u8], record: &str, head: ChangeHash) -> Result<Attestation> {
    sign_at(key_der, cert, record, head, chrono::Utc::now().timestamp())
}

/// `sign`, at the time `signed_at` (seconds).
pub fn sign_at(
    key_der: &[u8],
    cert: &[u8],
    record: &str,
    head: ChangeHash,
    signed_at: i64,
) -> Result<Attestation> {
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, key_der, &rng)
        .map_err(|_| Error::Crypto("the device key is damaged".into()))?;
    let signature = key
        .sign(&rng, &signed_bytes(record, &head, signed_at))
        .map_err(|_| Error::Crypto("signing failed".into()))?;
    Ok(Attestation {
        cert: cert.to_vec(),
        head,
        signed_at,
        signature: signature.as_ref().to_vec(),
    })
}

/// Checks `att` for `record`: its certificate was issued by the device CA `ca_der` and was
/// valid when it was signed, and its key signed the head at that time. Returns who it speaks
/// for.
pub fn verify(att: &Attestation, record: &str, ca_der: &[u8]) -> Result<PeerIdentity> {
    let at_s = att.signed_at;
    let bad = |why: &str| Error::Protocol(format!("an attestation of record {record} {why}"));
    if att.cert.len() > MAX_CERT_BYTES || att.signature.len() > MAX_SIGNATURE_BYTES {
        return Err(bad("is too large"));
    }
    let ca = CertificateDer::from(ca_der);
    let anchor =
        webpki::anchor_from_trusted_cert(&ca).map_err(|_| bad("has no CA to check against"))?;
    let cert = CertificateDer::from(att.cert.as_slice());
    let ee =
        webpki::EndEntityCert::try_from(&cert).map_err(|_| bad("holds a damaged certificate"))?;
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(at_s.max(0) as u64));
    ee.verify_for_usage(
        &[webpki::ring::ECDSA_P256_SHA256],
        &[anchor],
        &[],
        at,
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .map_err(|_| {
        bad("holds a certificate this server's device CA did not issue, or not for then")
    })?;
    ee.verify_signature(
        webpki::ring::ECDSA_P256_SHA256,
        &signed_bytes(record, &att.head, att.signed_at),
        &att.signature,
    )
    .map_err(|_| bad("has a signature that does not verify"))?;
    certificate::claims_of(&att.cert)
}

/// The changes of `new` (new to this store or server, in `doc`) that attestations among
/// `words` cover, by the one rule both the partner's device and the server apply: the
/// attestation's head is in the document and is its author's own change; its certificate was
/// issued by the device CA `ca_der` and valid when it signed that head of this record, after
/// the head was made, within `MAX_AGE_S` before `now_s`; and `accept` takes who it speaks for (the server: a device of the
/// uploader's team; a device: its partner's team, not revoked). It covers the author's changes
/// the head depends on: changes form a hash chain, so nothing made later is covered.
pub fn covered(
    doc: &mut AutoCommit,
    record: &str,
    new: &[Change],
    words: &[&Attestation],
    (ca_der, now_s): (&[u8], i64),
    accept: impl Fn(&PeerIdentity) -> bool,
) -> HashSet<ChangeHash> {
    let mut out = HashSet::new();
    for a in words.iter().take(MAX_PER_RECORD) {
        let Some(head) = doc.get_change_by_hash(&a.head) else {
            continue;
        };
        let actor = head.actor_id().to_hex_string();
        let made_s = crate::record::change_time::change_time_ms(head.timestamp()) / 1000;
        // signed after the change was made, not in the future, not too long ago
        if made_s > a.signed_at + CLOCK_SKEW_S
            || a.signed_at > now_s + CLOCK_SKEW_S
            || a.signed_at < now_s - MAX_AGE_S
        {
            continue;
        }
        let Ok(who) = verify(a, record, ca_der) else {
            continue;
        };
        if who.claims.actor != actor || !accept(&who) {
            continue;
        }
        let beyond: HashSet<ChangeHash> = doc
            .get_changes(&[a.head])
            .iter()
            .map(|c| c.hash())
            .collect();
        out.extend(
            new.iter()
                .filter(|c| c.actor_id().to_hex_string() == actor && !beyond.contains(&c.hash()))
                .map(|c| c.hash()),
        );
    }
    out
}

/// Attestations by the index of the document they are for, as a message carries them: each
/// certificate once, then (document, certificate, head, signature).
pub fn write_list(w: &mut crate::sync::codec::Writer, list: &[(usize, Attestation)]) {
    let mut certs: Vec<&[u8]> = Vec::new();
    let mut index = Vec::with_capacity(list.len());
    for (_, a) in list {
        let i = match certs.iter().position(|c| *c == a.cert.as_slice()) {
            Some(i) => i,
            None => {
                certs.push(&a.cert);
                certs.len() - 1
            }
        };
        index.push(i);
    }
    w.varint(certs.len() as u64);
    for c in &certs {
        w.bytes(c);
    }
    w.varint(list.len() as u64);
    for ((doc, a), cert) in list.iter().zip(index) {
        w.varint(*doc as u64);
        w.varint(cert as u64);
        w.hash(&a.head);
        w.signed(a.signed_at);
        w.bytes(&a.signature);
    }
}

/// What `write_list` wrote.
pub fn read_list(
    r: &mut crate::sync::codec::Reader,
) -> crate::sync::codec::DecodeResult<Vec<(usize, Attestation)>> {
    use crate::sync::codec::DecodeError;
    let n = r.count(1)?;
    if n > MAX_CERTS {
        return Err(DecodeError("attestation certificates"));
    }
    let certs = (0..n)
        .map(|_| {
            let c = r.bytes()?;
            if c.len() > MAX_CERT_BYTES {
                return Err(DecodeError("attestation certificate"));
            }
            Ok(c.to_vec())
        })
        .collect::<crate::sync::codec::DecodeResult<Vec<_>>>()?;
    let n = r.count(35)?;
    if n > MAX_ATTESTATIONS {
        return Err(DecodeError("attestations"));
    }
    (0..n)
        .map(|_| {
            let doc = usize::try_from(r.varint()?).map_err(|_| DecodeError("attestation"))?;
            let cert = certs
                .get(usize::try_from(r.varint()?).map_err(|_| DecodeError("attestation"))?)
                .ok_or(DecodeError("attestation certificate"))?
                .clone();
            let head = r.hash()?;
            let signed_at = r.signed()?;
            let signature = r.bytes()?;
            if signature.len() > MAX_SIGNATURE_BYTES {
                return Err(DecodeError("attestation signature"));
            }
            Ok((
                doc,
                Attestation {
                    cert,
                    head,
                    signed_at,
                    signature: signature.to_vec(),
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use crate::peer::certificate::{DeviceCa, DeviceClaims};

    #[test]
    fn an_attestation_verifies_only_for_its_record_head_ca_and_time() {
        let ca_key = DeviceCa::new_key().unwrap();
        let ca = DeviceCa::from_key(&ca_key).unwrap();
        let key = certificate::new_device_key().unwrap();
        let claims = DeviceClaims {
            device_id: "d".into(),
            user: "idva.fictional".into(),
            role: Role::Idva,
            division: "west".into(),
            team: "t1".into(),
            actor: "00".repeat(16),
        };
        let now = chrono::Utc::now().timestamp();
        let pem = ca
            .issue(&certificate::public_key_of(&key).unwrap(), &claims, now)
            .unwrap();
        let cert = certificate::pem_to_der(&pem).unwrap();
        let ca_der = certificate::pem_to_der(&ca.pem()).unwrap();
        let head = ChangeHash([9; 32]);
        let att = sign(&key, &cert, "rec", head).unwrap();
        assert_eq!(verify(&att, "rec", &ca_der).unwrap().claims, claims);
        assert!(verify(&att, "other", &ca_der).is_err());
        let late = sign_at(&key, &cert, "rec", head, now + 3 * 86_400).unwrap();
        assert!(
            verify(&late, "rec", &ca_der).is_err(),
            "the certificate had expired then"
        );
        let mut moved = att.clone();
        moved.head = ChangeHash([8; 32]);
        assert!(verify(&moved, "rec", &ca_der).is_err());
        let mut retimed = att.clone();
        retimed.signed_at -= 60;
        assert!(
            verify(&retimed, "rec", &ca_der).is_err(),
            "the time is signed"
        );
        let other_ca = DeviceCa::from_key(&DeviceCa::new_key().unwrap()).unwrap();
        let other_der = certificate::pem_to_der(&other_ca.pem()).unwrap();
        assert!(verify(&att, "rec", &other_der).is_err());
        // a key the certificate does not name
        let stranger = sign(&certificate::new_device_key().unwrap(), &cert, "rec", head).unwrap();
        assert!(verify(&stranger, "rec", &ca_der).is_err());
    }
}
