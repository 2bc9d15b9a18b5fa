//! Export to and import from rescue bundles. Export is a disclosure and import a creation or
//! alteration; both are audited per record. An import applies every record or none.

use super::incoming::{Staged, Staging, UnknownAuthors};
use super::records::persist;
use super::Store;
use crate::audit::{self, Action};
use crate::bundle::{self, BundleRecord, Payload};
use crate::crypto::KdfParams;
use crate::error::{Error, Result};
use crate::model::{RecordKind, Role};
use crate::record::heads::parse_heads;
use crate::record::untrusted::DecodeBudget;

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub merged: usize,
    pub unchanged: usize,
    /// Records in the bundle that were erased at the server: refused (never brought back),
    /// the rest of the bundle imported, and the refusal recorded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused_erased: Vec<String>,
    /// Records whose copy in the bundle is from before they were rectified at the server: it
    /// would bring a struck value back, so it is refused, and the refusal recorded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused_rectified: Vec<String>,
}

impl Store {
    /// Seals one case or every record with unsynced changes into a bundle. Health records are
    /// left out unless `include_health` (an IDVA handing work to another IDVA): bundles usually
    /// go to the police safeguarding team. `deliver` writes the sealed bytes out; the export
    /// is audited only once it succeeded.
    pub fn export_bundle(
        &mut self,
        case: Option<&str>,
        include_health: bool,
        passphrase: &str,
        kdf: KdfParams,
        deliver: impl FnOnce(&[u8]) -> Result<()>,
    ) -> Result<usize> {
        self.require_case_access()?;
        if include_health && !self.session.role.sees_health() {
            return Err(Error::Forbidden {
                role: self.session.role.to_string(),
                action: "export health records".into(),
            });
        }
        let ids: Vec<(String, RecordKind, Vec<automerge::ChangeHash>)> = match case {
            Some(id) => {
                if self.record_kind(id)? != Some(RecordKind::Case) {
                    return Err(Error::NotFound(id.to_string()));
                }
                let mut v = vec![(id.to_string(), RecordKind::Case, vec![])];
                let hid = crate::model::health_id(id);
                if include_health && self.record_kind(&hid)?.is_some() {
                    v.push((hid, RecordKind::Health, vec![]));
                }
                v
            }
            None => {
                let mut stmt = self.conn.prepare("SELECT id, kind, acked_heads FROM records WHERE heads != acked_heads ORDER BY id")?;
                let rows = stmt.query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })?;
                let mut v = Vec::new();
                for row in rows {
                    let (id, kind, acked) = row?;
                    let kind = RecordKind::parse(&kind).map_err(Error::Internal)?;
                    if kind == RecordKind::Health && !include_health {
                        continue;
                    }
                    v.push((id, kind, parse_heads(&acked)));
                }
                v
            }
        };
        let mut records = Vec::with_capacity(ids.len());
        for (id, kind, acked) in &ids {
            let mut rec = self.load_record(id, *kind)?;
            let bytes = if acked.is_empty() {
                // uncompressed, as the import accepts it (see `record::untrusted`)
                rec.wire_snapshot()
            } else {
                rec.save_after(acked)
            };
            records.push(BundleRecord {
                id: id.clone(),
                kind: kind.to_string(),
                changes: hex::encode(bytes),
            });
        }
        let payload = Payload {
            format: 1,
            created_at: super::now_rfc3339(),
            device_id: self.device_id.clone(),
            user: self.session.user.clone(),
            role: self.session.role.to_string(),
            records,
        };
        let sealed = bundle::seal(&payload, passphrase, kdf)?;
        deliver(&sealed)?;
        let tx = self.conn.unchecked_transaction()?;
        for (id, _, _) in &ids {
            audit::append(
                &tx,
                &self.session.user,
                self.session.role.as_str(),
                Action::Export,
                id,
                "exported to a rescue bundle",
            )?;
        }
        tx.commit()?;
        Ok(sealed.len())
    }

    /// Opens a bundle and merges every record in it, all or nothing.
    pub fn import_bundle(&mut self, bytes: &[u8], passphrase: &str) -> Result<ImportReport> {
        self.require_case_access()?;
        let payload = bundle::open(bytes, passphrase)?;
        let registry = self.author_registry()?;
        let mut report = ImportReport::default();
        let mut staged = Vec::with_capacity(payload.records.len());
        let mut budget = DecodeBudget::message();
        for r in &payload.records {
            let kind = RecordKind::parse(&r.kind)
                .map_err(|_| Error::BadBundle("it holds a record of an unknown kind".into()))?;
            if kind == RecordKind::Health && self.session.role != Role::Idva {
                return Err(Error::Forbidden {
                    role: self.session.role.to_string(),
                    action: "import health records".into(),
                });
            }
            let changes = r.changes(&mut budget)?;
            match self.stage_incoming(&r.id, kind, &changes, &registry, UnknownAuthors::Taken)? {
                Staging::Erased => report.refused_erased.push(r.id.clone()),
                Staging::Rectified => report.refused_rectified.push(r.id.clone()),
                Staging::Invalid(why) if why.ends_with("does not have") => {
                    return Err(Error::BadBundle(format!(
                        "{why}; export the whole case instead"
                    )))
                }
                Staging::Invalid(why) => return Err(Error::BadBundle(why)),
                Staging::Staged(s) => {
                    match (s.existed, s.changed) {
                        (false, _) => report.created += 1,
                        (true, true) => report.merged += 1,
                        (true, false) => report.unchanged += 1,
                    }
                    staged.push(*s);
                }
            }
        }
        let tx = self.conn.unchecked_transaction()?;
        for Staged {
            rec,
            before,
            existed,
            changed,
        } in &mut staged
        {
            if !*changed && *existed {
                continue;
            }
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
                &format!(
                    "imported from a rescue bundle of device {}",
                    payload.device_id
                ),
            )?;
            audit::append(
                &tx,
                &self.session.user,
                self.session.role.as_str(),
                Action::Import,
                &rec.id,
                "received in a rescue bundle",
            )?;
        }
        for id in &report.refused_rectified {
            audit::append(
                &tx,
                &self.session.user,
                self.session.role.as_str(),
                Action::Import,
                id,
                "refused from a rescue bundle: its copy is from before the record was rectified",
            )?;
        }
        for id in &report.refused_erased {
            audit::append(
                &tx,
                &self.session.user,
                self.session.role.as_str(),
                Action::Import,
                id,
                "refused from a rescue bundle: the record was erased at the server",
            )?;
        }
        tx.commit()?;
        Ok(report)
    }
}
