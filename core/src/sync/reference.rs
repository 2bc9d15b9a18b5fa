//! Reference data over the air (design §6): the risk forms and the services directory an
//! administrator publishes reach devices after a sync, without a protocol change and without
//! an extra round trip when nothing is new.
//!
//! Every sync answer carries `Provide-Reference`, a tag naming the newest published version of
//! each item (`dara:1,dash:2,directory:3`). A device whose own tag is behind fetches
//! `GET /v1/reference?have=<its tag>` once and gets, as JSON, only what is newer
//! (`ReferenceUpdate`). A device offline during an update goes on with what it has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::directory::Directory;
use crate::forms::FormDef;

pub const REFERENCE_PATH: &str = "v1/reference";
pub const REFERENCE_HEADER: &str = "provide-reference";
/// The directory's entry in a tag.
pub const DIRECTORY_ITEM: &str = "directory";

/// What a device lacks, newest versions only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReferenceUpdate {
    /// Every published form version newer than the device has, oldest first.
    pub forms: Vec<FormDef>,
    pub directory: Option<Directory>,
}

/// A tag from (item, newest version) pairs: sorted, comma-separated `item:version`.
pub fn tag<'a>(versions: impl IntoIterator<Item = (&'a str, u64)>) -> String {
    let mut newest: BTreeMap<&str, u64> = BTreeMap::new();
    for (item, v) in versions {
        let e = newest.entry(item).or_insert(v);
        *e = (*e).max(v);
    }
    newest
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads a tag; malformed entries are skipped (a tag only ever asks for a fetch).
pub fn parse_tag(text: &str) -> BTreeMap<String, u64> {
    text.split(',')
        .filter_map(|p| {
            let (k, v) = p.trim().split_once(':')?;
            let k = k.trim();
            let valid = !k.is_empty()
                && k.len() <= 32
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            valid.then_some((k.to_string(), v.trim().parse().ok()?))
        })
        .take(64)
        .collect()
}

/// Whether the server's tag names anything newer than the device's.
pub fn behind(ours: &str, theirs: &str) -> bool {
    let ours = parse_tag(ours);
    parse_tag(theirs)
        .iter()
        .any(|(k, v)| ours.get(k).is_none_or(|o| o < v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_the_newest_of_each_and_compare() {
        let t = tag([("dash", 1), ("dara", 1), ("dash", 2), ("directory", 3)]);
        assert_eq!(t, "dara:1,dash:2,directory:3");
        assert!(!behind(&t, "dash:2,dara:1"));
        assert!(behind(&t, "dash:3"));
        assert!(behind("dash:2", "directory:1"));
        assert!(!behind(&t, "garbage,dash:x,:4,dash:1"));
        assert_eq!(parse_tag("a b:1,ok:2").len(), 1);
    }
}
