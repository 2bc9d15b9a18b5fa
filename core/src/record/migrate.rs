//! Forward migration of documents written by older builds.
//!
//! Every document carries a `schema` number. On load, each step from the document's version up
//! to this build's runs as ordinary targeted operations and is committed by the loading user, so
//! a migration is attributable and merges like any other edit: two devices migrating the same
//! document write the same values and converge. A document from a newer build is refused
//! rather than misread.

use automerge::{transaction::Transactable, ObjType, ReadDoc, ScalarValue, Value, ROOT};

use super::{Author, RecordDoc};
use crate::error::{Error, Result};
use crate::model::{RecordKind, CASE_SCHEMA, HEALTH_SCHEMA, SHIFT_SCHEMA};

pub fn current_schema(kind: RecordKind) -> u64 {
    match kind {
        RecordKind::Case => CASE_SCHEMA,
        RecordKind::Health => HEALTH_SCHEMA,
        RecordKind::Shift => SHIFT_SCHEMA,
    }
}

/// The schema number stored in a document (0 when absent).
pub fn stored_schema(doc: &automerge::AutoCommit) -> u64 {
    match doc.get(ROOT, "schema") {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Uint(n) => *n,
            ScalarValue::Int(n) => (*n).max(0) as u64,
            _ => 0,
        },
        _ => 0,
    }
}

pub fn forward(rec: &mut RecordDoc, author: &Author) -> Result<()> {
    let target = current_schema(rec.kind);
    let mut version = stored_schema(rec.doc());
    if version > target {
        return Err(Error::InvalidInput(format!(
            "record {} was written by a newer version of Provide; update the app to open it",
            rec.id
        )));
    }
    if version == target || rec.doc_mut().get_heads().is_empty() {
        return Ok(());
    }
    while version < target {
        match (rec.kind, version) {
            (RecordKind::Case, 1) => case_v1_to_v2(rec)?,
            (RecordKind::Case, 2) => case_v2_to_v3(rec)?,
            _ => {
                return Err(Error::CorruptRecord(rec.id.clone()));
            }
        }
        version += 1;
    }
    rec.doc_mut().put(ROOT, "schema", target)?;
    rec.commit(author);
    Ok(())
}

/// Schema 1 kept `victim.safe_to_call` and `victim.safe_times` flat on the victim and had no
/// repeat-victim outcome. Schema 2 groups the safe-contact rules (call, text, voicemail, times)
/// and adds `outcome.repeat_victim`.
fn case_v1_to_v2(rec: &mut RecordDoc) -> Result<()> {
    let doc = rec.doc_mut();
    let victim = match doc.get(ROOT, "victim")? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => doc.put_object(ROOT, "victim", ObjType::Map)?,
    };
    if doc.get(&victim, "safe_contact")?.is_none() {
        let call = match doc.get(&victim, "safe_to_call")? {
            Some((Value::Scalar(s), _)) => s.into_owned(),
            _ => ScalarValue::Null,
        };
        let times = match doc.get(&victim, "safe_times")? {
            Some((Value::Scalar(s), _)) => s.into_owned(),
            _ => ScalarValue::Str("".into()),
        };
        let sc = doc.put_object(&victim, "safe_contact", ObjType::Map)?;
        doc.put(&sc, "call_ok", call)?;
        doc.put(&sc, "text_ok", ScalarValue::Null)?;
        doc.put(&sc, "voicemail_ok", ScalarValue::Null)?;
        doc.put(&sc, "safe_times", times)?;
        doc.put(&sc, "notes", "")?;
    }
    for old in ["safe_to_call", "safe_times"] {
        if doc.get(&victim, old)?.is_some() {
            doc.delete(&victim, old)?;
        }
    }
    let outcome = match doc.get(ROOT, "outcome")? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => doc.put_object(ROOT, "outcome", ObjType::Map)?,
    };
    if doc.get(&outcome, "repeat_victim")?.is_none() {
        doc.put(&outcome, "repeat_victim", "unknown")?;
    }
    Ok(())
}

/// Schema 3 adds the safeguarding unit's parts: the triage (why, how urgent, when), the review
/// of a handover, and the list of long-term safeguarding actions.
fn case_v2_to_v3(rec: &mut RecordDoc) -> Result<()> {
    let doc = rec.doc_mut();
    if doc.get(ROOT, "triage")?.is_none() {
        let t = doc.put_object(ROOT, "triage", ObjType::Map)?;
        for key in ["reason", "priority", "visit_date", "shift", "triaged_at"] {
            doc.put(&t, key, ScalarValue::Null)?;
        }
        doc.put(&t, "notes", "")?;
        doc.put(&t, "triaged_by", "")?;
    }
    if doc.get(ROOT, "review")?.is_none() {
        let r = doc.put_object(ROOT, "review", ObjType::Map)?;
        doc.put(&r, "reviewed_at", ScalarValue::Null)?;
        doc.put(&r, "reviewed_by", "")?;
    }
    if doc.get(ROOT, "safeguarding_actions")?.is_none() {
        doc.put_object(ROOT, "safeguarding_actions", ObjType::List)?;
    }
    Ok(())
}
