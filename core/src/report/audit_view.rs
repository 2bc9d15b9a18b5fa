//! Reading the server's audit log from a device: the query a supervisor sends and the rows
//! that come back. The same types are the server's answer and the UI's bindings.
//!
//! Times bound the log's `at` (RFC 3339, UTC, milliseconds): a date `YYYY-MM-DD` means the
//! whole UTC day, a full RFC 3339 time means that instant; both ends are included.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::period::parse_date;
use crate::error::{Error, Result};

/// Rows answered when the query names no limit.
pub const DEFAULT_AUDIT_LIMIT: u32 = 500;
/// The most rows one query may ask for.
pub const MAX_AUDIT_LIMIT: u32 = 5_000;
/// The longest filter value accepted.
const MAX_FILTER_LEN: usize = 128;

/// One entry of the server's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct AuditRow {
    #[ts(type = "number")]
    pub seq: u64,
    pub at: String,
    pub device: String,
    pub user: String,
    pub action: String,
    pub record: String,
    pub detail: String,
}

/// What to read of the audit log; every part is optional. Newest entries come first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    pub device: Option<String>,
    pub user: Option<String>,
    pub record: Option<String>,
    pub action: Option<String>,
    /// `YYYY-MM-DD` or an RFC 3339 time, included.
    pub from: Option<String>,
    /// `YYYY-MM-DD` or an RFC 3339 time, included.
    pub to: Option<String>,
    /// At most 5,000; 500 when not given.
    pub limit: Option<u32>,
}

/// Which audit entries to read, checked and made ready for storage: times as the log writes
/// them. What `AuditQuery::check` makes of a reader's query; the server's administrator
/// builds one directly (with no limit, for the whole log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckedAuditQuery {
    pub device: Option<String>,
    pub user: Option<String>,
    pub record: Option<String>,
    pub action: Option<String>,
    /// `at >= from`.
    pub from: Option<String>,
    /// `at < until`.
    pub until: Option<String>,
    /// At most this many entries; None for all of them.
    pub limit: Option<u32>,
}

fn log_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The first instant of a bound (`end` false) or the first instant after it (`end` true).
fn bound(what: &str, text: &str, end: bool) -> Result<String> {
    let t = text.trim();
    if t.len() == 10 {
        let day = parse_date(what, t)?;
        let day = if end { day.succ_opt() } else { Some(day) };
        let start = day
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .ok_or_else(|| Error::InvalidInput(format!("`{what}` is out of range")))?;
        return Ok(log_time(start.and_utc()));
    }
    let at = DateTime::parse_from_rfc3339(t)
        .map_err(|_| {
            Error::InvalidInput(format!(
                "`{what}` must be a date (YYYY-MM-DD) or a time (RFC 3339, for example 2026-03-31T14:00:00Z)"
            ))
        })?
        .with_timezone(&Utc);
    Ok(log_time(if end {
        at + Duration::milliseconds(1)
    } else {
        at
    }))
}

fn filter(what: &str, v: &Option<String>) -> Result<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.len() > MAX_FILTER_LEN || s.chars().any(char::is_control) => {
            Err(Error::InvalidInput(format!(
                "`{what}` must be at most {MAX_FILTER_LEN} printable characters"
            )))
        }
        Some(s) => Ok(Some(s.to_string())),
    }
}

impl AuditQuery {
    /// Checks every part; explains in plain words what is wrong.
    pub fn check(&self) -> Result<CheckedAuditQuery> {
        let limit = self.limit.unwrap_or(DEFAULT_AUDIT_LIMIT);
        if limit == 0 || limit > MAX_AUDIT_LIMIT {
            return Err(Error::InvalidInput(format!(
                "`limit` must be between 1 and {MAX_AUDIT_LIMIT}"
            )));
        }
        let from = filter("from", &self.from)?
            .map(|f| bound("from", &f, false))
            .transpose()?;
        let until = filter("to", &self.to)?
            .map(|t| bound("to", &t, true))
            .transpose()?;
        if let (Some(f), Some(u)) = (&from, &until) {
            if f >= u {
                return Err(Error::InvalidInput("`from` must not be after `to`".into()));
            }
        }
        Ok(CheckedAuditQuery {
            device: filter("device", &self.device)?,
            user: filter("user", &self.user)?,
            record: filter("record", &self.record)?,
            action: filter("action", &self.action)?,
            from,
            until,
            limit: Some(limit),
        })
    }

    /// The query as URL parameters (only the parts given).
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        let mut put = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                p.push((k, v.clone()));
            }
        };
        put("device", &self.device);
        put("user", &self.user);
        put("record", &self.record);
        put("action", &self.action);
        put("from", &self.from);
        put("to", &self.to);
        if let Some(l) = self.limit {
            p.push(("limit", l.to_string()));
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_cover_whole_days_and_times_are_exact() {
        let q = AuditQuery {
            from: Some("2026-03-01".into()),
            to: Some("2026-03-31".into()),
            device: Some("  ".into()),
            ..Default::default()
        }
        .check()
        .unwrap();
        assert_eq!(q.from.as_deref(), Some("2026-03-01T00:00:00.000Z"));
        assert_eq!(q.until.as_deref(), Some("2026-04-01T00:00:00.000Z"));
        assert_eq!((q.device, q.limit), (None, Some(DEFAULT_AUDIT_LIMIT)));
        let q = AuditQuery {
            from: Some("2026-03-01T10:00:00+01:00".into()),
            to: Some("2026-03-01T10:00:00Z".into()),
            ..Default::default()
        }
        .check()
        .unwrap();
        assert_eq!(q.from.as_deref(), Some("2026-03-01T09:00:00.000Z"));
        assert_eq!(q.until.as_deref(), Some("2026-03-01T10:00:00.001Z"));
    }

    #[test]
    fn bad_parts_are_refused() {
        for q in [
            AuditQuery {
                limit: Some(0),
                ..Default::default()
            },
            AuditQuery {
                limit: Some(5_001),
                ..Default::default()
            },
            AuditQuery {
                from: Some("yesterday".into()),
                ..Default::default()
            },
            AuditQuery {
                from: Some("2026-03-02".into()),
                to: Some("2026-03-01".into()),
                ..Default::default()
            },
            AuditQuery {
                user: Some("a\u{0}b".into()),
                ..Default::default()
            },
            AuditQuery {
                record: Some("x".repeat(129)),
                ..Default::default()
            },
        ] {
            assert!(q.check().is_err(), "{q:?}");
        }
        assert_eq!(
            AuditQuery {
                limit: Some(5_000),
                ..Default::default()
            }
            .check()
            .unwrap()
            .limit,
            Some(5_000)
        );
    }

    #[test]
    fn pairs_name_only_what_is_given() {
        let q = AuditQuery {
            action: Some("export".into()),
            limit: Some(10),
            ..Default::default()
        };
        assert_eq!(
            q.to_pairs(),
            vec![
                ("action", "export".to_string()),
                ("limit", "10".to_string())
            ]
        );
    }
}
