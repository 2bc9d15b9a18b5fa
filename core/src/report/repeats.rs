//! Repeat victims: which attendances share a victim digest, and in what order. A victim is a
//! repeat victim in a period when their digest belongs to two or more cases with incident dates
//! on or before the period's end; an attendance's prior attendances are the other cases of the
//! same digest with an earlier incident date. Cases whose victim has no name have no digest
//! and are never counted as repeats.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::attendance::Attendance;

/// One attendance of a victim: the digest, the case, the incident date (YYYY-MM-DD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    pub victim_digest: String,
    pub case_id: String,
    pub incident_date: String,
}

impl Sighting {
    /// The sighting an attendance is, when it has a digest and a date and has left triage.
    pub fn of(a: &Attendance) -> Option<Sighting> {
        if !a.counts() {
            return None;
        }
        Some(Sighting {
            victim_digest: a.victim_digest.clone()?,
            case_id: a.case_id.clone(),
            incident_date: a.incident_date.clone()?,
        })
    }
}

/// Every known attendance of each victim, as (incident date, case id), each case once.
#[derive(Debug, Default)]
pub struct Repeats {
    by_victim: HashMap<String, BTreeSet<(String, String)>>,
}

impl Repeats {
    /// From the sightings a store returned plus the attendances at hand.
    pub fn new<'a, 'b>(
        sightings: impl IntoIterator<Item = &'a Sighting>,
        rows: impl IntoIterator<Item = &'b Attendance>,
    ) -> Self {
        let mut r = Repeats::default();
        let from_rows: Vec<Sighting> = rows.into_iter().filter_map(Sighting::of).collect();
        let given: Vec<&Sighting> = sightings.into_iter().collect();
        for s in given.into_iter().chain(from_rows.iter()) {
            let cases = r.by_victim.entry(s.victim_digest.clone()).or_default();
            // a case is one attendance whatever its date: keep its earliest recorded date
            if let Some(existing) = cases.iter().find(|(_, c)| *c == s.case_id).cloned() {
                if existing.0 <= s.incident_date {
                    continue;
                }
                cases.remove(&existing);
            }
            cases.insert((s.incident_date.clone(), s.case_id.clone()));
        }
        r
    }

    /// Whether the victim has two or more attendances dated on or before `to`.
    pub fn is_repeat(&self, digest: &str, to: &str) -> bool {
        self.by_victim
            .get(digest)
            .is_some_and(|cases| cases.iter().filter(|(d, _)| d.as_str() <= to).count() >= 2)
    }

    /// The victim's attendances dated before `date`.
    pub fn prior(&self, digest: &str, date: &str) -> u64 {
        self.by_victim.get(digest).map_or(0, |cases| {
            cases.iter().filter(|(d, _)| d.as_str() < date).count() as u64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(d: &str, case: &str, date: &str) -> Sighting {
        Sighting {
            victim_digest: d.into(),
            case_id: case.into(),
            incident_date: date.into(),
        }
    }

    #[test]
    fn repeats_and_prior_attendances() {
        let all = [
            s("v1", "c1", "2026-01-10"),
            s("v1", "c2", "2026-03-02"),
            s("v1", "c2", "2026-03-02"), // the same case twice counts once
            s("v2", "c3", "2026-03-05"),
            s("v3", "c4", "2026-03-06"),
            s("v3", "c5", "2026-03-06"),
            s("v4", "c6", "2026-03-07"),
            s("v4", "c7", "2026-04-07"),
        ];
        let r = Repeats::new(all.iter(), &[]);
        assert!(r.is_repeat("v1", "2026-03-31"));
        assert!(!r.is_repeat("v1", "2026-02-28"));
        assert!(!r.is_repeat("v2", "2026-03-31"));
        assert!(r.is_repeat("v3", "2026-03-31"));
        assert!(
            !r.is_repeat("v4", "2026-03-31"),
            "the later case is after the end"
        );
        assert!(!r.is_repeat("nobody", "2026-03-31"));
        assert_eq!(r.prior("v1", "2026-03-02"), 1);
        assert_eq!(r.prior("v1", "2026-01-10"), 0);
        assert_eq!(r.prior("v3", "2026-03-06"), 0, "same day is not prior");
        assert_eq!(r.prior("v4", "2026-04-07"), 1);
    }
}
