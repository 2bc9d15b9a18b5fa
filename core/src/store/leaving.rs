//! When a case leaves this device (issue 15): the case list and the case screen say it for
//! handed-over and closed cases, and Settings shows the division's policy. The rule itself is
//! `scope::leaves_device_at` (the one the server purges by); this module only applies it to
//! what the device knows: the status and since when it stands there on this device's clock
//! (`records.status_since`), and the policy the server last told it (or the default before
//! it has heard one).

use serde::Serialize;

use super::Store;
use crate::error::Result;
use crate::model::Status;
use crate::sync::scope::{self, Retention, Standing};

/// How long handed-over and closed cases stay on this device after they leave open work.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct DevicePolicy {
    pub grace_hours: u32,
    /// Whether a server has told this device its division's policy; until then it goes by the
    /// default (`scope::DEFAULT_GRACE_HOURS`).
    pub heard_from_server: bool,
}

/// When a case leaves this device, about: counted from when this device learned its status, so
/// the server (which counts from when it recorded it) may take it a little earlier.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct Leaving {
    /// RFC 3339.
    pub at: String,
    /// The time has passed: it leaves at the next sync.
    pub due: bool,
    pub policy: DevicePolicy,
}

impl DevicePolicy {
    fn retention(self) -> Retention {
        Retention {
            grace_hours: self.grace_hours,
        }
    }
}

fn millis(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// When a case with `status` since `since` (RFC 3339) leaves a device of the signed-in
/// user's role under `policy`, as of `now_ms`: `None` while it is open work for that role, or
/// where the time is not known (an unknown status or time is never guessed at).
pub(crate) fn leaving(
    role: crate::model::Role,
    status: &str,
    since: Option<&str>,
    policy: DevicePolicy,
    now_ms: i64,
) -> Option<Leaving> {
    let standing = Standing {
        status: Some(Status::parse(status).ok()?),
        since_ms: millis(since?)?,
    };
    let at_ms = scope::leaves_device_at(role, standing, policy.retention())?;
    let at = chrono::DateTime::from_timestamp_millis(at_ms)?;
    Some(Leaving {
        at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        due: now_ms >= at_ms,
        policy,
    })
}

impl Store {
    /// The policy this device keeps cases by: its division's, as the server last said, or the
    /// default before any server has.
    pub fn device_policy(&self) -> Result<DevicePolicy> {
        Ok(match self.retention()? {
            Some(r) => DevicePolicy {
                grace_hours: r.grace_hours,
                heard_from_server: true,
            },
            None => DevicePolicy {
                grace_hours: Retention::default().grace_hours,
                heard_from_server: false,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[test]
    fn handed_over_and_closed_cases_say_when_they_leave() {
        let policy = DevicePolicy {
            grace_hours: 24,
            heard_from_server: true,
        };
        let since = "2026-03-02T10:00:00.000Z";
        let t = |s: &str| millis(s).unwrap();
        let left = leaving(Role::Officer, "handed_over", Some(since), policy, t(since)).unwrap();
        assert_eq!(left.at, "2026-03-03T10:00:00Z");
        assert!(!left.due);
        let later = leaving(
            Role::Officer,
            "closed",
            Some(since),
            policy,
            t("2026-03-03T10:00:00Z"),
        )
        .unwrap();
        assert!(later.due);
        assert_eq!(
            leaving(Role::Officer, "active", Some(since), policy, 0),
            None
        );
        assert_eq!(
            leaving(Role::Safeguarding, "handed_over", Some(since), policy, 0),
            None
        );
        assert!(leaving(Role::Safeguarding, "closed", Some(since), policy, 0).is_some());
        // unknown status or time: nothing said
        assert_eq!(
            leaving(Role::Officer, "archived", Some(since), policy, 0),
            None
        );
        assert_eq!(leaving(Role::Officer, "closed", None, policy, 0), None);
        assert_eq!(
            leaving(Role::Officer, "closed", Some("yesterday"), policy, 0),
            None
        );
    }
}
