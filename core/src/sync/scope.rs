//! Who may hold which document (design §7), decided in one place: the server enforces it on
//! every upload and every page it sends, and the device checks what arrives against it.
//!
//! - officer: shared records (cases, shifts) of their own team;
//! - idva: the same, and the health records of their team's cases;
//! - safeguarding: every shared record in their division, never health records;
//! - admin: no case content at all.

use crate::model::{RecordKind, Role};

/// The part of a user that decides what they may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder<'a> {
    pub role: Role,
    pub division: &'a str,
    pub team: &'a str,
}

/// Where a document belongs. A health record belongs where its case does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement<'a> {
    pub kind: RecordKind,
    pub division: &'a str,
    pub team: &'a str,
}

/// Whether `holder` may receive and change the document placed at `doc`.
pub fn may_hold(holder: &Holder, doc: &Placement) -> bool {
    let same_division = !doc.division.is_empty() && holder.division == doc.division;
    let same_team = same_division && holder.team == doc.team;
    match holder.role {
        Role::Admin => false,
        Role::Officer => doc.kind != RecordKind::Health && same_team,
        Role::Idva => same_team,
        Role::Safeguarding => doc.kind != RecordKind::Health && same_division,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(kind: RecordKind, team: &str) -> Placement<'_> {
        Placement {
            kind,
            division: "west",
            team,
        }
    }

    #[test]
    fn the_rules_of_design_section_7() {
        let officer = Holder {
            role: Role::Officer,
            division: "west",
            team: "t1",
        };
        let idva = Holder {
            role: Role::Idva,
            ..officer.clone()
        };
        let safeguarding = Holder {
            role: Role::Safeguarding,
            division: "west",
            team: "",
        };
        let admin = Holder {
            role: Role::Admin,
            ..officer.clone()
        };
        assert!(may_hold(&officer, &at(RecordKind::Case, "t1")));
        assert!(may_hold(&officer, &at(RecordKind::Shift, "t1")));
        assert!(!may_hold(&officer, &at(RecordKind::Case, "t2")));
        assert!(!may_hold(&officer, &at(RecordKind::Health, "t1")));
        assert!(may_hold(&idva, &at(RecordKind::Health, "t1")));
        assert!(!may_hold(&idva, &at(RecordKind::Health, "t2")));
        assert!(may_hold(&safeguarding, &at(RecordKind::Case, "t2")));
        assert!(!may_hold(&safeguarding, &at(RecordKind::Health, "t1")));
        assert!(!may_hold(&admin, &at(RecordKind::Case, "t1")));
        let elsewhere = Placement {
            kind: RecordKind::Case,
            division: "east",
            team: "t1",
        };
        assert!(!may_hold(&officer, &elsewhere));
        assert!(!may_hold(&safeguarding, &elsewhere));
        // a document with no division belongs to nobody
        let nowhere = Placement {
            kind: RecordKind::Case,
            division: "",
            team: "",
        };
        let no_division = Holder {
            role: Role::Safeguarding,
            division: "",
            team: "",
        };
        assert!(!may_hold(&no_division, &nowhere));
    }
}
