//! Who may hold which document (design §7), decided in one place: the server enforces it on
//! every upload and every page it sends, and the device checks what arrives against it.
//!
//! - officer: shared records (cases, shifts) of their own team;
//! - idva: the same, and the health records of their team's cases;
//! - safeguarding: every shared record in their division, never health records;
//! - admin: no case content at all.
//!
//! And for how long (`holds_now`, issue 15): a device holds only open work. A patrol device
//! (officer, IDVA) holds a case, and its health record, while it is triaged for or active
//! with its team, and for the division's grace period after it is handed over or closed; the
//! safeguarding unit holds its division's cases until the grace period after one is closed,
//! and a closed case it fetched on request for the grace period after the fetch. `may_hold`
//! says where a record may ever go (and so who may write it); `holds_now` says who keeps it.

use crate::model::case::Status;
use crate::model::{RecordKind, Role};

/// The default grace period after a case is handed over or closed, in hours.
pub const DEFAULT_GRACE_HOURS: u32 = 72;

/// The longest grace period a division may set (a year): past it a device is not "holding
/// only open work" any more.
pub const MAX_GRACE_HOURS: u32 = 24 * 366;

/// A division's rule for how long handed-over and closed cases stay on devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub grace_hours: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            grace_hours: DEFAULT_GRACE_HOURS,
        }
    }
}

impl Retention {
    fn grace_ms(self) -> i64 {
        i64::from(self.grace_hours) * 3_600_000
    }

    /// When a case that reached its status at `since_ms` leaves devices that keep it only for
    /// the grace period.
    pub fn leaves_at(self, since_ms: i64) -> i64 {
        since_ms.saturating_add(self.grace_ms())
    }

    /// Checks a grace period an administrator asks for.
    pub fn checked(grace_hours: i64) -> Result<Retention, String> {
        if !(0..=i64::from(MAX_GRACE_HOURS)).contains(&grace_hours) {
            return Err(format!(
                "the grace period must be 0 to {MAX_GRACE_HOURS} hours"
            ));
        }
        Ok(Retention {
            grace_hours: grace_hours as u32,
        })
    }
}

/// Where a case stands in its life, as the server recorded it: its status and when (server
/// time, milliseconds) it took that status. Health records stand where their case does;
/// records of other kinds are always open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub status: Option<Status>,
    pub since_ms: i64,
}

impl Standing {
    pub const OPEN: Standing = Standing {
        status: None,
        since_ms: 0,
    };

    /// A standing read from stored columns (an unknown or missing status is open: a record
    /// is never purged on a guess).
    pub fn of(status: Option<&str>, since_ms: Option<i64>) -> Standing {
        match (status.and_then(|s| Status::parse(s).ok()), since_ms) {
            (Some(status), Some(since_ms)) => Standing {
                status: Some(status),
                since_ms,
            },
            _ => Standing::OPEN,
        }
    }
}

/// Where a case stands after a write by `writer` that leaves its status at `status` (and
/// itself wrote the status, or not: `wrote_status`), from where it stood (`before`), at server
/// time `now_ms`. The time moves only with the status. A case handed over or closed has left
/// the team's open work and is the safeguarding unit's: only the unit's writes of its status
/// move where it stands (its other writes, a note, never reopen a case by the way). So nothing a patrol device writes (a crafted
/// status, a flip between handed over and closed to restart the grace period, or an offline
/// edit merged after the hand-over) keeps a case on the team's devices past its grace period,
/// brings it back, or takes it off the unit's devices; the record itself still takes the
/// write, and its conflicts show as usual.
pub fn next_standing(
    writer: Role,
    before: Standing,
    status: Status,
    wrote_status: bool,
    now_ms: i64,
) -> Standing {
    if before.status == Some(status) {
        return before;
    }
    let left = matches!(before.status, Some(Status::HandedOver | Status::Closed));
    if left && (writer != Role::Safeguarding || !wrote_status) {
        return before;
    }
    Standing {
        status: Some(status),
        since_ms: now_ms,
    }
}

/// Whether `holder` keeps the document at `doc` at `now_ms`: it may hold it (`may_hold`), and
/// the case is open work for it, or within `retention`'s grace period, or (the safeguarding
/// unit) was fetched on request at `fetched_ms` within the grace period.
pub fn holds_now(
    holder: &Holder,
    doc: &Placement,
    standing: Standing,
    retention: Retention,
    fetched_ms: Option<i64>,
    now_ms: i64,
) -> bool {
    if !may_hold(holder, doc) {
        return false;
    }
    let kept = leaves_device_at(holder.role, standing, retention).is_none_or(|t| now_ms < t);
    let fetched = holder.role == Role::Safeguarding
        && fetched_ms.is_some_and(|at| now_ms < retention.leaves_at(at));
    kept || fetched
}

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

/// When a case standing at `standing` leaves the devices of `role` that may hold it
/// (milliseconds): `None` while it is open work for that role, kept for as long as it stays
/// so. Patrol devices (officer, IDVA) keep triaged and active cases, and handed-over and
/// closed ones until the grace period after; the safeguarding unit keeps handed-over cases
/// and closed ones until the grace period after. An administrator holds no case at all.
/// `holds_now` asks it, so the devices' "leaves about" and the server's purge are one rule.
pub fn leaves_device_at(role: Role, standing: Standing, retention: Retention) -> Option<i64> {
    match (role, standing.status) {
        (Role::Admin, _) => Some(i64::MIN),
        (_, None | Some(Status::Triaged) | Some(Status::Active)) => None,
        (Role::Safeguarding, Some(Status::HandedOver)) => None,
        (
            Role::Officer | Role::Idva | Role::Safeguarding,
            Some(Status::HandedOver | Status::Closed),
        ) => Some(retention.leaves_at(standing.since_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user of division west: patrol roles in team t1, the unit in none.
    fn holder(role: Role) -> Holder<'static> {
        Holder {
            role,
            division: "west",
            team: if role == Role::Safeguarding { "" } else { "t1" },
        }
    }

    fn at(kind: RecordKind, team: &str) -> Placement<'_> {
        Placement {
            kind,
            division: "west",
            team,
        }
    }

    #[test]
    fn the_rules_of_design_section_7() {
        let (officer, idva, safeguarding) = (
            holder(Role::Officer),
            holder(Role::Idva),
            holder(Role::Safeguarding),
        );
        let admin = Holder {
            role: Role::Admin,
            ..holder(Role::Officer)
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

    #[test]
    fn only_the_unit_brings_a_case_back_to_open_work() {
        let at = |status: Status, since_ms: i64| Standing {
            status: Some(status),
            since_ms,
        };
        let open = at(Status::Active, 10);
        // the time moves with the status
        assert_eq!(
            next_standing(Role::Officer, open, Status::Active, true, 99),
            open
        );
        assert_eq!(
            next_standing(Role::Officer, open, Status::HandedOver, true, 99),
            at(Status::HandedOver, 99)
        );
        assert_eq!(
            next_standing(Role::Idva, Standing::OPEN, Status::Active, true, 99),
            at(Status::Active, 99)
        );
        let gone = at(Status::Closed, 50);
        for patrol in [Role::Officer, Role::Idva] {
            // reopening, or moving it between handed over and closed, changes nothing
            assert_eq!(next_standing(patrol, gone, Status::Active, true, 99), gone);
            assert_eq!(next_standing(patrol, gone, Status::Triaged, true, 99), gone);
            assert_eq!(
                next_standing(patrol, gone, Status::HandedOver, true, 99),
                gone
            );
        }
        // a note of the unit's on a case whose record a patrol device set active: no reopening
        assert_eq!(
            next_standing(Role::Safeguarding, gone, Status::Active, false, 99),
            gone
        );
        // the unit reopens, and closing starts its own time
        assert_eq!(
            next_standing(Role::Safeguarding, gone, Status::Active, true, 99),
            at(Status::Active, 99)
        );
        assert_eq!(
            next_standing(
                Role::Safeguarding,
                at(Status::HandedOver, 50),
                Status::Closed,
                true,
                99
            ),
            at(Status::Closed, 99)
        );
    }

    #[test]
    fn devices_hold_open_work_and_let_go_after_the_grace_period() {
        let (officer, idva, safeguarding) = (
            holder(Role::Officer),
            holder(Role::Idva),
            holder(Role::Safeguarding),
        );
        let hour = 3_600_000;
        let policy = Retention { grace_hours: 72 };
        let at = |status: Status| Standing {
            status: Some(status),
            since_ms: 1_000 * hour,
        };
        let case = Placement {
            kind: RecordKind::Case,
            division: "west",
            team: "t1",
        };
        let health = Placement {
            kind: RecordKind::Health,
            ..case.clone()
        };
        let now = |h: i64| 1_000 * hour + h * hour;
        for (holder, doc) in [(&officer, &case), (&idva, &case), (&idva, &health)] {
            for s in [Status::Triaged, Status::Active] {
                assert!(holds_now(holder, doc, at(s), policy, None, now(10_000)));
            }
            for s in [Status::HandedOver, Status::Closed] {
                assert!(holds_now(holder, doc, at(s), policy, None, now(71)));
                assert!(!holds_now(holder, doc, at(s), policy, None, now(72)));
            }
        }
        // the safeguarding unit keeps handed-over cases; closed ones go after the grace period,
        // unless fetched on request (then for the grace period after the fetch)
        assert!(holds_now(
            &safeguarding,
            &case,
            at(Status::HandedOver),
            policy,
            None,
            now(10_000)
        ));
        assert!(!holds_now(
            &safeguarding,
            &case,
            at(Status::Closed),
            policy,
            None,
            now(72)
        ));
        assert!(holds_now(
            &safeguarding,
            &case,
            at(Status::Closed),
            policy,
            Some(now(100)),
            now(171)
        ));
        assert!(!holds_now(
            &safeguarding,
            &case,
            at(Status::Closed),
            policy,
            Some(now(100)),
            now(172)
        ));
        // a fetch gives a patrol device nothing
        assert!(!holds_now(
            &officer,
            &case,
            at(Status::Closed),
            policy,
            Some(now(100)),
            now(101)
        ));
        // grace 0: gone at once; where it may not be held at all, never
        let none = Retention { grace_hours: 0 };
        assert!(!holds_now(
            &officer,
            &case,
            at(Status::Closed),
            none,
            None,
            now(0)
        ));
        assert!(!holds_now(
            &officer,
            &health,
            Standing::OPEN,
            policy,
            None,
            now(0)
        ));
        // an unknown status is open
        assert_eq!(Standing::of(Some("archived"), Some(5)), Standing::OPEN);
        assert_eq!(Standing::of(Some("closed"), None), Standing::OPEN);
        assert!(Retention::checked(-1).is_err());
        assert!(Retention::checked(i64::from(MAX_GRACE_HOURS) + 1).is_err());
        assert_eq!(Retention::checked(0).unwrap().grace_hours, 0);
    }

    #[test]
    fn when_a_case_leaves_each_role_s_devices() {
        let hour = 3_600_000;
        let since = 500 * hour;
        let at = |status: Status| Standing {
            status: Some(status),
            since_ms: since,
        };
        for grace_hours in [0, 72] {
            let policy = Retention { grace_hours };
            let after_grace = Some(since + i64::from(grace_hours) * hour);
            for role in [Role::Officer, Role::Idva] {
                assert_eq!(leaves_device_at(role, at(Status::Triaged), policy), None);
                assert_eq!(leaves_device_at(role, at(Status::Active), policy), None);
                assert_eq!(
                    leaves_device_at(role, at(Status::HandedOver), policy),
                    after_grace
                );
                assert_eq!(
                    leaves_device_at(role, at(Status::Closed), policy),
                    after_grace
                );
                assert_eq!(leaves_device_at(role, Standing::OPEN, policy), None);
            }
            let sg = Role::Safeguarding;
            assert_eq!(leaves_device_at(sg, at(Status::Triaged), policy), None);
            assert_eq!(leaves_device_at(sg, at(Status::Active), policy), None);
            assert_eq!(leaves_device_at(sg, at(Status::HandedOver), policy), None);
            assert_eq!(
                leaves_device_at(sg, at(Status::Closed), policy),
                after_grace
            );
            assert_eq!(leaves_device_at(sg, Standing::OPEN, policy), None);
            // an administrator holds no case: gone whatever its standing
            for s in [
                Status::Triaged,
                Status::Active,
                Status::HandedOver,
                Status::Closed,
            ] {
                assert_eq!(leaves_device_at(Role::Admin, at(s), policy), Some(i64::MIN));
            }
            // the same rule as holds_now, for a case its holder may hold
            let case = Placement {
                kind: RecordKind::Case,
                division: "west",
                team: "t1",
            };
            for role in [Role::Officer, Role::Idva, Role::Safeguarding] {
                let holder = Holder {
                    role,
                    division: "west",
                    team: "t1",
                };
                for s in [
                    Status::Triaged,
                    Status::Active,
                    Status::HandedOver,
                    Status::Closed,
                ] {
                    for now in [
                        since - 1,
                        since,
                        since + 71 * hour,
                        since + 72 * hour,
                        since + 1_000 * hour,
                    ] {
                        let kept = leaves_device_at(role, at(s), policy).is_none_or(|t| now < t);
                        assert_eq!(kept, holds_now(&holder, &case, at(s), policy, None, now));
                    }
                }
            }
        }
    }
}
