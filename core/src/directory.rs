//! The offline directory of support services (design §6): reference data shipped with the app
//! (`core/data/directory`) or published by the administrator and received on sync, versioned,
//! and searchable without signal. `validate` is the publish check, run again on arrival.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct Directory {
    #[ts(type = "number")]
    pub version: u64,
    pub area: String,
    /// When the administrator published it (none for the shipped one).
    #[serde(default)]
    pub published_at: Option<String>,
    pub services: Vec<Service>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub area: String,
    pub phone: Option<String>,
    pub hours: String,
    pub serves: String,
    pub kinds: Vec<String>,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub notes: String,
}

impl Directory {
    /// The directory shipped with this build.
    pub fn shipped() -> &'static Directory {
        static DIR: OnceLock<Directory> = OnceLock::new();
        DIR.get_or_init(|| {
            serde_json::from_str(include_str!("../data/directory/lancashire-v1.json"))
                .expect("the shipped directory is valid (tested)")
        })
    }

    /// The publish check: a whole directory, newer than `newest` (the version in use), every
    /// service with a unique id, a name, at least one kind and a diallable number if any. The
    /// error names the field.
    pub fn validate(&self, newest: u64) -> crate::error::Result<()> {
        use crate::error::Error;
        if self.version <= newest {
            return Err(Error::invalid(
                "version",
                format!("must be above {newest}, the version in use"),
            ));
        }
        if self.area.trim().is_empty() {
            return Err(Error::invalid("area", "is empty"));
        }
        if self.services.is_empty() {
            return Err(Error::invalid("services", "is empty"));
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let at = |f: &str| format!("services[{i}].{f}");
            if s.id.trim().is_empty() || !ids.insert(s.id.as_str()) {
                return Err(Error::invalid(&at("id"), "is empty or used twice"));
            }
            if s.name.trim().is_empty() {
                return Err(Error::invalid(&at("name"), "is empty"));
            }
            if s.kinds.is_empty() {
                return Err(Error::invalid(&at("kinds"), "is empty"));
            }
            if let Some(p) = &s.phone {
                let digits = p.chars().filter(|c| c.is_ascii_digit()).count();
                if !(3..=15).contains(&digits)
                    || !p.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c))
                {
                    return Err(Error::invalid(
                        &at("phone"),
                        "is not a number that can be dialled",
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn find(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    /// Services whose name, area, kinds or who they serve contain `text` (case-insensitive).
    pub fn search<'a>(&'a self, text: &str) -> impl Iterator<Item = &'a Service> + 'a {
        let t = text.to_lowercase();
        self.services.iter().filter(move |s| {
            t.is_empty()
                || s.name.to_lowercase().contains(&t)
                || s.area.to_lowercase().contains(&t)
                || s.serves.to_lowercase().contains(&t)
                || s.kinds.iter().any(|k| k.contains(&t))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_directory_loads_with_unique_ids() {
        let d = Directory::shipped();
        let mut ids: Vec<_> = d.services.iter().map(|s| &s.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(n, ids.len());
        assert!(n >= 10);
        assert!(d.search("refuge").count() >= 1);
    }

    /// Notes are shown to users as written: nothing in them may be a note to ourselves (a seed
    /// document, wording still to confirm, work to do). Those go in `core/data/README.md`.
    #[test]
    fn notes_are_for_users() {
        const INTERNAL: [&str; 7] = [
            "seed",
            "confirm the wording",
            "with the force",
            "todo",
            "fixme",
            "placeholder",
            "before showing",
        ];
        for s in &Directory::shipped().services {
            for text in [&s.notes, &s.hours, &s.serves] {
                let lower = text.to_lowercase();
                for word in INTERNAL {
                    assert!(
                        !lower.contains(word),
                        "{}: {word:?} in text shown to users: {text}",
                        s.id
                    );
                }
            }
        }
    }
}
