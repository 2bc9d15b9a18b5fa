//! Failed credentials and enrolment codes: throttled and audited, in bounded memory.
//!
//! Each source address (an IPv6 address by its /64) and each enrolled device that a wrong
//! credential named has a bucket of `failures_burst` failures, refilled one per
//! `failure_refill`. While a bucket is empty the source or device is answered `throttled` (429,
//! `Retry-After`) before its request reaches the store. Only failures spend. So that wrong
//! guesses at a device cannot lock the device itself out, a device's bucket keeps the hash of
//! its credential (taken from the store at the first failure): while the bucket is empty the
//! right credential still passes, checked in memory, and every wrong one is refused unchecked.
//! Likewise a device that authenticated lately is vouched for (its credential's hash kept in
//! memory), so an attacker sharing its address (one NAT, one mobile gateway) does not lock it
//! out: through a throttled source only a vouched device's right credential passes.
//!
//! Every refusal is counted for the audit log, one entry per (action, source, device) per
//! `audit_window` with the counts, so a flood writes a handful of rows, not one per attempt.
//! Both tables are capped at `max_tracked` entries: past that, new sources share one bucket
//! and one tally ("many"), so an attacker with many addresses cannot grow them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::limits::Limits;
use crate::storage::AuditEvent;

/// Who a bucket or tally is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Source(IpAddr),
    Device(String),
    /// Everyone who arrived after the table was full.
    Many,
}

/// The address as throttled: IPv4 whole, IPv6 by its /64 (one subscriber's whole range).
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// For a device: the hash of its credential, so the right one passes while throttled.
    proof: Option<String>,
}

/// What was refused, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// A wrong, unknown or used enrolment code.
    Enrol,
    /// A missing, unknown or wrong device credential.
    Auth,
}

impl Refusal {
    pub fn action(self) -> &'static str {
        match self {
            Refusal::Enrol => "enrol_refused",
            Refusal::Auth => "auth_refused",
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Checked against the store and refused.
    refused: u64,
    /// Refused unchecked because the source or device was throttled.
    throttled: u64,
}

/// (action, source, device, user) of one audit tally.
type TallyKey = (Refusal, Key, String, String);

pub struct Throttle {
    burst: f64,
    refill: Duration,
    max_tracked: usize,
    buckets: Mutex<HashMap<Key, Bucket>>,
    tally: Mutex<HashMap<TallyKey, Counts>>,
    /// Devices that authenticated lately: device id → credential hash.
    vouched: Mutex<HashMap<String, String>>,
}

impl Throttle {
    pub fn new(limits: &Limits) -> Self {
        Throttle {
            burst: f64::from(limits.failures_burst.max(1)),
            refill: limits.failure_refill.max(Duration::from_millis(1)),
            max_tracked: limits.max_tracked.max(1),
            buckets: Mutex::new(HashMap::new()),
            tally: Mutex::new(HashMap::new()),
            vouched: Mutex::new(HashMap::new()),
        }
    }

    /// Remembers a device that just authenticated (only real devices reach here, but the
    /// table is capped all the same: when full it starts again).
    pub fn vouch(&self, device: &str, credential_hash: &str) {
        let mut v = self.vouched.lock().unwrap_or_else(|e| e.into_inner());
        if v.get(device).map(String::as_str) == Some(credential_hash) {
            return;
        }
        if v.len() >= self.max_tracked {
            v.clear();
        }
        v.insert(device.to_string(), credential_hash.to_string());
    }

    /// Whether `claim` (device id, secret) is the right credential of a vouched device.
    pub fn vouched_for(&self, claim: Option<(&str, &str)>) -> bool {
        let Some((id, secret)) = claim else {
            return false;
        };
        let v = self.vouched.lock().unwrap_or_else(|e| e.into_inner());
        v.get(id)
            .is_some_and(|hash| crate::credentials::matches(secret, hash))
    }

    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        let gained = now.saturating_duration_since(b.at).as_secs_f64() / self.refill.as_secs_f64();
        (b.tokens + gained).min(self.burst)
    }

    /// Whether `keys` may try: `Err(seconds to wait)` while any of their buckets is empty.
    /// `claim` (device id, secret) passes an empty bucket when it is the right credential of
    /// the device the bucket is for, or of a vouched device.
    pub fn check(&self, keys: &[Key], claim: Option<(&str, &str)>) -> Result<(), u64> {
        let secret = claim.map(|(_, s)| s);
        let vouched = self.vouched_for(claim);
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = 0.0f64;
        for key in keys {
            let bucket = match buckets.get(key) {
                Some(b) => Some(b),
                None if buckets.len() >= self.max_tracked => buckets.get(&Key::Many),
                None => None,
            };
            if let Some(b) = bucket {
                let tokens = self.refilled(b, now);
                let proven = matches!((&b.proof, secret),
                    (Some(hash), Some(secret)) if crate::credentials::matches(secret, hash));
                if tokens < 1.0 && !proven && !vouched {
                    wait = wait.max((1.0 - tokens) * self.refill.as_secs_f64());
                }
            }
        }
        if wait > 0.0 {
            Err(wait.ceil().max(1.0) as u64)
        } else {
            Ok(())
        }
    }

    /// Takes one attempt from `key`'s bucket before the attempt is checked, once the key has
    /// failed before, so that many attempts at once cannot all pass `check` before the first
    /// of them fails; returns what was taken, to `refund` when the attempt succeeds. A key
    /// that never failed takes nothing (many honest devices behind one address may sync at
    /// once); its first wave of failures is counted as each fails.
    pub fn take(&self, key: &Key) -> Option<f64> {
        let now = Instant::now();
        let before = {
            let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            self.refilled(buckets.get(key)?, now)
        };
        self.failed(std::slice::from_ref(key), None);
        Some(before.min(1.0))
    }

    /// Gives back what `take` took, for an attempt that succeeded.
    pub fn refund(&self, key: &Key, taken: f64) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = buckets.get_mut(key) {
            b.tokens = (self.refilled(b, now) + taken).min(self.burst);
            b.at = now;
        }
    }

    /// Spends one failure from each of `keys`' buckets; `proof` is the stored credential hash
    /// of the device among them.
    pub fn failed(&self, keys: &[Key], proof: Option<&str>) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            if !buckets.contains_key(key) && buckets.len() >= self.max_tracked {
                // full buckets hold nothing worth keeping
                buckets.retain(|_, b| self.refilled(b, now) < self.burst);
            }
            let key = if buckets.contains_key(key) || buckets.len() < self.max_tracked {
                key.clone()
            } else {
                Key::Many
            };
            let tokens = buckets
                .get(&key)
                .map_or(self.burst, |b| self.refilled(b, now));
            let proof = match key {
                Key::Device(_) => proof.map(str::to_string),
                _ => None,
            };
            buckets.insert(
                key,
                Bucket {
                    tokens: (tokens - 1.0).max(0.0),
                    at: now,
                    proof,
                },
            );
        }
    }

    /// Counts a refusal for the audit log: `throttled` when it was refused unchecked.
    pub fn count(&self, what: Refusal, source: Key, device: &str, user: &str, throttled: bool) {
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = (what, source, device.to_string(), user.to_string());
        if !tally.contains_key(&key) && tally.len() >= self.max_tracked {
            key = (what, Key::Many, String::new(), String::new());
        }
        let c = tally.entry(key).or_default();
        if throttled {
            c.throttled += 1;
        } else {
            c.refused += 1;
        }
    }

    /// The counted refusals as audit entries, emptying the tally.
    pub fn drain_audit(&self) -> Vec<AuditEvent> {
        let drained: Vec<_> = {
            let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
            tally.drain().collect()
        };
        drained
            .into_iter()
            .map(|((what, source, device, user), c)| {
                let source = match source {
                    Key::Source(ip) => ip.to_string(),
                    Key::Device(_) | Key::Many => "many".to_string(),
                };
                AuditEvent {
                    device,
                    user,
                    action: what.action().to_string(),
                    record: String::new(),
                    detail: format!(
                        "source={source} refused={} throttled={}",
                        c.refused, c.throttled
                    ),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(burst: u32, max_tracked: usize) -> Limits {
        Limits {
            failures_burst: burst,
            failure_refill: Duration::from_secs(3600),
            max_tracked,
            ..Limits::default()
        }
    }

    #[test]
    fn a_source_is_stopped_after_its_burst() {
        let t = Throttle::new(&limits(3, 100));
        let k = [Key::Source("192.0.2.1".parse().unwrap())];
        for _ in 0..3 {
            assert!(t.check(&k, None).is_ok());
            t.failed(&k, None);
        }
        let wait = t.check(&k, None).unwrap_err();
        assert!((1..=3600).contains(&wait), "{wait}");
        // another source is untouched
        assert!(t
            .check(&[Key::Source("192.0.2.2".parse().unwrap())], None)
            .is_ok());
    }

    #[test]
    fn a_throttled_device_still_lets_its_own_credential_through() {
        let t = Throttle::new(&limits(2, 100));
        let (cred, hash) = crate::credentials::new_credential("dev-1");
        let (_, secret) = crate::credentials::split_credential(&cred).unwrap();
        let k = [Key::Device("dev-1".into())];
        t.failed(&k, Some(&hash));
        t.failed(&k, Some(&hash));
        let wrong = "0".repeat(64);
        assert!(t.check(&k, Some(("dev-1", &wrong))).is_err());
        assert!(t.check(&k, None).is_err());
        assert!(t.check(&k, Some(("dev-1", secret))).is_ok());
    }

    #[test]
    fn a_vouched_device_passes_a_throttled_source_and_nothing_else_does() {
        let t = Throttle::new(&limits(1, 100));
        let (cred, hash) = crate::credentials::new_credential("dev-2");
        let (_, secret) = crate::credentials::split_credential(&cred).unwrap();
        let k = [Key::Source("192.0.2.9".parse().unwrap())];
        t.failed(&k, None);
        assert!(
            t.check(&k, Some(("dev-2", secret))).is_err(),
            "not yet vouched"
        );
        t.vouch("dev-2", &hash);
        assert!(t.check(&k, Some(("dev-2", secret))).is_ok());
        assert!(t.check(&k, Some(("dev-2", &"1".repeat(64)))).is_err());
        assert!(t.check(&k, Some(("dev-3", secret))).is_err());
    }

    #[test]
    fn the_tables_stay_bounded_and_newcomers_share_a_bucket() {
        let t = Throttle::new(&limits(2, 4));
        for i in 0..100u8 {
            let k = [Key::Source(IpAddr::from([198, 51, 100, i]))];
            t.failed(&k, None);
            t.count(Refusal::Enrol, k[0].clone(), "", "", false);
        }
        assert!(t.buckets.lock().unwrap().len() <= 5);
        assert!(t.tally.lock().unwrap().len() <= 5);
        // the shared bucket is long spent
        assert!(t
            .check(&[Key::Source(IpAddr::from([203, 0, 113, 9]))], None)
            .is_err());
        let rows = t.drain_audit();
        let total: u64 = rows
            .iter()
            .map(|r| {
                r.detail
                    .split(' ')
                    .find_map(|f| f.strip_prefix("refused="))
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        assert_eq!(total, 100);
        assert!(t.drain_audit().is_empty());
    }

    #[test]
    fn attempts_at_once_take_their_tokens_before_they_are_checked() {
        let t = Throttle::new(&limits(3, 100));
        let k = Key::Source("192.0.2.3".parse().unwrap());
        // attempts in flight at once: the next must wait although they have not failed yet
        // a clean key takes nothing; once it has failed, attempts take before they are checked
        assert_eq!(t.take(&k), None);
        t.failed(std::slice::from_ref(&k), None);
        let taken: Vec<f64> = (0..2)
            .map(|_| {
                assert!(t.check(std::slice::from_ref(&k), None).is_ok());
                t.take(&k).unwrap()
            })
            .collect();
        assert!(t.check(std::slice::from_ref(&k), None).is_err());
        // one succeeds: its token comes back
        t.refund(&k, taken[0]);
        assert!(t.check(std::slice::from_ref(&k), None).is_ok());
    }

    #[test]
    fn ipv6_is_throttled_by_its_prefix() {
        let a = source_of("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = source_of("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        let v4 = source_of("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(v4, "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
