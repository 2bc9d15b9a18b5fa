//! Reading and writing record documents in the database, and the listing columns derived from
//! them. A write appends the new changes as one chunk and rewrites the record's row in the same
//! transaction, so the columns can never disagree with the document.

use automerge::ChangeHash;
use rusqlite::{params, Connection, OptionalExtension};

use super::{now_rfc3339, Store};
use crate::error::{Error, Result};
use crate::model::{Audience, RecordKind, RiskLevel};
use crate::record::heads::{heads_text, parse_heads};
use crate::record::{conflicts, RecordDoc};

/// Chunks kept before a record is compacted into one snapshot.
const COMPACT_AFTER: i64 = 64;

/// The indexed columns of one record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub status: Option<String>,
    pub risk_level: Option<RiskLevel>,
    pub deployment: Option<String>,
    pub victim_name: Option<String>,
    pub incident_reference: Option<String>,
    pub division: Option<String>,
    pub team: Option<String>,
    pub search_text: Option<String>,
    pub conflict_count: usize,
    pub case_id: Option<String>,
    /// A case's `list_row` (JSON of `rows::ListRow`).
    pub list_row: Option<String>,
}

/// Computes the listing columns from a document.
pub fn summarize(rec: &mut RecordDoc) -> Result<Summary> {
    let conflicted = conflicts::paths(rec.doc());
    let conflict_count = conflicted.len();
    Ok(match rec.kind {
        RecordKind::Case => {
            let c = rec.case()?;
            let risk = crate::store::cases::risk_of(&c).map(|r| r.evaluation.level);
            let search = [
                c.victim.name.as_str(),
                &c.incident.reference,
                &c.perpetrator.name,
                &c.victim.address,
                &c.victim.phone,
            ]
            .join("\u{1f}")
            .to_lowercase();
            Summary {
                status: Some(c.status.to_string()),
                risk_level: risk,
                deployment: Some(c.deployment.to_string()),
                victim_name: Some(c.victim.name.clone()),
                incident_reference: Some(c.incident.reference.clone()),
                division: Some(c.division.clone()),
                team: Some(c.team.clone()),
                search_text: Some(search),
                conflict_count,
                case_id: Some(c.id.clone()),
                list_row: Some(
                    serde_json::to_string(&super::rows::list_row(&c, &conflicted))
                        .map_err(|e| Error::Internal(e.to_string()))?,
                ),
            }
        }
        RecordKind::Health => {
            let h = rec.health()?;
            Summary {
                conflict_count,
                case_id: Some(h.case_id),
                ..Default::default()
            }
        }
        RecordKind::Shift => {
            let s = rec.shift()?;
            Summary {
                conflict_count,
                division: Some(s.division),
                team: Some(s.team),
                ..Default::default()
            }
        }
    })
}

/// Since when a case stands where it does, on this device's clock: kept while its status is
/// unchanged, `now` when it changed (by an edit here or a sync) or the case is new here.
/// Only cases have one.
fn status_since(
    kind: RecordKind,
    summary: &Summary,
    previous: Option<&(Option<String>, Option<String>)>,
    now: &str,
) -> Option<String> {
    if kind != RecordKind::Case {
        return None;
    }
    match previous {
        Some((status, Some(since))) if *status == summary.status => Some(since.clone()),
        _ => Some(now.to_string()),
    }
}

pub(crate) fn audience_of(kind: RecordKind) -> Audience {
    match kind {
        RecordKind::Health => Audience::Health,
        _ => Audience::Shared,
    }
}

/// Writes the changes made since `before` (all of it for a new record) and the record's row.
/// Call inside a transaction.
pub(crate) fn persist(conn: &Connection, rec: &mut RecordDoc, before: &[ChangeHash]) -> Result<()> {
    let heads = rec.heads();
    if heads == before {
        return Ok(());
    }
    let summary = summarize(rec)?;
    let previous: Option<(Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT status, status_since FROM records WHERE id = ?1",
            [&rec.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let now = now_rfc3339();
    let status_since = status_since(rec.kind, &summary, previous.as_ref(), &now);
    let risk_rank = summary.risk_level.map(|l| l as i64 + 1).unwrap_or(0);
    if previous.is_some() {
        conn.execute(
            "UPDATE records SET heads=?2, updated_at=?3, status=?4, risk_level=?5, risk_rank=?6, deployment=?7, victim_name=?8,
             incident_reference=?9, division=?10, team=?11, search_text=?12, conflict_count=?13, case_id=?14,
             status_since=?15, list_row=?16 WHERE id=?1",
            params![rec.id, heads_text(&heads), now, summary.status, summary.risk_level.map(|l| l.as_str()), risk_rank,
                summary.deployment, summary.victim_name, summary.incident_reference, summary.division, summary.team,
                summary.search_text, summary.conflict_count as i64, summary.case_id, status_since, summary.list_row],
        )?;
    } else {
        conn.execute(
            "INSERT INTO records (id, kind, audience, heads, updated_at, status, risk_level, risk_rank, deployment, victim_name,
             incident_reference, division, team, search_text, conflict_count, case_id, status_since, list_row)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)",
            params![rec.id, rec.kind.as_str(), audience_of(rec.kind).as_str(), heads_text(&heads), now, summary.status,
                summary.risk_level.map(|l| l.as_str()), risk_rank, summary.deployment, summary.victim_name,
                summary.incident_reference, summary.division, summary.team, summary.search_text,
                summary.conflict_count as i64, summary.case_id, status_since, summary.list_row],
        )?;
    }
    let (count, max): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(max(seq), 0) FROM chunks WHERE record_id = ?1",
        [&rec.id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    // a health record's chunks are sealed under the health key (`health_key`)
    let (kind, id) = (rec.kind, rec.id.clone());
    let stored = |bytes: Vec<u8>| match kind {
        RecordKind::Health => super::health_key::seal_chunk(conn, &id, &bytes),
        _ => Ok(bytes),
    };
    if count + 1 > COMPACT_AFTER {
        conn.execute("DELETE FROM chunks WHERE record_id = ?1", [&rec.id])?;
        let snapshot = stored(rec.save())?;
        conn.execute(
            "INSERT INTO chunks (record_id, seq, bytes) VALUES (?1, 1, ?2)",
            params![rec.id, snapshot],
        )?;
    } else {
        let bytes = stored(if before.is_empty() {
            rec.save()
        } else {
            rec.save_after(before)
        })?;
        conn.execute(
            "INSERT INTO chunks (record_id, seq, bytes) VALUES (?1, ?2, ?3)",
            params![rec.id, max + 1, bytes],
        )?;
    }
    Ok(())
}

impl Store {
    /// The kind of a stored record, if present.
    pub(crate) fn record_kind(&self, id: &str) -> Result<Option<RecordKind>> {
        let kind: Option<String> = self
            .conn
            .query_row("SELECT kind FROM records WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        kind.map(|k| RecordKind::parse(&k).map_err(Error::Internal))
            .transpose()
    }

    /// Gives each case row stored before `list_row` existed (migration 5) its row, from the
    /// document. A case that cannot be read keeps none (its list row shows nothing known).
    pub(crate) fn fill_list_rows(&mut self) -> Result<()> {
        let ids: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id FROM records WHERE kind = 'case' AND list_row IS NULL")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for id in ids {
            let Ok(mut rec) = self.load_record(&id, RecordKind::Case) else {
                continue;
            };
            if let Ok(Summary {
                list_row: Some(row),
                ..
            }) = summarize(&mut rec)
            {
                self.conn.execute(
                    "UPDATE records SET list_row = ?2 WHERE id = ?1",
                    params![id, row],
                )?;
            }
        }
        Ok(())
    }

    /// Loads a record's document, migrating it forward (and saving the migration) if needed.
    /// Who the server registered each actor to, as this device has learned.
    pub(crate) fn author_registry(&self) -> Result<crate::record::author::Registry> {
        let mut known = std::collections::HashMap::new();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT actor, user, role FROM authors")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (actor, user, role) = row?;
            let (Ok(bytes), Ok(role)) = (hex::decode(&actor), crate::model::Role::parse(&role))
            else {
                continue;
            };
            known.insert(
                automerge::ActorId::from(bytes),
                crate::record::Author { user, role },
            );
        }
        Ok(known)
    }

    pub(crate) fn load_record(&mut self, id: &str, kind: RecordKind) -> Result<RecordDoc> {
        match self.record_kind(id)? {
            Some(k) if k == kind => {}
            _ => return Err(Error::NotFound(id.to_string())),
        }
        let mut chunks: Vec<Vec<u8>> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT bytes FROM chunks WHERE record_id = ?1 ORDER BY seq")?;
            let rows = stmt.query_map([id], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        if kind == RecordKind::Health {
            chunks = chunks
                .into_iter()
                .map(|c| super::health_key::open_chunk(self.health_key.as_ref(), id, c))
                .collect::<Result<_>>()?;
        }
        let author = self.session.author();
        let mut rec = RecordDoc::load(id, kind, &chunks, &self.actor, &author)?;
        let stored: String =
            self.conn
                .query_row("SELECT heads FROM records WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
        if heads_text(&rec.heads()) != stored {
            // a forward migration was committed on load: keep it
            let before = parse_heads(&stored);
            let tx = self.conn.unchecked_transaction()?;
            persist(&tx, &mut rec, &before)?;
            tx.commit()?;
        }
        Ok(rec)
    }

    /// Runs `f` on a record inside one transaction: the document's new changes, its row and the
    /// audit entry commit together, or nothing does.
    pub(crate) fn edit_record<T>(
        &mut self,
        id: &str,
        kind: RecordKind,
        detail: impl FnOnce(&T) -> String,
        f: impl FnOnce(&mut RecordDoc, &crate::store::Session) -> Result<T>,
    ) -> Result<T> {
        let mut rec = self.load_record(id, kind)?;
        let before = rec.heads();
        let session = self.session.clone();
        let out = match f(&mut rec, &session) {
            Ok(out) => out,
            Err(e) => {
                rec.rollback();
                return Err(e);
            }
        };
        // validate before anything is committed: the document must still hydrate
        let valid = rec.validated_id();
        if let Err(e) = valid {
            rec.rollback();
            return Err(e);
        }
        rec.commit(&session.author());
        let tx = self.conn.unchecked_transaction()?;
        persist(&tx, &mut rec, &before)?;
        crate::audit::append(
            &tx,
            &session.user,
            session.role.as_str(),
            crate::audit::Action::Alter,
            id,
            &detail(&out),
        )?;
        tx.commit()?;
        Ok(out)
    }

    /// Stores a newly created record with its audit entry.
    pub(crate) fn insert_record(&mut self, rec: &mut RecordDoc, detail: &str) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        persist(&tx, rec, &[])?;
        crate::audit::append(
            &tx,
            &self.session.user,
            self.session.role.as_str(),
            crate::audit::Action::Create,
            &rec.id,
            detail,
        )?;
        tx.commit()?;
        Ok(())
    }
}
