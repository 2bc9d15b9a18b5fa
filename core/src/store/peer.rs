//! The store's side of syncing with the partner's device in the car (`crate::peer`): the
//! device key and certificate, the CA and revocation list learned from the server, the
//! shift's pairing, what this device holds that the partner may hold, and taking the
//! partner's records in. SQL and the record checks live here; who may pair with whom is
//! `peer::session`'s.
//!
//! What a record received from the partner counts as: new work to upload to the server, like
//! an edit made here, except what the partner says the server already acknowledged
//! (its acknowledged heads, when this store holds them): nothing is uploaded twice. A server
//! that lacks what the partner claimed asks for the history (`NeedHistory`) and gets it whole.

use std::collections::{HashMap, HashSet};

use automerge::ChangeHash;
use rusqlite::{params, OptionalExtension};

use super::incoming::{Staged, Staging, UnknownAuthors};
use super::records::{persist, summarize};
use super::{now_rfc3339, Store};
use crate::audit::{self, Action};
use crate::error::{Error, Result};
use crate::model::{RecordKind, Role};
use crate::peer::attestation::{self, Attestation};
use crate::peer::certificate::{self, DeviceClaims, PeerIdentity};
use crate::peer::message::Held;
use crate::peer::session;
use crate::record::heads::{heads_text, parse_heads};
use crate::record::Author;
use crate::sync::protocol::DocChanges;
use crate::sync::scope::{may_hold, Holder, Placement};

/// Device migration 7.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS peer_identity (
    user TEXT PRIMARY KEY,
    key_der BLOB NOT NULL,
    cert_pem TEXT,
    not_after_ms INTEGER
);
CREATE TABLE IF NOT EXISTS peer_trust (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    ca_pem TEXT NOT NULL,
    revoked TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS peer_attestations (
    record_id TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    actor TEXT NOT NULL,
    head BLOB NOT NULL,
    signed_at INTEGER NOT NULL,
    cert BLOB NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (record_id, actor)
);
CREATE TABLE IF NOT EXISTS purged_records (
    id TEXT PRIMARY KEY,
    purged_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS peer_pairing (
    user TEXT PRIMARY KEY,
    partner_device TEXT NOT NULL,
    partner_user TEXT NOT NULL,
    partner_role TEXT NOT NULL,
    partner_key TEXT NOT NULL,
    paired_at TEXT NOT NULL,
    last_sync_at TEXT
);
";

/// How long a pairing lasts if the shift is not ended in the app: a long shift and a margin.
pub const PAIRING_HOURS: i64 = 16;

/// What this device presents to its partner, and what it trusts.
pub struct PeerCredentials {
    pub cert_der: Vec<u8>,
    pub key_der: zeroize::Zeroizing<Vec<u8>>,
    pub ca_der: Vec<u8>,
    /// Device ids the server revoked, as last learned.
    pub revoked: HashSet<String>,
    pub own: PeerIdentity,
    pub not_after_ms: i64,
}

/// The shift's pairing with the partner's device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Pairing {
    pub partner_device: String,
    pub partner_user: String,
    pub partner_role: String,
    /// The partner's key fingerprint: the pairing holds across its certificate's renewal.
    pub partner_key: String,
    pub paired_at: String,
    /// When the last sync with the partner finished.
    pub last_sync_at: Option<String>,
}

impl Pairing {
    /// Within a shift's length (`PAIRING_HOURS`) of pairing.
    fn current(&self) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.paired_at).is_ok_and(|at| {
            chrono::Utc::now().signed_duration_since(at) < chrono::Duration::hours(PAIRING_HOURS)
        })
    }

    /// With `partner`'s device and key.
    fn is_with(&self, partner: &PeerIdentity) -> bool {
        self.partner_device == partner.claims.device_id
            && self.partner_key == partner.key_fingerprint
    }
}

/// What taking the partner's records did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PeerTaken {
    /// Records created or changed here.
    pub taken: Vec<String>,
    /// Records not taken, each `id: why`.
    pub refused: Vec<String>,
}

impl Store {
    /// The public key (raw P-256 point) of this user's device key, made the first time.
    pub fn peer_public_key(&mut self) -> Result<Vec<u8>> {
        let user = self.session.user.clone();
        let key: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT key_der FROM peer_identity WHERE user = ?1",
                [&user],
                |r| r.get(0),
            )
            .optional()?;
        let key = match key {
            Some(k) => zeroize::Zeroizing::new(k),
            None => {
                let k = zeroize::Zeroizing::new(certificate::new_device_key()?);
                self.conn.execute(
                    "INSERT INTO peer_identity (user, key_der) VALUES (?1, ?2)",
                    params![user, &k[..]],
                )?;
                k
            }
        };
        certificate::public_key_of(&key)
    }

    /// Keeps a certificate the server issued for this user's device key, with the CA and the
    /// revocation list it came with. Refused unless it is for this device, user and key.
    pub fn install_peer_certificate(
        &mut self,
        cert_pem: &str,
        ca_pem: &str,
        revoked: &[String],
        not_after_ms: i64,
    ) -> Result<()> {
        let public = self.peer_public_key()?;
        let id = certificate::claims_of(&certificate::pem_to_der(cert_pem)?)?;
        certificate::pem_to_der(ca_pem)?;
        let c = &id.claims;
        if c.device_id != self.device_id
            || c.user != self.session.user
            || c.role != self.session.role
            || c.actor != self.actor.to_hex_string()
            || id.key_fingerprint != certificate::key_fingerprint(&public)
        {
            return Err(Error::Protocol(
                "the server issued a certificate for another device, user or key".into(),
            ));
        }
        let revoked = serde_json::to_string(revoked).map_err(|e| Error::Internal(e.to_string()))?;
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE peer_identity SET cert_pem = ?2, not_after_ms = ?3 WHERE user = ?1",
            params![self.session.user, cert_pem, not_after_ms],
        )?;
        tx.execute(
            "INSERT INTO peer_trust (id, ca_pem, revoked, updated_at) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET ca_pem = ?1, revoked = ?2, updated_at = ?3",
            params![ca_pem, revoked, now_rfc3339()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// When this user's certificate stops being valid (ms), if there is one.
    pub fn peer_certificate_expiry(&self) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT not_after_ms FROM peer_identity WHERE user = ?1 AND cert_pem IS NOT NULL",
                [&self.session.user],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// The certificate, key and trust this user's device presents to a partner.
    pub fn peer_credentials(&self) -> Result<PeerCredentials> {
        let row: Option<(Vec<u8>, Option<String>, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT key_der, cert_pem, not_after_ms FROM peer_identity WHERE user = ?1",
                [&self.session.user],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let trust: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT ca_pem, revoked FROM peer_trust WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (Some((key, Some(cert_pem), not_after)), Some((ca_pem, revoked))) = (row, trust) else {
            return Err(Error::NoPeerCertificate);
        };
        let cert_der = certificate::pem_to_der(&cert_pem)?;
        let own = certificate::claims_of(&cert_der)?;
        let revoked: Vec<String> = serde_json::from_str(&revoked).unwrap_or_default();
        Ok(PeerCredentials {
            cert_der,
            key_der: zeroize::Zeroizing::new(key),
            ca_der: certificate::pem_to_der(&ca_pem)?,
            revoked: revoked.into_iter().collect(),
            own,
            not_after_ms: not_after.unwrap_or(0),
        })
    }

    /// The signed-in user's pairing, if they paired this shift.
    pub fn pairing(&self) -> Result<Option<Pairing>> {
        Ok(self
            .conn
            .query_row(
                "SELECT partner_device, partner_user, partner_role, partner_key, paired_at, last_sync_at
                 FROM peer_pairing WHERE user = ?1",
                [&self.session.user],
                |r| {
                    Ok(Pairing {
                        partner_device: r.get(0)?,
                        partner_user: r.get(1)?,
                        partner_role: r.get(2)?,
                        partner_key: r.get(3)?,
                        paired_at: r.get(4)?,
                        last_sync_at: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// Whether the server took record `id` off this device (`purge::purge_record`).
    fn was_purged(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM purged_records WHERE id = ?1", [id], |_| {
                Ok(())
            })
            .optional()?
            .is_some())
    }

    /// Whether this user is paired with `partner` (its device and key), within a shift's
    /// length (`PAIRING_HOURS`) of pairing: a pairing the app did not end with the shift lapses.
    pub fn paired_with(&self, partner: &PeerIdentity) -> Result<bool> {
        Ok(self
            .pairing()?
            .is_some_and(|p| p.current() && p.is_with(partner)))
    }

    /// Pairs this user with `partner` for the shift, audited. A pairing with another device
    /// that has not lapsed is not replaced: whoever saw the code later cannot take the pair
    /// over; the shift's pairing is ended first (`end_pairing`, or the end of the shift).
    pub fn record_pairing(&mut self, partner: &PeerIdentity) -> Result<()> {
        let c = &partner.claims;
        if let Some(p) = self.pairing()? {
            if p.current() && !p.is_with(partner) {
                return Err(Error::PeerRefused(format!(
                    "this device is paired with device {} for the shift; end that pairing first",
                    p.partner_device
                )));
            }
        }
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO peer_pairing (user, partner_device, partner_user, partner_role, partner_key, paired_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (user) DO UPDATE SET partner_device = ?2, partner_user = ?3, partner_role = ?4,
               partner_key = ?5, paired_at = ?6, last_sync_at = NULL",
            params![self.session.user, c.device_id, c.user, c.role.as_str(), partner.key_fingerprint, now_rfc3339()],
        )?;
        audit::append(
            &tx,
            &self.session.user,
            self.session.role.as_str(),
            Action::Sync,
            "",
            &format!(
                "paired with partner device {} ({}, {}) for the shift; key {}",
                c.device_id,
                c.user,
                c.role,
                &partner.key_fingerprint[..16]
            ),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records a device refused for a session, and why (a wrong code, another team, revoked,
    /// not paired, a certificate that did not verify).
    pub fn audit_peer_refusal(&mut self, partner: Option<&DeviceClaims>, why: &str) -> Result<()> {
        let who = partner.map_or("an unknown device".to_string(), |c| {
            format!("partner device {} ({}, {})", c.device_id, c.user, c.role)
        });
        let why: String = why.chars().take(300).collect();
        audit::append(
            &self.conn,
            &self.session.user,
            self.session.role.as_str(),
            Action::Sync,
            "",
            &format!("peer session with {who} refused: {why}"),
        )
    }

    /// Ends the signed-in user's pairing (the end of the shift), audited. Whether there was one.
    pub fn end_pairing(&mut self) -> Result<bool> {
        let Some(p) = self.pairing()? else {
            return Ok(false);
        };
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM peer_pairing WHERE user = ?1",
            [&self.session.user],
        )?;
        audit::append(
            &tx,
            &self.session.user,
            self.session.role.as_str(),
            Action::Sync,
            "",
            &format!("pairing with partner device {} ended", p.partner_device),
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Every record this device holds that `partner` may hold, with its heads.
    pub fn peer_held(&mut self, partner: &DeviceClaims) -> Result<Vec<Held>> {
        let holder = Holder {
            role: partner.role,
            division: &partner.division,
            team: &partner.team,
        };
        let mut stmt = self.conn.prepare(
            "SELECT r.id, r.kind, r.heads, r.acked_heads,
                    coalesce(c.division, r.division, ''), coalesce(c.team, r.team, '')
             FROM records r LEFT JOIN records c ON r.kind = 'health' AND c.id = r.case_id
             ORDER BY r.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut held = Vec::new();
        for row in rows {
            let (id, kind, heads, acked, division, team) = row?;
            let Ok(kind) = RecordKind::parse(&kind) else {
                continue;
            };
            let placement = Placement {
                kind,
                division: &division,
                team: &team,
            };
            if may_hold(&holder, &placement) {
                held.push(Held {
                    id,
                    kind,
                    heads: parse_heads(&heads),
                    acked: parse_heads(&acked),
                });
            }
        }
        Ok(held)
    }

    /// The changes `partner`, holding `theirs`, lacks of the records it may hold here, with
    /// the attestations of their authors: this device's own (signed now with `creds`) and those
    /// it keeps from earlier partners.
    pub fn peer_offer(
        &mut self,
        creds: &PeerCredentials,
        partner: &DeviceClaims,
        theirs: &[Held],
    ) -> Result<(Vec<DocChanges>, attestation::Attested)> {
        let theirs: HashMap<&str, &Held> = theirs.iter().map(|h| (h.id.as_str(), h)).collect();
        let own = self.own_actors()?;
        let mut docs = Vec::new();
        let mut attested = Vec::new();
        for mine in self.peer_held(partner)? {
            let mut rec = self.load_record(&mine.id, mine.kind)?;
            let (base, changes) = match theirs.get(mine.id.as_str()) {
                Some(t) if sorted(&t.heads) == sorted(&mine.heads) => continue,
                Some(t) => {
                    let known: Vec<ChangeHash> = t
                        .heads
                        .iter()
                        .filter(|h| rec.doc_mut().get_change_by_hash(h).is_some())
                        .copied()
                        .collect();
                    if known.is_empty() {
                        (vec![], rec.wire_snapshot())
                    } else {
                        (known.clone(), rec.save_after(&known))
                    }
                }
                None => (vec![], rec.wire_snapshot()),
            };
            if changes.is_empty() {
                continue;
            }
            let index = docs.len();
            // this device's word for its own changes: the latest of them covers the rest
            let latest_own = rec
                .doc_mut()
                .get_changes(&[])
                .into_iter()
                .filter(|c| {
                    own.contains(c.actor_id())
                        && c.actor_id().to_hex_string() == creds.own.claims.actor
                })
                .max_by_key(|c| c.seq())
                .map(|c| c.hash());
            if let Some(head) = latest_own {
                attested.push((
                    index,
                    attestation::sign(&creds.key_der, &creds.cert_der, &mine.id, head)?,
                ));
            }
            for kept in self.kept_attestations(&mine.id)? {
                attested.push((index, kept));
            }
            docs.push(DocChanges {
                id: mine.id,
                kind: mine.kind,
                base,
                changes,
            });
        }
        Ok((docs, attested))
    }

    /// The attestations kept for `record` from partners' devices.
    pub fn kept_attestations(&self, record: &str) -> Result<Vec<Attestation>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT head, signed_at, cert, signature FROM peer_attestations WHERE record_id = ?1 ORDER BY actor",
        )?;
        let rows = stmt.query_map([record], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (head, signed_at, cert, signature) = row?;
            let Ok(head) = <[u8; 32]>::try_from(head.as_slice()) else {
                continue;
            };
            out.push(Attestation {
                cert,
                head: ChangeHash(head),
                signed_at,
                signature,
            });
        }
        Ok(out)
    }

    /// The kept attestations for the documents of an upload, by their place in it: the
    /// server takes a change relayed from the partner's device only with its author's word.
    pub fn relay_attestations(&self, ids: &[&str]) -> Result<Vec<(usize, Attestation)>> {
        let mut out = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            for a in self.kept_attestations(id)? {
                out.push((i, a));
            }
        }
        Ok(out)
    }

    /// Takes the partner's records: each is checked as the server would check it, for the
    /// partner's role and this device's scope; one bad record is refused and the rest taken.
    /// Every record taken is audited, and what the partner says the server acknowledged of it
    /// is not uploaded again.
    pub fn take_from_partner(
        &mut self,
        partner: &PeerIdentity,
        creds: &PeerCredentials,
        docs: &[DocChanges],
        attested: &[(usize, Attestation)],
        their_held: &[Held],
    ) -> Result<PeerTaken> {
        let c = &partner.claims;
        // the attestations by the document they are for
        let mut words: HashMap<usize, Vec<&Attestation>> = HashMap::new();
        for (i, a) in attested {
            words.entry(*i).or_default().push(a);
        }
        let own = self.own_actors()?;
        let now_s = chrono::Utc::now().timestamp();
        // whose word counts: a patrol device of this pair's team, not revoked, not this one
        let accept = |who: &PeerIdentity| session::acceptable(&creds.own, who, creds).is_ok();
        let mut registry = self.author_registry()?;
        let actor = hex::decode(&c.actor)
            .map_err(|_| Error::Protocol("the partner's certificate names a bad actor".into()))?;
        registry.insert(
            automerge::ActorId::from(actor),
            Author {
                user: c.user.clone(),
                role: c.role,
            },
        );
        let partner_holder = Holder {
            role: c.role,
            division: &c.division,
            team: &c.team,
        };
        let mut taken = PeerTaken::default();
        let mut staged: Vec<Staged> = Vec::new();
        let mut seen = HashSet::new();
        let mut keep: Vec<(String, String, Attestation)> = Vec::new();
        for (index, d) in docs.iter().enumerate() {
            if !seen.insert(d.id.as_str()) {
                taken.refused.push(format!("{}: sent twice", d.id));
                continue;
            }
            // a record the server took off this device (it left the device's scope) comes
            // back only from the server, never from a partner that has not synced since
            if self.record_kind(&d.id)?.is_none() && self.was_purged(&d.id)? {
                taken.refused.push(format!(
                    "{}: it left this device's scope at the server; a partner's older copy is not taken",
                    d.id
                ));
                continue;
            }
            if d.kind == RecordKind::Health && self.session.role != Role::Idva {
                taken
                    .refused
                    .push(format!("{}: a health record goes only to an IDVA", d.id));
                continue;
            }
            let s = match self.stage_incoming(
                &d.id,
                d.kind,
                &d.changes,
                &registry,
                UnknownAuthors::Refused,
            )? {
                Staging::Staged(s) => s,
                Staging::Erased => {
                    taken
                        .refused
                        .push(format!("{}: erased at the server", d.id));
                    continue;
                }
                Staging::Rectified => {
                    taken.refused.push(format!(
                        "{}: from before it was corrected at the server",
                        d.id
                    ));
                    continue;
                }
                Staging::Invalid(why) => {
                    taken.refused.push(format!("{}: {why}", d.id));
                    continue;
                }
            };
            let mut s = s;
            // where the record now belongs: both devices must be allowed to hold it there
            let (division, team) = if d.kind == RecordKind::Health {
                let case_id = s.rec.health().map(|h| h.case_id).unwrap_or_default();
                self.conn
                    .query_row(
                        "SELECT coalesce(division, ''), coalesce(team, '') FROM records WHERE id = ?1",
                        [&case_id],
                        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                    )
                    .optional()?
                    .unwrap_or_default()
            } else {
                let summary = summarize(&mut s.rec)?;
                (
                    summary.division.unwrap_or_default(),
                    summary.team.unwrap_or_default(),
                )
            };
            let placement = Placement {
                kind: d.kind,
                division: &division,
                team: &team,
            };
            let me = Holder {
                role: self.session.role,
                division: &self.session.division,
                team: &self.session.team,
            };
            if !may_hold(&me, &placement) || !may_hold(&partner_holder, &placement) {
                taken
                    .refused
                    .push(format!("{}: outside what this pair may hold", d.id));
                continue;
            }
            // every change by another device comes with its author's signed word, checked as
            // the server checks it; none arrives under this device's own actors
            let kept = self.kept_attestations(&d.id)?;
            let doc = s.rec.doc_mut();
            let new = doc.get_changes(&s.before);
            if new.iter().any(|ch| own.contains(ch.actor_id())) {
                taken.refused.push(format!(
                    "{}: it holds a change under this device's own name that this device never made",
                    d.id
                ));
                continue;
            }
            let mut offered: Vec<&Attestation> = words.get(&index).cloned().unwrap_or_default();
            offered.extend(kept.iter());
            let covered =
                attestation::covered(doc, &d.id, &new, &offered, (&creds.ca_der, now_s), accept);
            if new.iter().any(|ch| !covered.contains(&ch.hash())) {
                taken.refused.push(format!(
                    "{}: it holds changes without their author's signed word; they come with the next sync with the server",
                    d.id
                ));
                continue;
            }
            // the words that covered something here, to pass on with the changes
            for a in words.get(&index).into_iter().flatten() {
                let Some(head) = doc.get_change_by_hash(&a.head) else {
                    continue;
                };
                let actor = head.actor_id().to_hex_string();
                let fresh = new.iter().any(|ch| ch.hash() == a.head);
                if fresh
                    && !attestation::covered(
                        doc,
                        &d.id,
                        &new,
                        &[*a],
                        (&creds.ca_der, now_s),
                        accept,
                    )
                    .is_empty()
                {
                    keep.push((d.id.clone(), actor, (*a).clone()));
                }
            }
            if s.changed || !s.existed {
                staged.push(*s);
            }
        }
        let tx = self.conn.unchecked_transaction()?;
        for Staged {
            rec,
            before,
            existed,
            ..
        } in &mut staged
        {
            persist(&tx, rec, before)?;
            let action = if *existed {
                Action::Alter
            } else {
                Action::Create
            };
            audit::append(
                &tx,
                &self.session.user,
                self.session.role.as_str(),
                action,
                &rec.id,
                &format!("received from partner device {} ({})", c.device_id, c.user),
            )?;
            taken.taken.push(rec.id.clone());
        }
        // the partner's actor is its user's, as the server certified: its changes read as
        // verified authorship here too, as they will once the server sends them
        tx.execute(
            "INSERT INTO authors (actor, user, role) VALUES (?1, ?2, ?3) ON CONFLICT(actor) DO NOTHING",
            params![c.actor.to_lowercase(), c.user, c.role.as_str()],
        )?;
        for (record, actor, a) in &keep {
            if !taken.taken.contains(record) && self.record_kind(record)?.is_none() {
                continue;
            }
            tx.execute(
                "INSERT INTO peer_attestations (record_id, actor, head, signed_at, cert, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (record_id, actor) DO UPDATE SET head = ?3, signed_at = ?4, cert = ?5, signature = ?6",
                params![record, actor, &a.head.0[..], a.signed_at, a.cert, a.signature],
            )?;
        }
        tx.commit()?;
        self.adopt_partner_acks(their_held)?;
        Ok(taken)
    }

    /// What the partner says the server acknowledged of a record counts as acknowledged here
    /// too, where this store holds it and it covers no change made on this device: changes
    /// the partner received from the server and passed on are not uploaded again, while this
    /// device's own changes count as delivered only on the server's word, so a partner's false
    /// claim can never keep them from the server. (A server lacking what was claimed asks for
    /// the history, and gets it whole.)
    fn adopt_partner_acks(&mut self, their_held: &[Held]) -> Result<()> {
        let own = self.own_actors()?;
        let mut updates = Vec::new();
        for t in their_held.iter().filter(|t| !t.acked.is_empty()) {
            let Some((kind, acked)): Option<(String, String)> = self
                .conn
                .query_row(
                    "SELECT kind, acked_heads FROM records WHERE id = ?1",
                    [&t.id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
            else {
                continue;
            };
            let acked = parse_heads(&acked);
            let Ok(kind) = RecordKind::parse(&kind) else {
                continue;
            };
            if sorted(&acked) == sorted(&t.acked) {
                continue;
            }
            let mut rec = self.load_record(&t.id, kind)?;
            let doc = rec.doc_mut();
            if !t.acked.iter().all(|h| doc.get_change_by_hash(h).is_some()) {
                continue;
            }
            let mut candidate = acked.clone();
            candidate.extend(t.acked.iter().copied());
            // the changes the claim would newly count as delivered
            let beyond: HashSet<ChangeHash> = doc
                .get_changes(&candidate)
                .iter()
                .map(|c| c.hash())
                .collect();
            let covers_own = doc
                .get_changes(&acked)
                .iter()
                .any(|c| !beyond.contains(&c.hash()) && own.contains(c.actor_id()));
            if covers_own {
                continue;
            }
            let settled = rec.settle_heads(candidate);
            if sorted(&settled) != sorted(&acked) {
                updates.push((t.id.clone(), heads_text(&settled)));
            }
        }
        let tx = self.conn.unchecked_transaction()?;
        for (id, acked) in updates {
            tx.execute(
                "UPDATE records SET acked_heads = ?2 WHERE id = ?1",
                params![id, acked],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records one finished session with the partner: the records sent (each a disclosure),
    /// what was taken and refused, and this device's heads after it.
    pub fn audit_peer_session(
        &mut self,
        partner: &PeerIdentity,
        sent: &[String],
        taken: &PeerTaken,
    ) -> Result<()> {
        let c = &partner.claims;
        let tx = self.conn.unchecked_transaction()?;
        for id in sent {
            audit::append(
                &tx,
                &self.session.user,
                self.session.role.as_str(),
                Action::Export,
                id,
                &format!("sent to partner device {} ({})", c.device_id, c.user),
            )?;
        }
        let heads: String = tx.query_row(
            "SELECT coalesce(group_concat(id || '@' || heads, ';'), '') FROM (SELECT id, heads FROM records ORDER BY id)",
            [],
            |r| r.get(0),
        )?;
        let digest = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(heads.as_bytes())[..8]);
        audit::append(
            &tx,
            &self.session.user,
            self.session.role.as_str(),
            Action::Sync,
            "",
            &format!(
                "peer session with partner device {} ({}, {}): {} record(s) sent, {} taken, {} refused; heads {digest}",
                c.device_id,
                c.user,
                c.role,
                sent.len(),
                taken.taken.len(),
                taken.refused.len()
            ),
        )?;
        tx.execute(
            "UPDATE peer_pairing SET last_sync_at = ?2 WHERE user = ?1",
            params![self.session.user, now_rfc3339()],
        )?;
        tx.commit()?;
        Ok(())
    }
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut h = heads.to_vec();
    h.sort();
    h.dedup();
    h
}
