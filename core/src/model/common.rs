//! Values shared by every record: roles, risk levels, yes/no/unknown answers, audiences.

use super::choice::choice;

choice!(
    /// What a user does in the programme; decides what they may see and do (design §7).
    Role { Officer => "officer", Idva => "idva", Safeguarding => "safeguarding", Admin => "admin" }
);

choice!(
    /// A risk level, lowest first so that `Ord` ranks them.
    RiskLevel { Standard => "standard", Medium => "medium", High => "high" }
);

choice!(
    /// An answer that may not be known.
    TriState { Yes => "yes", No => "no", Unknown => "unknown" }
);

choice!(
    /// Who may hold a document: `shared` records go to police and IDVA roles, `health`
    /// records only to the IDVA who wrote them and other IDVAs of the team.
    Audience { Shared => "shared", Health => "health" }
);

choice!(
    /// The three kinds of document.
    RecordKind { Case => "case", Health => "health", Shift => "shift" }
);

// `choice!` declares the enum, so `#[derive(Default)]` cannot be attached to it.
#[allow(clippy::derivable_impls)]
impl Default for TriState {
    fn default() -> Self {
        TriState::Unknown
    }
}

impl Role {
    /// Police-side roles never receive health records.
    pub fn sees_health(self) -> bool {
        self == Role::Idva
    }

    /// Admins manage devices and users and never see case content.
    pub fn sees_cases(self) -> bool {
        self != Role::Admin
    }
}

/// Whether `id` has the shape of a record id of `kind`: cases and shifts are lowercase UUIDs,
/// and a health record is its case's id with `.health` after it. The server refuses a record
/// stored under any other id, so one kind can never be uploaded as another.
pub fn id_fits(kind: RecordKind, id: &str) -> bool {
    fn is_uuid(s: &str) -> bool {
        s.len() == 36
            && s.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
            })
    }
    match kind {
        RecordKind::Case | RecordKind::Shift => is_uuid(id),
        RecordKind::Health => id.strip_suffix(".health").is_some_and(is_uuid),
    }
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn ids_fit_their_kinds() {
        let case = "0b6c6f0e-2f4b-4d7e-9a51-3c2d1e0f9a8b";
        assert!(id_fits(RecordKind::Case, case));
        assert!(id_fits(RecordKind::Shift, case));
        assert!(!id_fits(RecordKind::Health, case));
        assert!(id_fits(RecordKind::Health, &format!("{case}.health")));
        assert!(!id_fits(RecordKind::Case, &format!("{case}.health")));
        assert!(!id_fits(RecordKind::Case, "case-1"));
        assert!(!id_fits(RecordKind::Case, &case.to_uppercase()));
    }
}
