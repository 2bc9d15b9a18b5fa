//! The device side of sync state: which documents have changes the server has not
//! acknowledged, applying a server response (updates, acknowledgements, purges, cursor), all
//! in the store's transactions. The HTTP client drives these; nothing here touches the network.
//!
//! Acknowledged heads advance only when the server reports a document `Accepted`, and then to
//! the heads the device held when it built the upload, so edits made while a request was in
//! flight stay pending. Changes received from the server count as acknowledged too.

use std::collections::{HashMap, HashSet};

use automerge::ChangeHash;
use rusqlite::{params, OptionalExtension};

use super::records::persist;
use super::Store;
use crate::audit::{self, Action};
use crate::error::{Error, Result};
use crate::model::RecordKind;
use crate::record::heads::{heads_text, parse_heads, tips};
use crate::record::RecordDoc;
use crate::sync::protocol::{DocChanges, DocOutcome, SyncResponse};
use crate::sync::scope::{may_hold, Holder, Placement};

/// One document's upload, with the local heads it was built from.
#[derive(Debug, Clone)]
pub struct Upload {
    pub doc: DocChanges,
    pub local_heads: Vec<ChangeHash>,
}

/// What applying a response did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    pub acknowledged: usize,
    pub need_history: usize,
    pub refused: Vec<String>,
    pub received: usize,
    pub purged: usize,
    /// Records the server sent that this device could not use, set aside with the reason
    /// (`id: reason`); the rest of the answer was applied.
    pub quarantined: Vec<String>,
    /// Records erased at the server and purged here, each with the changes to it this
    /// device had not sent (lost on purpose, and recorded).
    pub erased: Vec<(String, usize)>,
    /// Records rectified at the server and replaced here by their new epoch, with what was
    /// replayed onto it (`record::rectify`).
    pub rectified: Vec<(String, crate::record::rectify::Replayed)>,
}

/// A record replaced by its new epoch: the new document with this device's unacknowledged
/// edits replayed, the server's heads, the epoch, and what the replay did.
struct Rebased {
    rec: RecordDoc,
    server_heads: Vec<ChangeHash>,
    epoch: u32,
    replayed: crate::record::rectify::Replayed,
}

/// A record from the server this device cannot use, and why (names no content).
struct SetAside {
    id: String,
    kind: RecordKind,
    reason: String,
    /// Kept to be read by a newer app; None where the device may not hold it at all.
    bytes: Option<Vec<u8>>,
}

const CURSOR_KEY: &str = "sync_cursor";
/// The division's grace period for handed-over and closed cases, as the server last said.
const RETENTION_KEY: &str = "retention_grace_hours";

impl Store {
    fn acked_heads(&self, id: &str) -> Result<Vec<ChangeHash>> {
        let acked: Option<String> = self
            .conn
            .query_row("SELECT acked_heads FROM records WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(acked.map(|a| parse_heads(&a)).unwrap_or_default())
    }

    /// The server cursor this device last fully received.
    /// The division's retention policy as the server last told it (`None` before a server
    /// speaking protocol 6 has answered).
    pub fn retention(&self) -> Result<Option<crate::sync::scope::Retention>> {
        Ok(super::health_key::meta(&self.conn, RETENTION_KEY)?
            .and_then(|v| v.parse().ok())
            .map(|grace_hours| crate::sync::scope::Retention { grace_hours }))
    }

    pub fn sync_cursor(&self) -> Result<u64> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [CURSOR_KEY], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// How many records hold changes the server has not acknowledged.
    pub fn unsynced_count(&self) -> Result<usize> {
        if self.erased {
            return Ok(0);
        }
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM records WHERE heads != acked_heads",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// How many records from the server this device has set aside as unusable.
    pub fn set_aside_count(&self) -> Result<usize> {
        if self.erased {
            return Ok(0);
        }
        let n: i64 = self
            .conn
            .query_row("SELECT count(DISTINCT id) FROM quarantine", [], |r| {
                r.get(0)
            })?;
        Ok(n as usize)
    }

    /// The records holding changes the server has not acknowledged.
    pub fn unsynced_ids(&self) -> Result<Vec<String>> {
        if self.erased {
            return Ok(vec![]);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM records WHERE heads != acked_heads")?;
        let ids = stmt.query_map([], |r| r.get(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    /// Uploads for records with unacknowledged changes, up to about `max_bytes` of changes
    /// (always at least one record). Returns them and whether more remain.
    pub fn pending_uploads(&mut self, max_bytes: usize) -> Result<(Vec<Upload>, bool)> {
        self.pending_uploads_except(max_bytes, &HashSet::new())
    }

    /// As `pending_uploads`, leaving out the records in `skip` (refused earlier in this sync).
    /// Cases and shifts go before health records, so the server knows a health record's case.
    pub fn pending_uploads_except(
        &mut self,
        max_bytes: usize,
        skip: &HashSet<String>,
    ) -> Result<(Vec<Upload>, bool)> {
        let rows: Vec<(String, String, String)> = {
            let mut stmt = self.conn.prepare("SELECT id, kind, acked_heads FROM records WHERE heads != acked_heads ORDER BY kind = 'health', updated_at, id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.filter(|r| r.as_ref().map(|r| !skip.contains(&r.0)).unwrap_or(true))
                .collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        let mut size = 0usize;
        for (i, (id, kind, acked)) in rows.iter().enumerate() {
            if !out.is_empty() && size >= max_bytes {
                return Ok((out, i < rows.len()));
            }
            let kind = RecordKind::parse(kind).map_err(Error::Internal)?;
            let mut rec = self.load_record(id, kind)?;
            let base = parse_heads(acked);
            let changes = if base.is_empty() {
                rec.wire_snapshot()
            } else {
                rec.save_after(&base)
            };
            size += changes.len();
            out.push(Upload {
                local_heads: rec.heads(),
                doc: DocChanges {
                    id: id.clone(),
                    kind,
                    base,
                    changes,
                },
            });
        }
        Ok((out, false))
    }

    /// Merges one record the server sent into this device's copy, without writing anything;
    /// a record this device cannot use is an error saying why (and whether its bytes may be
    /// kept), so the rest of the answer still applies.
    #[allow(clippy::type_complexity)]
    fn merge_update(
        &mut self,
        u: &DocChanges,
    ) -> std::result::Result<(RecordDoc, Vec<ChangeHash>, bool, Vec<ChangeHash>), (String, bool)>
    {
        if u.kind == RecordKind::Health && !self.session.role.sees_health() {
            return Err(("a health record sent to a police device".into(), false));
        }
        if !crate::model::id_fits(u.kind, &u.id) {
            return Err((format!("its id does not fit a {} record", u.kind), false));
        }
        let existing = self
            .record_kind(&u.id)
            .map_err(|_| ("the local copy could not be read".to_string(), true))?;
        let mut rec = match existing {
            Some(k) if k == u.kind => self
                .load_record(&u.id, k)
                .map_err(|_| ("the local copy could not be read".to_string(), true))?,
            Some(_) => return Err(("it arrived as another kind of record".into(), true)),
            None => RecordDoc::load(&u.id, u.kind, &[], &self.actor, &self.session.author())
                .map_err(|_| ("it could not be started".to_string(), true))?,
        };
        let before = if existing.is_some() {
            rec.heads()
        } else {
            vec![]
        };
        let known: HashSet<ChangeHash> = rec
            .doc_mut()
            .get_changes(&[])
            .iter()
            .map(|c| c.hash())
            .collect();
        rec.merge_bytes(&u.changes)
            .map_err(|_| ("it arrived damaged".to_string(), true))?;
        if crate::record::migrate::stored_schema(rec.doc())
            > crate::record::migrate::current_schema(u.kind)
        {
            return Err((
                "it was written by a newer version of Provide; update the app".into(),
                true,
            ));
        }
        let valid = rec.validated_id();
        if valid.ok().as_deref() != Some(u.id.as_str()) {
            return Err((format!("it is not a valid {} record", u.kind), true));
        }
        if u.kind != RecordKind::Health {
            let summary = super::records::summarize(&mut rec)
                .map_err(|_| (format!("it is not a valid {} record", u.kind), true))?;
            let holder = Holder {
                role: self.session.role,
                division: &self.session.division,
                team: &self.session.team,
            };
            let placement = Placement {
                kind: u.kind,
                division: summary.division.as_deref().unwrap_or(""),
                team: summary.team.as_deref().unwrap_or(""),
            };
            if !may_hold(&holder, &placement) {
                return Err(("it is outside this device's scope".into(), false));
            }
        }
        // the heads of what arrived: new changes no other new change depends on
        let new: Vec<automerge::Change> = rec
            .doc_mut()
            .get_changes(&[])
            .into_iter()
            .filter(|c| !known.contains(&c.hash()))
            .collect();
        let arrived = tips(&new);
        Ok((rec, before, existing.is_some(), arrived))
    }

    /// A server answers with a cursor below the one sent only when it was restored from a
    /// backup (`provide_sync_server::service::sync`): it may lack anything this device sent
    /// since, so every record is to be sent again whole, and the audit log from what the
    /// server holds. Nothing local is lost; doing it twice costs only bytes.
    fn start_over(&mut self, server_audit_head: u64) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute("UPDATE records SET acked_heads = ''", [])?;
        super::link::rewind_audit_acked(&tx, server_audit_head)?;
        tx.commit()?;
        Ok(())
    }

    /// Stores the closed cases a fetch on request brought (`sync::fetch`), as a sync answer's
    /// updates, each audited as consulted. Returns their ids.
    pub fn apply_fetched(&mut self, resp: &SyncResponse) -> Result<Vec<String>> {
        // only its updates: the device's cursor stays where it is now (a sync may have moved
        // it while the fetch travelled), and the answer's cursor is never taken
        let updates_only = SyncResponse {
            updates: resp.updates.clone(),
            authors: resp.authors.clone(),
            rectified: resp.rectified.clone(),
            cursor: self.sync_cursor()?,
            ..Default::default()
        };
        let applied = self.apply_sync_response(&[], &updates_only)?;
        let set_aside: Vec<&str> = applied
            .quarantined
            .iter()
            .filter_map(|q| q.split(':').next())
            .collect();
        let mut fetched = Vec::new();
        for u in &resp.updates {
            if set_aside.contains(&u.id.as_str()) {
                continue;
            }
            self.audit(
                Action::View,
                &u.id,
                "closed case fetched from the server on request",
            )?;
            fetched.push(u.id.clone());
        }
        Ok(fetched)
    }

    /// Applies the server's answer to `sent`: merges updates, advances acknowledged heads,
    /// purges documents that left scope and stores the new cursor, in one transaction (after
    /// `start_over`, in its own, when the answer's cursor is below the device's).
    pub fn apply_sync_response(&mut self, sent: &[Upload], resp: &SyncResponse) -> Result<Applied> {
        let mut applied = Applied::default();
        if resp.cursor < self.sync_cursor()? {
            // the server was restored from a backup and lacks some of what it acknowledged
            self.start_over(resp.audit_acked)?;
        }
        // merge updates first, so acknowledged heads can include what the server sent
        let mut merged: Vec<(RecordDoc, Vec<ChangeHash>, bool, Vec<ChangeHash>)> = Vec::new();
        let mut set_aside: Vec<SetAside> = Vec::new();
        let mut rebased: Vec<Rebased> = Vec::new();
        for u in &resp.updates {
            // a record rectified at the server arrives whole as its new epoch: it replaces the
            // copy here, with this device's unacknowledged edits replayed onto it
            if let Some(r) = resp.rectified.iter().find(|r| r.id == u.id) {
                if r.epoch > self.record_epoch(&u.id)? {
                    match self.rebase_update(u, r) {
                        Ok(Some(b)) => {
                            rebased.push(b);
                            continue;
                        }
                        Ok(None) => {}
                        Err(reason) => {
                            set_aside.push(SetAside {
                                id: u.id.clone(),
                                kind: u.kind,
                                reason,
                                bytes: Some(u.changes.clone()),
                            });
                            continue;
                        }
                    }
                }
            }
            match self.merge_update(u) {
                Ok(m) => merged.push(m),
                Err((reason, keep)) => set_aside.push(SetAside {
                    id: u.id.clone(),
                    kind: u.kind,
                    reason,
                    bytes: keep.then(|| u.changes.clone()),
                }),
            }
        }
        // the new acknowledged heads of every document this response touches, settled
        // against the document before anything is written
        let mut acked_now: HashMap<String, Vec<ChangeHash>> = HashMap::new();
        for (rec, _, _, arrived) in &mut merged {
            let mut candidate = self.acked_heads(&rec.id)?;
            candidate.extend(arrived.iter().copied());
            acked_now.insert(rec.id.clone(), rec.settle_heads(candidate));
        }
        for ack in &resp.acks {
            let Some(up) = sent.get(ack.doc) else {
                return Err(Error::Protocol(
                    "the answer acknowledges a record that was not sent".into(),
                ));
            };
            let id = &up.doc.id;
            if rebased.iter().any(|b| b.rec.id == *id) {
                // replaced by its new epoch: what was sent belonged to the old one
                if let DocOutcome::Refused(why) = &ack.outcome {
                    applied.refused.push(format!("{id}: {why:?}"));
                }
                continue;
            }
            match &ack.outcome {
                DocOutcome::Accepted => {
                    let previous = match acked_now.remove(id) {
                        Some(h) => h,
                        None => self.acked_heads(id)?,
                    };
                    let mut candidate = up.local_heads.clone();
                    candidate.extend(previous.into_iter().filter(|h| !up.doc.base.contains(h)));
                    // settled against the document as it is after this response's updates:
                    // heads the server sent back are known there, not in the stored copy
                    let settled = match merged.iter_mut().find(|m| m.0.id == *id) {
                        Some((rec, ..)) => rec.settle_heads(candidate),
                        None => self.load_record(id, up.doc.kind)?.settle_heads(candidate),
                    };
                    acked_now.insert(id.clone(), settled);
                    applied.acknowledged += 1;
                }
                DocOutcome::NeedHistory => {
                    acked_now.insert(id.clone(), vec![]);
                    applied.need_history += 1;
                }
                DocOutcome::Refused(why) => applied.refused.push(format!("{id}: {why:?}")),
            }
        }
        let mut unsent_of_erased = Vec::new();
        for id in &resp.erased {
            unsent_of_erased.push((id.clone(), self.unsent_changes(id)?));
        }
        let tx = self.conn.unchecked_transaction()?;
        let (user, role) = (self.session.user.clone(), self.session.role.as_str());
        for (rec, before, existed, _) in &mut merged {
            persist(&tx, rec, before)?;
            if let Some(r) = resp.rectified.iter().find(|r| r.id == rec.id) {
                // a rectified record this device did not hold arrives at its epoch
                tx.execute(
                    "UPDATE records SET epoch = max(epoch, ?2) WHERE id = ?1",
                    params![rec.id, r.epoch],
                )?;
            }
            let what = if *existed {
                "changes received from the server"
            } else {
                "record received from the server"
            };
            audit::append(&tx, &user, role, Action::Sync, &rec.id, what)?;
            applied.received += 1;
        }
        for (id, heads) in &acked_now {
            tx.execute(
                "UPDATE records SET acked_heads = ?2 WHERE id = ?1",
                params![id, heads_text(heads)],
            )?;
        }
        for b in &mut rebased {
            // the old epoch's history goes whole (its pages are reclaimed below)
            tx.execute("DELETE FROM chunks WHERE record_id = ?1", [&b.rec.id])?;
            persist(&tx, &mut b.rec, &[])?;
            tx.execute(
                "UPDATE records SET acked_heads = ?2, epoch = ?3 WHERE id = ?1",
                params![b.rec.id, heads_text(&b.server_heads), b.epoch],
            )?;
            let r = &b.replayed;
            audit::append(
                &tx,
                &user,
                role,
                Action::Sync,
                &b.rec.id,
                &format!(
                    "rectified at the server (epoch {}): {} change(s) made here replayed onto it, \
                     {} write(s) of a struck value dropped",
                    b.epoch,
                    r.changes,
                    r.dropped.len()
                ),
            )?;
            applied.rectified.push((b.rec.id.clone(), r.clone()));
        }
        // one entry per exchange for what reached the server: the server's own log names each
        // record it received from this device, so one line per record here would only cost bytes
        let sent_now = resp
            .acks
            .iter()
            .filter(|a| matches!(a.outcome, DocOutcome::Accepted))
            .count();
        if sent_now > 0 {
            audit::append(
                &tx,
                &user,
                role,
                Action::Sync,
                "*",
                &format!("changes to {sent_now} record(s) sent to the server"),
            )?;
        }
        for a in &resp.authors {
            tx.execute(
                "INSERT INTO authors (actor, user, role) VALUES (?1, ?2, ?3) ON CONFLICT(actor) DO UPDATE SET user = excluded.user, role = excluded.role",
                params![hex::encode(&a.actor), a.user, a.role.as_str()],
            )?;
        }
        for a in &set_aside {
            tx.execute(
                "INSERT INTO quarantine (id, kind, reason, bytes, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    a.id,
                    a.kind.as_str(),
                    a.reason,
                    a.bytes,
                    super::now_rfc3339()
                ],
            )?;
            audit::append(
                &tx,
                &user,
                role,
                Action::Sync,
                &a.id,
                &format!("set aside, not used: {}", a.reason),
            )?;
            applied.quarantined.push(format!("{}: {}", a.id, a.reason));
        }
        for id in &resp.purge {
            // a record holding edits the server has not acknowledged is kept, never lost
            if super::purge::purge_record(&tx, id, &user, role, "left this device's scope")? {
                applied.purged += 1;
            }
        }
        // an erased record goes whatever it holds: the server refuses its edits, and this
        // device says so in the log and the sync's report
        for (id, unsent) in &unsent_of_erased {
            super::purge::erase_record(&tx, id, *unsent, &user, role)?;
            applied.erased.push((id.clone(), *unsent));
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![CURSOR_KEY, resp.cursor.to_string()],
        )?;
        if let Some(r) = resp.retention {
            super::health_key::set_meta(&tx, RETENTION_KEY, &r.grace_hours.to_string())?;
        }
        tx.commit()?;
        if !resp.purge.is_empty() || !resp.erased.is_empty() || !rebased.is_empty() {
            super::purge::reclaim(&self.conn)?;
        }
        Ok(applied)
    }

    /// The epoch of record `id` here (0: never rectified, or not held).
    pub fn record_epoch(&self, id: &str) -> Result<u32> {
        let e: Option<i64> = self
            .conn
            .query_row("SELECT epoch FROM records WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(e.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32)
    }

    /// The actors this device's users write with.
    pub(crate) fn own_actors(&self) -> Result<HashSet<automerge::ActorId>> {
        let mut own = HashSet::from([self.actor.clone()]);
        let mut stmt = self
            .conn
            .prepare("SELECT actor FROM users WHERE actor IS NOT NULL")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for a in rows {
            if let Ok(bytes) = hex::decode(a?) {
                own.insert(automerge::ActorId::from(bytes));
            }
        }
        Ok(own)
    }

    /// The epochs of records not at 0, by their place in `ids` (what a request names).
    pub fn epochs_of(&self, ids: &[&str]) -> Result<Vec<(usize, u32)>> {
        let mut out = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let e = self.record_epoch(id)?;
            if e > 0 {
                out.push((i, e));
            }
        }
        Ok(out)
    }

    /// The new epoch of a rectified record, with this device's unacknowledged edits replayed
    /// onto it. `Ok(None)` when the device does not hold the record (it is taken as new);
    /// `Err` with the reason when the new epoch cannot be used.
    fn rebase_update(
        &mut self,
        u: &DocChanges,
        r: &crate::sync::protocol::Rectified,
    ) -> std::result::Result<Option<Rebased>, String> {
        let Some(kind) = self
            .record_kind(&u.id)
            .map_err(|_| "the local copy could not be read".to_string())?
        else {
            return Ok(None);
        };
        if kind != u.kind {
            return Err("it arrived as another kind of record".into());
        }
        let acked = self
            .acked_heads(&u.id)
            .map_err(|_| "the local copy could not be read".to_string())?;
        let mut old = self
            .load_record(&u.id, kind)
            .map_err(|_| "the local copy could not be read".to_string())?;
        let mut new = RecordDoc::load_unmigrated(&u.id, kind, std::slice::from_ref(&u.changes))
            .map_err(|_| "it arrived damaged".to_string())?;
        if new.validated_id().ok().as_deref() != Some(u.id.as_str()) {
            return Err(format!("it is not a valid {kind} record"));
        }
        let server_heads = new.heads();
        new.doc_mut().set_actor(self.actor.clone());
        let own = self
            .own_actors()
            .map_err(|_| "the local copy could not be read".to_string())?;
        let replayed = crate::record::rectify::replay(&mut old, &acked, &mut new, &r.struck, &own)
            .map_err(|_| "the edits made here could not be replayed onto it".to_string())?;
        Ok(Some(Rebased {
            rec: new,
            server_heads,
            epoch: r.epoch,
            replayed,
        }))
    }

    /// How many changes to record `id` this device made that the server never acknowledged.
    fn unsent_changes(&mut self, id: &str) -> Result<usize> {
        let kind: Option<String> = self
            .conn
            .query_row(
                "SELECT kind FROM records WHERE id = ?1 AND heads != acked_heads",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(kind) = kind.and_then(|k| RecordKind::parse(&k).ok()) else {
            return Ok(0);
        };
        let acked = self.acked_heads(id)?;
        // a record this user cannot open (a health record without its key) still counts
        let Ok(mut rec) = self.load_record(id, kind) else {
            return Ok(1);
        };
        Ok(rec.doc_mut().get_changes(&acked).len())
    }

    /// Erased records whose purge the server has not heard of yet (at most 500).
    pub fn erased_to_confirm(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM erased_records WHERE confirmed = 0 ORDER BY id LIMIT 500")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// The server has heard these purges confirmed (an answer to the request that carried
    /// them arrived).
    pub fn erased_confirmed(&mut self, ids: &[String]) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for id in ids {
            tx.execute(
                "UPDATE erased_records SET confirmed = 1 WHERE id = ?1",
                [id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Whether record `id` was erased at the server (it never comes back here).
    pub fn was_erased_at_server(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM erased_records WHERE id = ?1")?
            .exists([id])?)
    }
}
