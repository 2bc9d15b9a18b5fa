//! Retention review schedule as data (issue 16, item 3): each reviewable kind of record has a
//! retention class (`core/data/retention`) with a review period counted from the case's
//! closure; the shipped periods are PLACEHOLDERS for the force's and the trust's own schedules,
//! which the server's operator sets per division. This module holds the one rule of dates
//! (when a record closed on a day comes due for review, and which closures are due on a day)
//! and the checks of a review decision's input, and the shapes of the due list and of a
//! decision on the wire (`GET /v1/retention/due`, `POST /v1/retention/decisions`), for the
//! server and, next, the app's Retention screen.

use std::sync::OnceLock;

use chrono::{Days, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::model::choice::choice;
use crate::model::RecordKind;

/// One retention class: which records it covers and how long after closure they are reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionClass {
    pub id: String,
    pub kind: RecordKind,
    pub title: String,
    /// Months from closure to the first review (the division may set its own).
    pub review_after_months: u32,
    /// Where the period comes from (a placeholder until the force or trust sets its own).
    pub basis: String,
}

/// The shipped retention schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub version: u64,
    /// The periods are placeholders, not any force's or trust's schedule.
    pub placeholder: bool,
    pub classes: Vec<RetentionClass>,
}

impl Schedule {
    /// The schedule shipped with this build.
    pub fn shipped() -> &'static Schedule {
        static SCHEDULE: OnceLock<Schedule> = OnceLock::new();
        SCHEDULE.get_or_init(|| {
            serde_json::from_str(include_str!("../data/retention/schedule-v1.json"))
                .expect("the shipped retention schedule is valid (tested)")
        })
    }

    /// The class that covers records of `kind` (shifts have none: they are not reviewed).
    pub fn class_for(&self, kind: RecordKind) -> Option<&RetentionClass> {
        self.classes.iter().find(|c| c.kind == kind)
    }

    /// The class named `id`; the error lists the classes.
    pub fn class(&self, id: &str) -> Result<&RetentionClass, String> {
        self.classes.iter().find(|c| c.id == id).ok_or_else(|| {
            let ids: Vec<&str> = self.classes.iter().map(|c| c.id.as_str()).collect();
            format!("the retention class must be one of {}", ids.join(", "))
        })
    }
}

choice! {
    /// What a review decides: keep the record until a later review, or dispose of it (erase).
    Decision { Retain => "retain", Dispose => "dispose" }
}

/// The largest decision body the server accepts.
pub const MAX_DECISION_BODY: usize = 4096;

/// A record due for review: no names, no content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct DueItem {
    pub record: String,
    pub kind: RecordKind,
    pub class: String,
    pub division: String,
    /// The day the case closed (UTC).
    pub closed_on: String,
    /// The day it came due: closure plus the period, or the date it was last retained until.
    pub review_date: String,
    /// The date of the decision that retained it since its closure, if one did.
    pub retained_until: Option<String>,
}

/// What is due on `as_of`, oldest closure first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct DueList {
    pub as_of: String,
    pub items: Vec<DueItem>,
    /// More records are due than were listed.
    pub truncated: bool,
}

/// A decision as a reviewer gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub record: String,
    pub decision: Decision,
    /// `YYYY-MM-DD`, for `retain` only.
    #[serde(default)]
    pub retain_until: Option<String>,
    pub reason: String,
}

/// A review decision as recorded (and as the server answers a decision).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ReviewDecision {
    pub record: String,
    pub kind: RecordKind,
    pub class: String,
    pub decision: Decision,
    /// The next review date (`YYYY-MM-DD`) of a `retain` decision.
    pub retain_until: Option<String>,
    /// The reviewer's reason (free text by staff: kept with the decision, never in the audit
    /// log).
    pub reason: String,
    pub decided_by: String,
    /// The device it was decided from (empty: the server's command line).
    pub device: String,
    pub decided_at: String,
    #[ts(type = "number")]
    pub decided_ms: i64,
}

/// The longest review period a division may set (100 years).
pub const MAX_REVIEW_MONTHS: u32 = 1200;
/// The longest reason a reviewer may give, in characters.
pub const MAX_REASON_CHARS: usize = 1000;
/// The furthest ahead a record may be retained until, in years.
pub const MAX_RETAIN_YEARS: u32 = 100;

/// A review period as the operator gives it: 1 to `MAX_REVIEW_MONTHS` months.
pub fn check_months(months: i64) -> Result<u32, String> {
    if (1..=MAX_REVIEW_MONTHS as i64).contains(&months) {
        Ok(months as u32)
    } else {
        Err(format!(
            "the review period must be 1 to {MAX_REVIEW_MONTHS} months"
        ))
    }
}

/// A date written `YYYY-MM-DD` (years 1970 to 9999).
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let t = text.trim();
    let bad = || format!("`{}` is not a date written YYYY-MM-DD", clip(t));
    if t.len() != 10 {
        return Err(bad());
    }
    let d = NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| bad())?;
    if d < NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date") {
        return Err(bad());
    }
    Ok(d)
}

/// The UTC day of a time in milliseconds since the epoch.
pub fn day_of(ms: i64) -> NaiveDate {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or(NaiveDate::MIN)
}

/// When a record closed at `closed_ms` comes due for review: the day of closure plus the
/// period (the month's last day when the day does not exist in it).
pub fn review_date(closed_ms: i64, months: u32) -> NaiveDate {
    day_of(closed_ms)
        .checked_add_months(Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// Records closed before this time (ms since the epoch) have their review date on or before
/// `as_of` under a period of `months`; those closed at or after it do not. Exact, so a query
/// on closure times lists what `review_date` says is due.
pub fn closed_before_ms(as_of: NaiveDate, months: u32) -> i64 {
    let due = |d: NaiveDate| {
        d.checked_add_months(Months::new(months))
            .is_some_and(|r| r <= as_of)
    };
    // as_of less the period is due (its day is no later in the same month as as_of); the
    // latest due day is at most a few days after it, since adding months is monotonic
    let Some(mut last) = as_of.checked_sub_months(Months::new(months)) else {
        return i64::MIN;
    };
    while let Some(next) = last.checked_add_days(Days::new(1)) {
        if !due(next) {
            break;
        }
        last = next;
    }
    last.checked_add_days(Days::new(1))
        .map(|d| d.and_time(NaiveTime::MIN).and_utc().timestamp_millis())
        .unwrap_or(i64::MAX)
}

/// A reviewer's reason: trimmed, 1 to `MAX_REASON_CHARS` characters, no control characters
/// but line breaks.
pub fn check_reason(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("a reason is required".into());
    }
    if t.chars().count() > MAX_REASON_CHARS {
        return Err(format!(
            "the reason must be at most {MAX_REASON_CHARS} characters"
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err("the reason must not contain control characters".into());
    }
    Ok(t.to_string())
}

/// A retain-until date: after `today`, and at most `MAX_RETAIN_YEARS` ahead.
pub fn check_retain_until(until: NaiveDate, today: NaiveDate) -> Result<NaiveDate, String> {
    if until <= today {
        return Err(format!(
            "the retain-until date {until} is not in the future (today is {today})"
        ));
    }
    let furthest = today
        .checked_add_months(Months::new(MAX_RETAIN_YEARS * 12))
        .unwrap_or(NaiveDate::MAX);
    if until > furthest {
        return Err(format!(
            "the retain-until date must be at most {MAX_RETAIN_YEARS} years ahead"
        ));
    }
    Ok(until)
}

/// At most 40 characters of a text, for an error message.
fn clip(t: &str) -> String {
    t.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    fn ms(s: &str) -> i64 {
        date(s)
            .and_time(NaiveTime::MIN)
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn the_shipped_schedule_has_one_class_per_reviewed_kind() {
        let s = Schedule::shipped();
        assert!(s.placeholder);
        assert_eq!(s.class_for(RecordKind::Case).unwrap().id, "police_case");
        assert_eq!(s.class_for(RecordKind::Health).unwrap().id, "nhs_health");
        assert!(s.class_for(RecordKind::Shift).is_none());
        for c in &s.classes {
            assert!(check_months(c.review_after_months as i64).is_ok());
            assert!(c.basis.contains("PLACEHOLDER"));
        }
        assert!(s.class("nope").unwrap_err().contains("police_case"));
    }

    #[test]
    fn the_cutoff_agrees_with_the_review_date_on_every_day() {
        // every closure day of four years, against as-of days around month ends and leap days
        for as_of in [
            "2028-02-29",
            "2028-03-31",
            "2027-02-28",
            "2030-08-31",
            "2030-01-01",
        ] {
            let as_of = date(as_of);
            for months in [1, 6, 12, 72, 96] {
                let cut = closed_before_ms(as_of, months);
                let mut d = as_of.checked_sub_months(Months::new(months + 30)).unwrap();
                while d <= as_of {
                    let at = d.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
                    for t in [at, at + 86_399_999] {
                        assert_eq!(
                            review_date(t, months) <= as_of,
                            t < cut,
                            "closed {d}, {months} months, as of {as_of}"
                        );
                    }
                    d = d.succ_opt().unwrap();
                }
            }
        }
    }

    #[test]
    fn review_dates_count_months_from_the_day_of_closure() {
        assert_eq!(review_date(ms("2020-03-15"), 72), date("2026-03-15"));
        assert_eq!(review_date(ms("2020-08-31"), 6), date("2021-02-28"));
        assert_eq!(
            review_date(ms("2020-08-31") + 3_600_000, 96),
            date("2028-08-31")
        );
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        assert!(check_months(0).is_err());
        assert!(check_months(1201).is_err());
        assert_eq!(check_months(72), Ok(72));
        for bad in [
            "",
            "2031-13-01",
            "31/01/2031",
            "2031-1-1",
            "1969-12-31",
            "20310101xx",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
        assert!(check_reason("   ").is_err());
        assert!(check_reason(&"x".repeat(1001)).is_err());
        assert!(check_reason("a\u{7}b").is_err());
        assert_eq!(check_reason(" fine\nreason ").unwrap(), "fine\nreason");
        let today = date("2026-11-30");
        assert!(check_retain_until(today, today).is_err());
        assert!(check_retain_until(date("2020-01-01"), today).is_err());
        assert!(check_retain_until(date("2200-01-01"), today).is_err());
        assert!(check_retain_until(date("2031-01-01"), today).is_ok());
        assert_eq!(Decision::parse("dispose"), Ok(Decision::Dispose));
        assert!(Decision::parse("keep").is_err());
    }
}
