//! Rectification (DPA 2018 s.46): a wrongly recorded value struck from a record's history.
//!
//! An Automerge document cannot forget a value, so the record is re-rooted: the server builds
//! a new document from the record's current state with the struck value cleared, attributed
//! to the rectifier (`rerooted_case`), stores it as the record's next epoch, and
//! crypto-shreds the old history. A device replaces its copy with the new epoch; the edits it
//! made that the server never acknowledged are replayed onto it (`replay`), each as a new
//! change by its original author (the same actor, message and time): field writes and list
//! additions. A write of a struck value is dropped and reported. No value travels to say what
//! was struck: only its path and a digest of it (`Struck`).

use std::collections::HashSet;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ChangeHash, ObjId, ObjType, Prop, ReadDoc, ScalarValue, Value, ROOT};
use sha2::{Digest, Sha256};

use super::conflicts::{item_id, scalar_json};
use super::edit::{put_path, values_at};
use super::history::render_path;
use super::{Author, RecordDoc};
use crate::error::{Error, Result};
use crate::model::{fields, RecordKind};

/// A struck value: where it was, and the SHA-256 of its JSON form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Struck {
    pub path: String,
    pub digest: [u8; 32],
}

/// The digest a struck value is named by.
pub fn value_digest(v: &ScalarValue) -> [u8; 32] {
    Sha256::digest(scalar_json(v).to_string().as_bytes()).into()
}

/// The case `old` re-rooted: a new document of its current state with every value `path`
/// holds (several, when concurrent writes conflict) cleared, committed once as `author` with
/// `actor`; and what was struck. Only a field that may be left empty can be struck (text,
/// dates, counts); a choice is set to its right value instead.
pub fn rerooted_case(
    old: &RecordDoc,
    path: &str,
    actor: &automerge::ActorId,
    author: &Author,
) -> Result<(RecordDoc, Vec<Struck>)> {
    if old.kind != RecordKind::Case {
        return Err(Error::InvalidInput(
            "only a case's fields can be rectified".into(),
        ));
    }
    let (field_path, spec) = fields::resolve(path)?;
    let blank = fields::parse_value(path, spec.kind, "").map_err(|_| {
        Error::InvalidInput(format!(
            "`{path}` cannot be left empty; set it to the right value instead"
        ))
    })?;
    let struck: Vec<Struck> = values_at(old.doc(), &field_path)?
        .iter()
        .filter(|v| **v != blank)
        .map(|v| Struck {
            path: path.to_string(),
            digest: value_digest(v),
        })
        .collect();
    if struck.is_empty() {
        return Err(Error::InvalidInput(format!(
            "`{path}` holds no value to strike"
        )));
    }
    let case = old.case()?;
    let new = RecordDoc::create_with(&case.id, RecordKind::Case, &case, actor, author, |doc| {
        put_path(doc, &field_path, path, blank)
    })?;
    Ok((new, struck))
}

/// What `replay` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Replayed {
    /// Changes replayed onto the new epoch.
    pub changes: usize,
    /// Paths whose writes were dropped because they wrote a struck value.
    pub dropped: Vec<String>,
    /// Operations that are neither field writes nor list additions (deletions), not replayed.
    pub skipped: usize,
    /// Changes by other devices' users (brought by a bundle): theirs to send, not replayed.
    pub not_own: usize,
}

/// Replays `old`'s changes after `acked` made by `own` actors (this device's users; the rest
/// came in a bundle and are their authors' to send) onto `new`, each as a new change with its
/// original actor, message and time. Writes of a struck value are dropped. `new`'s actor is
/// left as it was.
pub fn replay(
    old: &mut RecordDoc,
    acked: &[ChangeHash],
    new: &mut RecordDoc,
    struck: &[Struck],
    own: &HashSet<automerge::ActorId>,
) -> Result<Replayed> {
    let mut out = Replayed::default();
    let own_actor = new.doc().get_actor().clone();
    let changes = old.doc_mut().get_changes(acked);
    for change in changes {
        if !own.contains(change.actor_id()) {
            out.not_own += 1;
            continue;
        }
        let after = vec![change.hash()];
        let patches = old.doc_mut().diff(change.deps(), &after);
        new.doc_mut().set_actor(change.actor_id().clone());
        // items this change added: copied whole, so the writes into them are not replayed
        let mut added: HashSet<ObjId> = HashSet::new();
        for patch in patches {
            let inside_added =
                added.contains(&patch.obj) || patch.path.iter().any(|(o, _)| added.contains(o));
            match &patch.action {
                automerge::PatchAction::PutMap {
                    key,
                    value: (Value::Scalar(v), _),
                    ..
                } if !inside_added => {
                    let path = join(&render_path(old.doc(), &patch.path, &after), key);
                    let digest = value_digest(v);
                    if struck.iter().any(|s| s.path == path && s.digest == digest) {
                        out.dropped.push(path);
                        continue;
                    }
                    let Some(target) = counterpart(old.doc(), new.doc_mut(), &patch.path, &after)?
                    else {
                        out.skipped += 1;
                        continue;
                    };
                    new.doc_mut()
                        .put(&target, key.as_str(), v.clone().into_owned())?;
                }
                automerge::PatchAction::PutMap {
                    value: (Value::Object(_), _),
                    ..
                } => {
                    // a new map is made where the writes into it need it (`counterpart`)
                }
                automerge::PatchAction::Insert { values, .. } if !inside_added => {
                    let Some(list) = counterpart(old.doc(), new.doc_mut(), &patch.path, &after)?
                    else {
                        out.skipped += 1;
                        continue;
                    };
                    for (value, obj, _) in values.iter() {
                        let at = new.doc().length(&list);
                        match value {
                            Value::Object(t) => {
                                let copy = new.doc_mut().insert_object(&list, at, *t)?;
                                copy_object(old.doc(), obj, &after, new.doc_mut(), &copy)?;
                                added.insert(obj.clone());
                            }
                            Value::Scalar(s) => {
                                new.doc_mut().insert(&list, at, s.clone().into_owned())?;
                            }
                        }
                    }
                }
                _ if inside_added => {}
                _ => out.skipped += 1,
            }
        }
        let mut opts = CommitOptions::default().with_time(change.timestamp());
        if let Some(m) = change.message() {
            opts = opts.with_message(m.to_string());
        }
        if new.doc_mut().commit_with(opts).is_some() {
            out.changes += 1;
        }
    }
    new.doc_mut().set_actor(own_actor);
    Ok(out)
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

/// The id a list item carries, read at `heads`.
fn item_id_at(doc: &automerge::AutoCommit, item: &ObjId, heads: &[ChangeHash]) -> Option<String> {
    match doc.get_at(item, "id", heads) {
        Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_string),
        _ => None,
    }
}

/// The object of `new` that stands where `path` leads in `old` (at `heads`): maps by key
/// (made when missing), list items by their ids. `None` when an item is not there.
fn counterpart(
    old: &automerge::AutoCommit,
    new: &mut automerge::AutoCommit,
    path: &[(ObjId, Prop)],
    heads: &[ChangeHash],
) -> Result<Option<ObjId>> {
    let mut here = ROOT;
    for (obj, prop) in path {
        here = match prop {
            Prop::Map(k) => match new.get(&here, k.as_str())? {
                Some((Value::Object(_), id)) => id,
                _ => {
                    let t = match old.get_at(obj, k.as_str(), heads)? {
                        Some((Value::Object(t), _)) => t,
                        _ => return Ok(None),
                    };
                    new.put_object(&here, k.as_str(), t)?
                }
            },
            Prop::Seq(i) => {
                let Some(id) = (match old.get_at(obj, *i, heads)? {
                    Some((Value::Object(ObjType::Map), item)) => item_id_at(old, &item, heads),
                    _ => None,
                }) else {
                    return Ok(None);
                };
                let found = (0..new.length(&here)).find_map(|n| match new.get(&here, n) {
                    Ok(Some((Value::Object(ObjType::Map), item)))
                        if item_id(new, &item).as_deref() == Some(id.as_str()) =>
                    {
                        Some(item)
                    }
                    _ => None,
                });
                match found {
                    Some(item) => item,
                    None => return Ok(None),
                }
            }
        };
    }
    Ok(Some(here))
}

/// Copies the object `from` of `old` (at `heads`) into the empty object `to` of `new`.
fn copy_object(
    old: &automerge::AutoCommit,
    from: &ObjId,
    heads: &[ChangeHash],
    new: &mut automerge::AutoCommit,
    to: &ObjId,
) -> Result<()> {
    match old
        .object_type(from)
        .map_err(|e| Error::Internal(e.to_string()))?
    {
        ObjType::Map | ObjType::Table => {
            for key in old.keys_at(from, heads).collect::<Vec<_>>() {
                match old.get_at(from, key.as_str(), heads)? {
                    Some((Value::Scalar(s), _)) => {
                        new.put(to, key.as_str(), s.into_owned())?;
                    }
                    Some((Value::Object(t), child)) => {
                        let c = new.put_object(to, key.as_str(), t)?;
                        copy_object(old, &child, heads, new, &c)?;
                    }
                    None => {}
                }
            }
        }
        ObjType::List | ObjType::Text => {
            for i in 0..old.length_at(from, heads) {
                match old.get_at(from, i, heads)? {
                    Some((Value::Scalar(s), _)) => {
                        new.insert(to, i, s.into_owned())?;
                    }
                    Some((Value::Object(t), child)) => {
                        let c = new.insert_object(to, i, t)?;
                        copy_object(old, &child, heads, new, &c)?;
                    }
                    None => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Case, Deployment, Role};
    use crate::record::edit::set_field;
    use automerge::ActorId;

    const WRONG: &str = "1 Wrongly Recorded Street";

    fn case_doc(actor: &ActorId, officer: &Author) -> RecordDoc {
        let case = Case::new(
            "11111111-2222-4333-8444-555555555555".into(),
            Deployment::PostIncident,
            "pc.ann.fictional",
            "2026-11-30T10:00:00Z",
        );
        let mut rec = RecordDoc::new_case(&case, actor, officer).unwrap();
        set_field(
            &mut rec,
            "victim.address",
            "2 Earlier Street",
            Role::Officer,
        )
        .unwrap();
        set_field(&mut rec, "victim.name", "Rhea Fictional", Role::Officer).unwrap();
        rec.commit(officer);
        rec
    }

    #[test]
    fn a_struck_value_goes_and_unacknowledged_edits_are_replayed_by_their_authors() {
        let officer_actor = ActorId::random();
        let officer = Author::new("pc.ann.fictional", Role::Officer);
        let mut device = case_doc(&officer_actor, &officer);
        let acked = device.heads();
        let id = device.id.clone();
        let bytes = device.save();
        // the server's copy: another officer wrote the wrong address over it since
        let mut server_copy = RecordDoc::load(
            &id,
            RecordKind::Case,
            &[bytes],
            &ActorId::random(),
            &Author::new("pc.bo.fictional", Role::Officer),
        )
        .unwrap();
        set_field(&mut server_copy, "victim.address", WRONG, Role::Officer).unwrap();
        server_copy.commit(&Author::new("pc.bo.fictional", Role::Officer));
        // offline, after what the server holds: a phone number, a note, and the wrong address
        // typed again
        set_field(&mut device, "victim.phone", "07700 900123", Role::Officer).unwrap();
        device.commit(&officer);
        crate::record::edit::append(
            &mut device,
            "notes",
            &crate::model::case::Note {
                id: "n-1".into(),
                at: "2026-11-30T11:00:00Z".into(),
                author: "pc.ann.fictional".into(),
                role: Some(Role::Officer),
                text: "replayed note".into(),
            },
        )
        .unwrap();
        device.commit(&officer);
        set_field(&mut device, "victim.address", WRONG, Role::Officer).unwrap();
        set_field(
            &mut device,
            "victim.name",
            "Rhea Fictional-Jones",
            Role::Officer,
        )
        .unwrap();
        device.commit(&officer);

        let rectifier = Author::new("sg.sam.fictional", Role::Safeguarding);
        let (mut new, struck) = rerooted_case(
            &server_copy,
            "victim.address",
            &ActorId::random(),
            &rectifier,
        )
        .unwrap();
        assert_eq!(struck.len(), 1);
        assert_eq!(new.doc_mut().get_changes(&[]).len(), 1, "one root change");
        assert_eq!(new.case().unwrap().victim.address, "");
        assert_eq!(new.case().unwrap().victim.name, "Rhea Fictional");
        let saved = new.save();
        assert!(!saved.windows(WRONG.len()).any(|w| w == WRONG.as_bytes()));

        let server_actor = new.doc().get_actor().clone();
        let own = HashSet::from([officer_actor.clone()]);
        let done = replay(&mut device, &acked, &mut new, &struck, &own).unwrap();
        assert_eq!(done.changes, 3, "{done:?}");
        assert_eq!(done.dropped, vec!["victim.address".to_string()]);
        let case = new.case().unwrap();
        assert_eq!(case.victim.phone, "07700 900123");
        assert_eq!(case.victim.name, "Rhea Fictional-Jones");
        assert_eq!(case.victim.address, "");
        assert_eq!(case.notes.len(), 1);
        assert_eq!(case.notes[0].text, "replayed note");
        assert_eq!(new.doc().get_actor(), &server_actor);
        // each replayed change is the officer's, with the officer's actor and message
        let changes = new.doc_mut().get_changes(&[]);
        assert_eq!(changes.len(), 4);
        for c in &changes[1..] {
            assert_eq!(c.actor_id(), &officer_actor);
            assert!(c.message().unwrap().contains("pc.ann.fictional"));
        }
        let saved = new.save();
        assert!(!saved.windows(WRONG.len()).any(|w| w == WRONG.as_bytes()));
    }

    #[test]
    fn only_a_field_that_may_be_empty_and_holds_a_value_is_struck() {
        let officer = Author::new("pc.ann.fictional", Role::Officer);
        let rec = case_doc(&ActorId::random(), &officer);
        let r = Author::new("sg.sam.fictional", Role::Safeguarding);
        assert!(rerooted_case(&rec, "victim.phone", &ActorId::random(), &r).is_err());
        assert!(rerooted_case(&rec, "victim.address", &ActorId::random(), &r).is_ok());
        assert!(rerooted_case(&rec, "no.such.path", &ActorId::random(), &r).is_err());
        assert!(rerooted_case(&rec, "status", &ActorId::random(), &r).is_err());
    }
}
