//! What a case-list row and a today's-visit row show beyond the indexed columns: the victim's
//! contact rules (never the phone number), the area (a town, never an address), the unit's
//! triage, and when the last visit was. Computed from the document whenever it is written
//! (`records::persist`, column `records.list_row`), so a list never opens documents.

use serde::{Deserialize, Serialize};

use crate::model::{Case, TriageReason};

/// The contact rules a list row shows: the same rules as the case's `SafeContact`, without
/// its notes, and which of the contact fields hold two values (conflicts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default)]
pub struct ContactRow {
    pub call_ok: Option<bool>,
    pub text_ok: Option<bool>,
    pub voicemail_ok: Option<bool>,
    /// As written (free text).
    pub safe_times: String,
    /// The paths of the contact fields in conflict (`victim.safe_contact.*`, `victim.phone`):
    /// the row must show neither value of those.
    pub conflicts: Vec<String>,
}

/// The stored `records.list_row` of a case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListRow {
    pub contact: ContactRow,
    pub area: String,
    pub triage_reason: Option<TriageReason>,
    pub triage_priority: Option<u64>,
    /// The latest visit's time (RFC 3339), if any.
    pub last_visit_at: Option<String>,
}

/// Whether a conflicted path is one a contact decision rests on.
pub fn is_contact_path(path: &str) -> bool {
    path == "victim.phone" || path.starts_with("victim.safe_contact.")
}

/// The row of a case, given the paths of its conflicted fields.
pub fn list_row(case: &Case, conflicts: &[String]) -> ListRow {
    let sc = &case.victim.safe_contact;
    ListRow {
        contact: ContactRow {
            call_ok: sc.call_ok,
            text_ok: sc.text_ok,
            voicemail_ok: sc.voicemail_ok,
            safe_times: sc.safe_times.clone(),
            conflicts: conflicts
                .iter()
                .filter(|p| is_contact_path(p))
                .cloned()
                .collect(),
        },
        area: [
            case.victim.address.as_str(),
            case.incident.location.as_str(),
        ]
        .into_iter()
        .find_map(area_of)
        .unwrap_or_else(|| case.division.clone()),
        triage_reason: case.triage.reason,
        triage_priority: case.triage.priority,
        last_visit_at: case.visits.iter().map(|v| v.at.clone()).max(),
    }
}

/// The town of an address or a place ("9 Transient Walk, Fictionton FT7 3GR" → "Fictionton"):
/// its last comma-separated part without a postcode, when that part holds no digit and is not
/// the street line of a longer address. `None` when no such part is found: a list row never
/// shows a house number or a street line.
pub fn area_of(place: &str) -> Option<String> {
    let parts: Vec<&str> = place
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let towns = if parts.len() > 1 {
        &parts[1..]
    } else {
        &parts[..]
    };
    towns.iter().rev().find_map(|p| {
        let town = strip_postcode(p);
        (!town.is_empty() && !town.chars().any(|c| c.is_ascii_digit())).then_some(town)
    })
}

/// Drops a trailing UK postcode ("Fictionton FT7 3GR" → "Fictionton"; "FT7 3GR" → "").
fn strip_postcode(part: &str) -> String {
    let words: Vec<&str> = part.split_whitespace().collect();
    let is_outward = |w: &str| {
        let w = w.as_bytes();
        (2..=4).contains(&w.len())
            && w[0].is_ascii_alphabetic()
            && w.iter().all(|c| c.is_ascii_alphanumeric())
            && w.iter().any(|c| c.is_ascii_digit())
    };
    let is_inward = |w: &str| {
        let w = w.as_bytes();
        w.len() == 3
            && w[0].is_ascii_digit()
            && w[1].is_ascii_alphabetic()
            && w[2].is_ascii_alphabetic()
    };
    let mut keep = words.len();
    if keep >= 2 && is_outward(words[keep - 2]) && is_inward(words[keep - 1]) {
        keep -= 2;
    } else if keep >= 1 && is_outward(words[keep - 1]) {
        keep -= 1;
    }
    words[..keep].join(" ")
}

/// Whether the visit at `at` (RFC 3339) was made on `today` (the device's local day).
pub fn visited_on(at: Option<&str>, today: chrono::NaiveDate) -> bool {
    at.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t.with_timezone(&chrono::Local).date_naive() == today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Deployment, Visit, VisitOutcome};

    #[test]
    fn area_is_a_town_never_a_street_line() {
        assert_eq!(
            area_of("9 Transient Walk, Fictionton FT7 3GR").as_deref(),
            Some("Fictionton")
        );
        assert_eq!(
            area_of("3 Forgetme Close, Fictionton, FT4 2PX").as_deref(),
            Some("Fictionton")
        );
        assert_eq!(area_of("Preston").as_deref(), Some("Preston"));
        assert_eq!(area_of("12 Example Street"), None);
        assert_eq!(area_of("Flat 2, 4 Elm Road"), None);
        assert_eq!(area_of(""), None);
        assert_eq!(area_of("FT7 3GR"), None);
    }

    #[test]
    fn row_of_a_case() {
        let mut c = Case::new(
            "c1".into(),
            Deployment::PostIncident,
            "u",
            "2026-11-20T10:00:00Z",
        );
        c.division = "West".into();
        c.victim.address = "1 Example Street".into();
        c.victim.safe_contact.call_ok = Some(false);
        c.victim.safe_contact.safe_times = "after 6pm".into();
        c.triage.priority = Some(2);
        c.triage.reason = Some(TriageReason::HealthNeed);
        for at in ["2026-11-20T10:00:00Z", "2026-11-22T09:00:00Z"] {
            c.visits.push(Visit {
                id: at.into(),
                at: at.into(),
                outcome: VisitOutcome::Engaged,
                notes: String::new(),
                by: String::new(),
            });
        }
        let paths = vec![
            "status".to_string(),
            "victim.phone".into(),
            "victim.name".into(),
        ];
        let row = list_row(&c, &paths);
        assert_eq!(row.contact.call_ok, Some(false));
        assert_eq!(row.contact.text_ok, None);
        assert_eq!(row.contact.safe_times, "after 6pm");
        assert_eq!(row.contact.conflicts, vec!["victim.phone".to_string()]);
        // the street line is not an area: the division stands in
        assert_eq!(row.area, "West");
        assert_eq!(row.triage_priority, Some(2));
        assert_eq!(row.triage_reason, Some(TriageReason::HealthNeed));
        assert_eq!(row.last_visit_at.as_deref(), Some("2026-11-22T09:00:00Z"));
        c.incident.location = "Market Square, Fictionton".into();
        assert_eq!(list_row(&c, &[]).area, "Fictionton");
    }

    #[test]
    fn visited_today_on_the_local_day() {
        let now = chrono::Local::now();
        let today = now.date_naive();
        assert!(visited_on(Some(&now.to_rfc3339()), today));
        let earlier = (now - chrono::Duration::days(2)).to_rfc3339();
        assert!(!visited_on(Some(&earlier), today));
        assert!(!visited_on(None, today));
        assert!(!visited_on(Some("not a time"), today));
    }
}

#[cfg(test)]
mod store_tests {
    //! The rows as the store lists them: filled on write, on a conflict, and after an upgrade.
    use automerge::{transaction::Transactable, ReadDoc, ROOT};

    use crate::crypto::KdfParams;
    use crate::model::{Deployment, RecordKind, Role};
    use crate::store::{InitOptions, NewUser, Store};

    const PASS: &str = "correct horse battery";

    fn sets(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rows_carry_contact_area_triage_and_todays_visit() {
        let dir = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            kdf: KdfParams::FLOOR,
            ..Default::default()
        };
        let user = NewUser {
            name: "idva.fictional".into(),
            role: Role::Idva,
            division: "West".into(),
            team: "t1".into(),
        };
        let mut store = Store::init(dir.path(), user, PASS, opts).unwrap();
        let id = store
            .create_case(
                Deployment::PostIncident,
                &sets(&[
                    ("victim.address", "9 Transient Walk, Fictionton FT7 3GR"),
                    ("victim.phone", "07700 900613"),
                    ("victim.safe_contact.call_ok", "no"),
                    ("victim.safe_contact.text_ok", "yes"),
                    ("victim.safe_contact.safe_times", "weekdays 9-5"),
                ]),
            )
            .unwrap();
        let row = store.list_cases(&Default::default()).unwrap().remove(0);
        assert_eq!(row.contact.call_ok, Some(false));
        assert_eq!(row.contact.text_ok, Some(true));
        assert_eq!(row.contact.voicemail_ok, None);
        assert_eq!(row.contact.safe_times, "weekdays 9-5");
        assert!(row.contact.conflicts.is_empty());
        assert_eq!(row.area, "Fictionton");
        assert!(!row.visited_today);
        // the row holds no phone number or address
        let json = serde_json::to_string(&row).unwrap();
        assert!(
            !json.contains("900613") && !json.contains("Transient"),
            "{json}"
        );

        let now = chrono::Utc::now().to_rfc3339();
        store
            .add_case_item(
                &id,
                "visits",
                &serde_json::json!({"outcome": "engaged", "at": now}),
            )
            .unwrap();
        assert!(store.list_cases(&Default::default()).unwrap()[0].visited_today);

        // two devices wrote two phone numbers: the row names the conflict
        let mut rec = store.load_record(&id, RecordKind::Case).unwrap();
        let before = rec.heads();
        let doc = rec.doc_mut();
        let mut other = doc.fork().with_actor(automerge::ActorId::random());
        for (d, phone) in [(&mut *doc, "07700 900111"), (&mut other, "07700 900222")] {
            let victim = d.get(ROOT, "victim").unwrap().unwrap().1;
            d.put(&victim, "phone", phone).unwrap();
            d.commit();
        }
        doc.merge(&mut other).unwrap();
        let tx = store.conn.unchecked_transaction().unwrap();
        super::super::records::persist(&tx, &mut rec, &before).unwrap();
        tx.commit().unwrap();
        let row = store.list_cases(&Default::default()).unwrap().remove(0);
        assert_eq!(row.contact.conflicts, vec!["victim.phone".to_string()]);

        // a store from before migration 5 gets its rows when next unlocked
        store
            .conn
            .execute("UPDATE records SET list_row = NULL", [])
            .unwrap();
        assert_eq!(
            store.list_cases(&Default::default()).unwrap()[0]
                .contact
                .call_ok,
            None
        );
        drop(store);
        let mut store = Store::open(dir.path(), PASS, None).unwrap();
        let row = store.list_cases(&Default::default()).unwrap().remove(0);
        assert_eq!(row.contact.call_ok, Some(false));
        assert_eq!(row.contact.conflicts, vec!["victim.phone".to_string()]);
        assert!(row.visited_today);
    }
}
