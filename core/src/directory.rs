//! The offline directory of support services (design §6): reference data shipped with the app
//! (`core/data/directory`), versioned, and searchable without signal.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
pub struct Directory {
    #[ts(type = "number")]
    pub version: u64,
    pub area: String,
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
}
