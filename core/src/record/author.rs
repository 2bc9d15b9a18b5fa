//! Who made a change and when, carried in every commit's metadata: the message holds the user
//! and role as JSON, the timestamp holds seconds since the epoch as Automerge specifies
//! (milliseconds before issue 14: `change_time` reads both). This makes every field's
//! history attributable, which is what makes the record evidential.
//!
//! The message is only the device's word. The server registers each actor id to one device and
//! user at enrolment, refuses changes whose message disagrees, and tells devices on sync who
//! each actor is (`Registry`); history and conflicts name the author from that registry, and a
//! change from an actor the registry does not know is shown as unverified.

use std::collections::HashMap;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, Change};
use serde::{Deserialize, Serialize};

use crate::model::Role;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub user: String,
    pub role: Role,
}

/// What a change's metadata says about its author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeAuthor {
    pub user: String,
    pub role: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// The server's registry of actors named this author (else it is the change's own claim).
    pub verified: bool,
}

/// Who the server registered each actor id to, as far as this device has learned (its own
/// actor at enrolment, the others on sync).
pub type Registry = HashMap<ActorId, Author>;

/// The author of a change, named by the registry where it knows the actor; the change's own
/// message is only a cross-check: `verified` is true when the registry knows the actor and the
/// message agrees with it. An actor the registry does not know is named by its message,
/// unverified.
pub fn attribute(change: &Change, registry: &Registry) -> ChangeAuthor {
    let claimed = change_author(change.message(), change.timestamp());
    match registry.get(change.actor_id()) {
        Some(a) => ChangeAuthor {
            verified: claimed.user == a.user && claimed.role == a.role.as_str(),
            user: a.user.clone(),
            role: a.role.as_str().to_string(),
            at: claimed.at,
        },
        None => claimed,
    }
}

impl Author {
    pub fn new(user: &str, role: Role) -> Self {
        Author {
            user: user.to_string(),
            role,
        }
    }

    pub fn commit_options(&self) -> CommitOptions {
        let msg = serde_json::json!({"user": self.user, "role": self.role.as_str()}).to_string();
        CommitOptions::default()
            .with_message(msg)
            .with_time(super::change_time::now())
    }
}

/// Reads the author back from a change's message and timestamp (seconds, or legacy
/// milliseconds).
pub fn change_author(message: Option<&str>, timestamp: i64) -> ChangeAuthor {
    #[derive(Deserialize)]
    struct Msg {
        user: String,
        role: String,
    }
    let (user, role) = message
        .and_then(|m| serde_json::from_str::<Msg>(m).ok())
        .map(|m| (m.user, m.role))
        .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
    ChangeAuthor {
        user,
        role,
        at: super::change_time::change_time(timestamp)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default(),
        verified: false,
    }
}
