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
