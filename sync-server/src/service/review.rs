//! Retention review (issue 16, item 3): which closed records are due for review under their
//! retention class (provide-core's `retention`: the shipped placeholder periods, or the period
//! a division set), who may decide, and each decision recorded with its audit.
//!
//! Who decides: a case, the safeguarding unit or an administrator; a health record, the IDVA
//! role only (it is the trust's record, and no police role decides for the trust). Each
//! reviewer decides only for their own division (an administrator for every division). A
//! `retain` decision needs a future date and a reason and may come early; a `dispose` decision
//! needs a reason and a record whose review date has passed, and erases the record. The
//! reason is free text written by staff: it is kept with the decision, never in the audit log
//! (a log that can never be erased must not hold what a reviewer may have written about a
//! person); the audit entry (`retention_review`) names the decision, the class and the date.

use chrono::{NaiveDate, Utc};
use provide_core::model::case::Status;
use provide_core::model::{id_fits, RecordKind, Role};
use provide_core::retention::{self, Decision, RetentionClass, Schedule};
pub use provide_core::retention::{DecisionRequest, DueItem, DueList};
use serde::Serialize;

use super::Service;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, Device, DocMeta, DueQuery, ReviewDecision, ReviewPeriod};

/// The most records one due list names (the oldest closures first); `truncated` says more
/// are due.
pub const MAX_DUE: usize = 1000;
/// The audit action of a review decision.
pub const REVIEW_ACTION: &str = "retention_review";

/// Who is deciding: the user, each role and division they are enrolled with, where from.
#[derive(Debug, Clone)]
pub struct Reviewer {
    pub user: String,
    pub grants: Vec<(Role, String)>,
    /// The device decided from (empty: the command line).
    pub device: String,
    /// The operator who entered the decision at the command line.
    pub entered_by: Option<String>,
}

/// Whether `role` decides the review of records of `kind`.
pub fn may_review(role: Role, kind: RecordKind) -> bool {
    match kind {
        RecordKind::Case => matches!(role, Role::Safeguarding | Role::Admin),
        RecordKind::Health => role == Role::Idva,
        RecordKind::Shift => false,
    }
}

/// The kinds of record a device of `role` reviews over HTTP (officers and administrators'
/// devices review none: an administrator decides at the command line).
fn kinds_reviewed_by_device(role: Role) -> &'static [RecordKind] {
    match role {
        Role::Safeguarding => &[RecordKind::Case],
        Role::Idva => &[RecordKind::Health],
        Role::Officer | Role::Admin => &[],
    }
}

/// The review periods in force: the shipped classes, and what divisions set.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewSchedule {
    /// The shipped periods are placeholders for the force's and the trust's schedules.
    pub placeholder: bool,
    pub classes: Vec<RetentionClass>,
    pub divisions: Vec<ReviewPeriod>,
}

impl ReviewSchedule {
    /// The months of `class` in `division`.
    fn months(&self, division: &str, class: &RetentionClass) -> u32 {
        self.divisions
            .iter()
            .find(|p| p.division == division && p.class == class.id)
            .map_or(class.review_after_months, |p| p.review_after_months)
    }
}

fn invalid(m: impl Into<String>) -> ServerError {
    ServerError::InvalidInput(m.into())
}

/// A record id as given, checked for shape only: a case's or a health record's id (anything
/// else is never echoed back, in case a name was typed where the id belongs).
fn record_id(id: &str) -> Result<&str> {
    let id = id.trim();
    if !(id_fits(RecordKind::Case, id) || id_fits(RecordKind::Health, id)) {
        return Err(invalid(
            "the record must be a case id or a health record id (CASE.health)",
        ));
    }
    Ok(id)
}

/// A division as given: 1-64 printable characters, trimmed.
fn checked_division(division: &str) -> Result<&str> {
    let division = division.trim();
    if division.is_empty() || division.len() > 64 || division.chars().any(char::is_control) {
        return Err(invalid("the division must be 1-64 printable characters"));
    }
    Ok(division)
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

impl Service {
    /// The review periods in force.
    pub fn review_schedule(&self) -> Result<ReviewSchedule> {
        let shipped = Schedule::shipped();
        Ok(ReviewSchedule {
            placeholder: shipped.placeholder,
            classes: shipped.classes.clone(),
            divisions: self.storage.review_periods()?,
        })
    }

    /// Sets a division's review period for a class; audited (`policy`) as set by `by`.
    pub fn set_review_period(
        &self,
        division: &str,
        class: &str,
        months: i64,
        by: &str,
    ) -> Result<u32> {
        let division = checked_division(division)?;
        let class = Schedule::shipped().class(class.trim()).map_err(invalid)?;
        let months = retention::check_months(months).map_err(invalid)?;
        self.storage.set_review_period(
            division,
            &class.id,
            months,
            &AuditEvent {
                device: String::new(),
                user: by.to_string(),
                action: "policy".into(),
                record: String::new(),
                detail: format!(
                    "review period of class {} for division {division} set to {months} months",
                    class.id
                ),
            },
        )?;
        Ok(months)
    }

    /// The closed records of `kinds` (in `division`, or every division) due for review on
    /// `as_of`, oldest closure first.
    pub fn due_for_review(
        &self,
        kinds: &[RecordKind],
        division: Option<&str>,
        as_of: NaiveDate,
    ) -> Result<DueList> {
        let division = division.map(checked_division).transpose()?;
        let schedule = self.review_schedule()?;
        let mut items = vec![];
        let mut truncated = false;
        for &kind in kinds {
            let Some(class) = Schedule::shipped().class_for(kind) else {
                continue;
            };
            let query = DueQuery {
                kind,
                division: division.map(str::to_string),
                closed_before_ms: retention::closed_before_ms(as_of, class.review_after_months),
                division_closed_before_ms: schedule
                    .divisions
                    .iter()
                    .filter(|p| p.class == class.id)
                    .map(|p| {
                        let cut = retention::closed_before_ms(as_of, p.review_after_months);
                        (p.division.clone(), cut)
                    })
                    .collect(),
                as_of: as_of.to_string(),
                limit: MAX_DUE + 1,
            };
            for due in self.storage.due_for_review(&query)? {
                let months = schedule.months(&due.meta.division, class);
                let closed_ms = due.meta.standing.since_ms;
                items.push(DueItem {
                    review_date: due
                        .retained_until
                        .clone()
                        .unwrap_or_else(|| retention::review_date(closed_ms, months).to_string()),
                    record: due.meta.id,
                    kind,
                    class: class.id.clone(),
                    division: due.meta.division,
                    closed_on: retention::day_of(closed_ms).to_string(),
                    retained_until: due.retained_until,
                });
            }
        }
        items.sort_by(|a, b| (&a.closed_on, &a.record).cmp(&(&b.closed_on, &b.record)));
        if items.len() > MAX_DUE {
            items.truncate(MAX_DUE);
            truncated = true;
        }
        Ok(DueList {
            as_of: as_of.to_string(),
            items,
            truncated,
        })
    }

    /// A closed record's review date: the date its latest decision since closure retained it
    /// until, or its closure plus its class's period in its division.
    fn review_date_of(&self, meta: &DocMeta, class: &RetentionClass) -> Result<NaiveDate> {
        let since = meta.standing.since_ms;
        let latest = self
            .storage
            .review_decisions(&meta.id)?
            .into_iter()
            .rfind(|d| d.decided_ms >= since);
        if let Some(until) = latest.and_then(|d| d.retain_until) {
            return retention::parse_date(&until).map_err(ServerError::Storage);
        }
        let months = self.review_schedule()?.months(&meta.division, class);
        Ok(retention::review_date(since, months))
    }

    /// Records `reviewer`'s decision, audited. A `dispose` decision erases the record.
    pub fn decide_review(
        &self,
        reviewer: &Reviewer,
        req: &DecisionRequest,
    ) -> Result<ReviewDecision> {
        let reason = retention::check_reason(&req.reason).map_err(invalid)?;
        let id = record_id(&req.record)?;
        let today = today();
        let retain_until = match (req.decision, &req.retain_until) {
            (Decision::Retain, Some(d)) => Some(
                retention::check_retain_until(retention::parse_date(d).map_err(invalid)?, today)
                    .map_err(invalid)?,
            ),
            (Decision::Retain, None) => {
                return Err(invalid("a retain decision needs a retain-until date"))
            }
            (Decision::Dispose, Some(_)) => {
                return Err(invalid("a dispose decision takes no retain-until date"))
            }
            (Decision::Dispose, None) => None,
        };
        // a record of another division reads as unknown: no one learns what others hold
        let unknown = || invalid(format!("no record {id} is stored for this reviewer"));
        let meta = self.storage.doc_meta(id)?.ok_or_else(unknown)?;
        let in_division =
            |(role, division): &(Role, String)| *role == Role::Admin || *division == meta.division;
        if !reviewer.grants.iter().any(in_division) {
            return Err(unknown());
        }
        let class = Schedule::shipped()
            .class_for(meta.kind)
            .ok_or_else(|| invalid(format!("record {id} has no retention class")))?;
        if !reviewer
            .grants
            .iter()
            .any(|g| in_division(g) && may_review(g.0, meta.kind))
        {
            return Err(ServerError::Forbidden(match meta.kind {
                RecordKind::Health => "health records are reviewed by the IDVA role only".into(),
                _ => "cases are reviewed by the safeguarding unit or an administrator".into(),
            }));
        }
        if meta.standing.status != Some(Status::Closed) {
            return Err(invalid(format!(
                "record {id} is not closed: only closed records are reviewed"
            )));
        }
        if req.decision == Decision::Dispose {
            let due = self.review_date_of(&meta, class)?;
            if due > today {
                return Err(invalid(format!(
                    "record {id} is not due for review until {due}: it may be retained now, \
                     and disposed of from that date"
                )));
            }
        }
        let now = Utc::now();
        let decision = ReviewDecision {
            record: meta.id.clone(),
            kind: meta.kind,
            class: class.id.clone(),
            decision: req.decision,
            retain_until: retain_until.map(|d| d.to_string()),
            reason,
            decided_by: reviewer.user.clone(),
            device: reviewer.device.clone(),
            decided_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            decided_ms: now.timestamp_millis(),
        };
        let mut detail = match &decision.retain_until {
            Some(until) => format!("retain until {until}; class {}", class.id),
            None => format!("dispose; class {}; the record is to be erased", class.id),
        };
        if let Some(op) = &reviewer.entered_by {
            detail.push_str(&format!("; entered at the command line by {op}"));
        }
        self.storage.record_review(
            &decision,
            &AuditEvent {
                device: reviewer.device.clone(),
                user: reviewer.user.clone(),
                action: REVIEW_ACTION.into(),
                record: meta.id.clone(),
                detail,
            },
        )?;
        if decision.decision == Decision::Dispose {
            // disposal is erasure: a case goes with its health record (as `erase` does); a
            // health record disposed of under the trust's schedule goes alone
            match meta.kind {
                RecordKind::Health => {
                    self.erase_records(
                        std::slice::from_ref(&meta.id),
                        &decision.reason,
                        &decision.decided_by,
                    )?;
                }
                _ => {
                    self.erase_case(&meta.id, &decision.reason, &decision.decided_by)?;
                }
            }
        }
        Ok(decision)
    }

    /// The reviewer `--by` names at the command line: an enrolled user (the enrolling user of a
    /// device, or a user added to one) with a device not revoked; their roles and divisions
    /// decide what they may review. `operator` (who runs the command) is recorded too.
    pub fn reviewer_named(&self, by: &str, operator: &str) -> Result<Reviewer> {
        let by = by.trim();
        if by.is_empty() || by.len() > 128 || by.chars().any(char::is_control) {
            return Err(invalid("--by must name an enrolled user"));
        }
        let mut grants = vec![];
        let mut actors: Vec<String> = self.storage.actors_of_user(by)?.into_iter().collect();
        actors.sort();
        for actor in actors {
            let Some(owner) = self.storage.actor_owner(&actor)? else {
                continue;
            };
            if let Some(device) = self.storage.device(&owner.device_id)? {
                if !device.revoked && owner.user == by {
                    grants.push((owner.role, device.division));
                }
            }
        }
        if grants.is_empty() {
            return Err(invalid(format!(
                "no enrolled user {by} has a device that is not revoked: --by names the \
                 reviewer as enrolled (see `devices`)"
            )));
        }
        Ok(Reviewer {
            user: by.to_string(),
            grants,
            device: String::new(),
            entered_by: Some(operator.to_string()),
        })
    }

    /// Refuses a device that reviews nothing, audited (`retention_refused`).
    fn device_reviews(&self, device: &Device) -> Result<&'static [RecordKind]> {
        let why = if device.revoked {
            "this device is revoked"
        } else if kinds_reviewed_by_device(device.role).is_empty() {
            "only the safeguarding unit and IDVAs review retention"
        } else {
            return Ok(kinds_reviewed_by_device(device.role));
        };
        self.storage.append_audit(&[AuditEvent {
            device: device.id.clone(),
            user: device.user.clone(),
            action: "retention_refused".into(),
            record: String::new(),
            detail: why.into(),
        }])?;
        Err(ServerError::Forbidden(why.into()))
    }

    /// What the device's user reviews that is due today: the unit its division's cases, an
    /// IDVA its division's health records.
    pub fn due_for_device(&self, device: &Device) -> Result<DueList> {
        let kinds = self.device_reviews(device)?;
        self.due_for_review(kinds, Some(&device.division), today())
    }

    /// A decision from a device (`body`: JSON `DecisionRequest`).
    pub fn decide_for_device(&self, device: &Device, body: &[u8]) -> Result<ReviewDecision> {
        self.device_reviews(device)?;
        let req: DecisionRequest = serde_json::from_slice(body).map_err(|_| {
            ServerError::BadRequest(
                "the body must be JSON {record, decision: retain|dispose, retain_until?, reason}"
                    .into(),
            )
        })?;
        let reviewer = Reviewer {
            user: device.user.clone(),
            grants: vec![(device.role, device.division.clone())],
            device: device.id.clone(),
            entered_by: None,
        };
        self.decide_review(&reviewer, &req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_go_to_the_unit_and_admins_and_health_records_to_idvas_only() {
        for role in Role::ALL {
            assert_eq!(
                may_review(*role, RecordKind::Case),
                matches!(role, Role::Safeguarding | Role::Admin)
            );
            assert_eq!(may_review(*role, RecordKind::Health), *role == Role::Idva);
            assert!(!may_review(*role, RecordKind::Shift));
        }
    }
}
