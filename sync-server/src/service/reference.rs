//! Reference data an administrator publishes (issue 14, design §6): risk form versions and
//! the services directory. Each is checked by provide-core's own publish rules (the devices
//! check them again on arrival), stored once and never changed, audited, and delivered to
//! devices after their next sync: every sync answer carries the tag of what is published
//! (`sync::reference`), and a device that is behind fetches what it lacks from
//! `GET /v1/reference`.

use std::time::{Duration, Instant};

use provide_core::directory::Directory;
use provide_core::forms::{self, FormDef};
use provide_core::record::edit::describe_json_error;
use provide_core::sync::reference::{self, ReferenceUpdate, DIRECTORY_ITEM};

use super::Service;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, PublishedItem};

const FORM: &str = "form";
const DIRECTORY: &str = "directory";
/// How long a process reuses the tag it computed: another process over the same PostgreSQL
/// database may publish, and devices learn of it within this.
const TAG_FRESH_FOR: Duration = Duration::from_secs(15);
/// The largest definition accepted (the shipped DASH is 9 KiB).
pub const MAX_DEFINITION_BYTES: usize = 1024 * 1024;

fn parse<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T> {
    if json.len() > MAX_DEFINITION_BYTES {
        return Err(ServerError::InvalidInput(format!(
            "the {what} is larger than {} KiB",
            MAX_DEFINITION_BYTES / 1024
        )));
    }
    serde_json::from_str(json).map_err(|e| {
        ServerError::InvalidInput(format!(
            "the {what} is not valid: {}",
            describe_json_error(&e)
        ))
    })
}

impl Service {
    fn published_forms(&self) -> Result<Vec<FormDef>> {
        self.storage
            .published_reference()?
            .iter()
            .filter(|i| i.kind == FORM)
            .map(|i| parse(&i.body, "stored form definition"))
            .collect()
    }

    fn published_directories(&self) -> Result<Vec<Directory>> {
        self.storage
            .published_reference()?
            .iter()
            .filter(|i| i.kind == DIRECTORY)
            .map(|i| parse(&i.body, "stored directory"))
            .collect()
    }

    /// The directory in use: the newest published, or the one shipped.
    pub fn directory(&self) -> Result<Directory> {
        Ok(self
            .published_directories()?
            .into_iter()
            .max_by_key(|d| d.version)
            .filter(|d| d.version > Directory::shipped().version)
            .unwrap_or_else(|| Directory::shipped().clone()))
    }

    /// Checks and publishes a form version (JSON). Nothing is stored when it is refused.
    pub fn publish_form(&self, json: &str) -> Result<FormDef> {
        let def: FormDef = parse(json, "form definition")?;
        forms::validate(&def, &self.published_forms()?)?;
        let questions = def.question_ids().count();
        self.storage.publish_reference(
            &PublishedItem {
                kind: FORM.into(),
                id: def.id.clone(),
                version: def.version as i64,
                body: serde_json::to_string(&def)
                    .map_err(|e| ServerError::Internal(e.to_string()))?,
                published_at: now(),
            },
            &AuditEvent {
                device: String::new(),
                user: "admin".into(),
                action: "publish_reference".into(),
                record: format!("form:{}:{}", def.id, def.version),
                detail: format!(
                    "form {} version {} published ({questions} questions)",
                    def.id, def.version
                ),
            },
        )?;
        forms::register(&def);
        self.forget_tag();
        Ok(def)
    }

    /// Checks and publishes a directory (JSON). Nothing is stored when it is refused.
    pub fn publish_directory(&self, json: &str) -> Result<Directory> {
        let mut dir: Directory = parse(json, "directory")?;
        dir.validate(self.directory()?.version)?;
        dir.published_at = Some(now());
        self.storage.publish_reference(
            &PublishedItem {
                kind: DIRECTORY.into(),
                id: DIRECTORY_ITEM.into(),
                version: dir.version as i64,
                body: serde_json::to_string(&dir)
                    .map_err(|e| ServerError::Internal(e.to_string()))?,
                published_at: dir.published_at.clone().unwrap_or_default(),
            },
            &AuditEvent {
                device: String::new(),
                user: "admin".into(),
                action: "publish_reference".into(),
                record: format!("directory:{}", dir.version),
                detail: format!(
                    "directory version {} published ({} services)",
                    dir.version,
                    dir.services.len()
                ),
            },
        )?;
        self.forget_tag();
        Ok(dir)
    }

    /// Makes the published form versions known to scoring (reports score stored assessments
    /// by the version they name). Run when the service opens.
    pub fn register_published_forms(&self) -> Result<()> {
        for def in self.published_forms()? {
            forms::register(&def);
        }
        Ok(())
    }

    /// The tag of what is published, for every sync answer.
    pub fn reference_tag(&self) -> Result<String> {
        let mut cache = self.reference_tag.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, tag)) = cache.as_ref() {
            if at.elapsed() < TAG_FRESH_FOR {
                return Ok(tag.clone());
            }
        }
        let published = self.published_forms()?;
        let tag = reference::tag(
            forms::shipped()
                .iter()
                .chain(published.iter())
                .map(|f| (f.id.as_str(), f.version))
                .chain([(DIRECTORY_ITEM, self.directory()?.version)]),
        );
        *cache = Some((Instant::now(), tag.clone()));
        Ok(tag)
    }

    fn forget_tag(&self) {
        *self.reference_tag.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// What a device holding `have` (its tag) lacks: newer form versions, the newer directory.
    pub fn reference_update(&self, have: &str) -> Result<ReferenceUpdate> {
        let have = reference::parse_tag(have);
        let newer = |id: &str, v: u64| have.get(id).is_none_or(|h| *h < v);
        let mut forms: Vec<FormDef> = self
            .published_forms()?
            .into_iter()
            .filter(|f| newer(&f.id, f.version))
            .collect();
        forms.sort_by_key(|f| (f.id.clone(), f.version));
        let dir = self.directory()?;
        let directory =
            (dir.published_at.is_some() && newer(DIRECTORY_ITEM, dir.version)).then_some(dir);
        Ok(ReferenceUpdate { forms, directory })
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
