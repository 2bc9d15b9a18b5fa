//! The time of an Automerge change. Automerge specifies seconds since the epoch, and that is
//! what this device writes. Releases before issue 14 wrote milliseconds, and documents (and
//! devices not yet upgraded) still hold and send them, so a reader takes a value too large to
//! be plausible seconds (after the year 3000) as legacy milliseconds. Every reader of
//! `Change::timestamp()` (history, conflicts, the server's clock check) goes through here.

use chrono::{DateTime, Utc};

/// 3000-01-01T00:00:00Z in seconds: a larger change time is legacy milliseconds (in
/// milliseconds it is January 1971, which no device ever wrote).
pub const LAST_PLAUSIBLE_SECONDS: i64 = 32_503_680_000;

/// The time to write in a change made now: seconds, as Automerge specifies.
pub fn now() -> i64 {
    Utc::now().timestamp()
}

/// A change's time in milliseconds since the epoch, whichever unit it was written in.
pub fn change_time_ms(timestamp: i64) -> i64 {
    if timestamp > LAST_PLAUSIBLE_SECONDS {
        timestamp
    } else {
        timestamp.saturating_mul(1000)
    }
}

/// A change's time, whichever unit it was written in (`None` beyond what a date can hold).
pub fn change_time(timestamp: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(change_time_ms(timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn seconds_and_legacy_milliseconds_read_as_the_same_time() {
        let t = at("2026-11-30T10:15:42Z");
        assert_eq!(change_time(t.timestamp()), Some(t));
        assert_eq!(change_time(t.timestamp_millis()), Some(t));
        let with_ms = at("2026-11-30T10:15:42.123Z");
        assert_eq!(change_time(with_ms.timestamp_millis()), Some(with_ms));
        assert_eq!(change_time_ms(t.timestamp()), t.timestamp_millis());
        assert_eq!(change_time_ms(t.timestamp_millis()), t.timestamp_millis());
    }

    #[test]
    fn the_boundary_is_the_year_3000_in_seconds() {
        assert_eq!(
            change_time(LAST_PLAUSIBLE_SECONDS),
            Some(at("3000-01-01T00:00:00Z"))
        );
        // one more is milliseconds: early 1971
        assert_eq!(
            change_time(LAST_PLAUSIBLE_SECONDS + 1),
            Some(at("1971-01-12T04:48:00.001Z"))
        );
        assert_eq!(change_time(0), Some(at("1970-01-01T00:00:00Z")));
    }

    #[test]
    fn any_value_is_read_without_panicking() {
        for t in [i64::MIN, -1, i64::MAX, i64::MAX / 1000 + 1] {
            let _ = change_time(t);
            let _ = change_time_ms(t);
        }
        assert_eq!(change_time(i64::MAX), None);
        assert_eq!(change_time_ms(i64::MIN), i64::MIN);
    }

    #[test]
    fn now_is_seconds() {
        let n = now();
        assert!(n <= LAST_PLAUSIBLE_SECONDS);
        assert!((n - Utc::now().timestamp()).abs() <= 60);
    }
}
