//! The period a report covers: two calendar dates, `YYYY-MM-DD`, both included. Parsing is
//! strict and explains itself in plain words, since the dates arrive from a URL or a command
//! line.

use chrono::NaiveDate;

use crate::error::{Error, Result};

/// The longest period one export may cover, in days (data minimisation: an export holds at
/// most a year of rows; the dashboard, which holds only totals, has no such limit).
pub const MAX_EXPORT_DAYS: i64 = 366;

/// Two dates, `from <= to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Parses a `YYYY-MM-DD` date; `what` names it in the error.
pub fn parse_date(what: &str, text: &str) -> Result<NaiveDate> {
    let t = text.trim();
    let shaped = t.len() == 10
        && t.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    let date = shaped
        .then(|| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
        .flatten();
    date.ok_or_else(|| {
        Error::InvalidInput(format!(
            "`{what}` must be a date written YYYY-MM-DD, for example 2026-03-31"
        ))
    })
}

impl Period {
    /// Parses `from` and `to`, which must both be given and in order.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Period> {
        let from = from.ok_or_else(|| Error::InvalidInput("`from` is missing".into()))?;
        let to = to.ok_or_else(|| Error::InvalidInput("`to` is missing".into()))?;
        let period = Period {
            from: parse_date("from", from)?,
            to: parse_date("to", to)?,
        };
        if period.from > period.to {
            return Err(Error::InvalidInput(
                "`from` must not be after `to`".to_string(),
            ));
        }
        Ok(period)
    }

    /// Days covered, both ends included.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// Refuses a period longer than an export may cover.
    pub fn check_export_length(&self) -> Result<()> {
        if self.days() > MAX_EXPORT_DAYS {
            return Err(Error::InvalidInput(format!(
                "an export covers at most {MAX_EXPORT_DAYS} days; this period has {}",
                self.days()
            )));
        }
        Ok(())
    }

    pub fn from_text(&self) -> String {
        self.from.format("%Y-%m-%d").to_string()
    }

    pub fn to_text(&self) -> String {
        self.to.format("%Y-%m-%d").to_string()
    }

    /// Whether a `YYYY-MM-DD` date lies inside.
    pub fn contains(&self, date: &str) -> bool {
        NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok_and(|d| self.from <= d && d <= self.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_dates_in_order() {
        let p = Period::parse(Some("2026-01-01"), Some("2026-12-31")).unwrap();
        assert_eq!(p.days(), 365);
        assert!(p.check_export_length().is_ok());
        assert!(p.contains("2026-01-01") && p.contains("2026-12-31"));
        assert!(!p.contains("2027-01-01") && !p.contains("nonsense"));
        for bad in [
            "2026-1-01",
            "2026/01/01",
            "2026-02-30",
            "01-01-2026",
            "2026-01-01T00:00",
            "",
            "２０２６-01-01",
        ] {
            assert!(
                Period::parse(Some(bad), Some("2026-12-31")).is_err(),
                "{bad}"
            );
        }
        assert!(Period::parse(Some("2026-02-01"), Some("2026-01-31")).is_err());
        assert!(Period::parse(None, Some("2026-01-31")).is_err());
        assert!(Period::parse(Some("2026-01-31"), None).is_err());
        let long = Period::parse(Some("2024-01-01"), Some("2025-01-01")).unwrap();
        assert_eq!(long.days(), 367);
        assert!(long.check_export_length().is_err());
        let leap = Period::parse(Some("2024-01-01"), Some("2024-12-31")).unwrap();
        assert!(leap.check_export_length().is_ok());
    }
}
