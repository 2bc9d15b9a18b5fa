//! The safeguarding team's dashboard: the figures of one division over one period, computed
//! from attendance rows, never entered by hand. Only totals leave here, never a row.
//!
//! Percentiles interpolate linearly between the closest ranks (the usual "type 7" method), so
//! the median of an even count is the mean of the middle two.

use serde::{Deserialize, Serialize};

use super::attendance::Attendance;
use super::period::Period;
use super::repeats::{Repeats, Sighting};
use crate::model::{Deployment, ReferralKind, RiskLevel, TriState};

/// How many rows have one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Count {
    pub key: String,
    #[ts(type = "number")]
    pub count: u64,
}

/// A yes / no / unknown measure, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Share {
    #[ts(type = "number")]
    pub yes: u64,
    #[ts(type = "number")]
    pub no: u64,
    #[ts(type = "number")]
    pub unknown: u64,
}

/// A distribution of durations in hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Hours {
    #[ts(type = "number")]
    pub count: u64,
    pub median: f64,
    pub p90: f64,
    pub mean: f64,
}

/// The figures of one division over one period (dates inclusive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Dashboard {
    pub division: String,
    /// YYYY-MM-DD, included.
    pub from: String,
    /// YYYY-MM-DD, included.
    pub to: String,
    #[ts(type = "number")]
    pub attendances: u64,
    /// `live`, `post_incident`, `consultation`, zero included.
    pub by_deployment: Vec<Count>,
    /// `high`, `medium`, `standard`, `unassessed`.
    pub by_risk: Vec<Count>,
    pub engaged_safeguarding: Share,
    pub engaged_investigation: Share,
    pub previously_engaged_safeguarding: Share,
    pub previously_engaged_investigation: Share,
    pub self_reported_repeat: Share,
    /// Distinct victims (by digest) attended in the period.
    #[ts(type = "number")]
    pub victims: u64,
    /// Of those, victims with another attendance on or before the period's end.
    #[ts(type = "number")]
    pub repeat_victims: u64,
    /// Hours from incident to first IDVA contact, where known.
    pub first_idva_contact: Option<Hours>,
    /// Every referral kind, zero included.
    pub referrals_by_kind: Vec<Count>,
}

impl Share {
    fn add(&mut self, v: TriState) {
        match v {
            TriState::Yes => self.yes += 1,
            TriState::No => self.no += 1,
            TriState::Unknown => self.unknown += 1,
        }
    }
}

/// The `q` quantile (0..=1) of sorted values, interpolating between the closest ranks.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// Summarises durations; `None` when there are none.
pub fn hours(values: &[f64]) -> Option<Hours> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    Some(Hours {
        count: v.len() as u64,
        median: quantile(&v, 0.5)?,
        p90: quantile(&v, 0.9)?,
        mean: v.iter().sum::<f64>() / v.len() as f64,
    })
}

fn count(key: &str, n: u64) -> Count {
    Count {
        key: key.to_string(),
        count: n,
    }
}

/// The dashboard of `division` over `period`. `rows` may hold more than the period (only the
/// division's attendances dated inside count); `sightings` are the victims' attendances before
/// the period (more do no harm), for repeat victims.
pub fn dashboard(
    division: &str,
    period: &Period,
    rows: &[Attendance],
    sightings: &[Sighting],
) -> Dashboard {
    let rows: Vec<&Attendance> = rows
        .iter()
        .filter(|a| a.counts() && a.division == division)
        .filter(|a| {
            a.incident_date
                .as_deref()
                .is_some_and(|d| period.contains(d))
        })
        .collect();
    let repeats = Repeats::new(sightings, rows.iter().copied());
    let to = period.to_text();

    let by_deployment = Deployment::ALL
        .iter()
        .map(|d| {
            count(
                d.as_str(),
                rows.iter().filter(|a| a.deployment == *d).count() as u64,
            )
        })
        .collect();
    let mut by_risk: Vec<Count> = [RiskLevel::High, RiskLevel::Medium, RiskLevel::Standard]
        .iter()
        .map(|l| {
            count(
                l.as_str(),
                rows.iter().filter(|a| a.risk_level == Some(*l)).count() as u64,
            )
        })
        .collect();
    by_risk.push(count(
        "unassessed",
        rows.iter().filter(|a| a.risk_level.is_none()).count() as u64,
    ));
    let share = |f: fn(&Attendance) -> TriState| {
        let mut s = Share::default();
        for a in &rows {
            s.add(f(a));
        }
        s
    };
    let mut victims: Vec<&str> = rows
        .iter()
        .filter_map(|a| a.victim_digest.as_deref())
        .collect();
    victims.sort_unstable();
    victims.dedup();
    let repeat_victims = victims.iter().filter(|d| repeats.is_repeat(d, &to)).count() as u64;
    let contact: Vec<f64> = rows
        .iter()
        .filter_map(|a| a.hours_to_first_idva_contact)
        .collect();
    let referrals_by_kind = ReferralKind::ALL
        .iter()
        .map(|k| count(k.as_str(), rows.iter().map(|a| a.referrals_of(*k)).sum()))
        .collect();

    Dashboard {
        division: division.to_string(),
        from: period.from_text(),
        to,
        attendances: rows.len() as u64,
        by_deployment,
        by_risk,
        engaged_safeguarding: share(|a| a.outcome.engaged_safeguarding),
        engaged_investigation: share(|a| a.outcome.engaged_investigation),
        previously_engaged_safeguarding: share(|a| a.outcome.previously_engaged_safeguarding),
        previously_engaged_investigation: share(|a| a.outcome.previously_engaged_investigation),
        self_reported_repeat: share(|a| a.outcome.repeat_victim),
        victims: victims.len() as u64,
        repeat_victims,
        first_idva_contact: hours(&contact),
        referrals_by_kind,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{ConsentAnswer, Status};
    use crate::report::attendance::{Outcomes, SupportGiven};

    fn row(id: &str, date: &str) -> Attendance {
        Attendance {
            case_id: id.into(),
            victim_digest: None,
            division: "west".into(),
            team: "t1".into(),
            deployment: Deployment::PostIncident,
            status: Status::Active,
            incident_date: Some(date.into()),
            risk_level: None,
            dash_score: None,
            marac_threshold_met: false,
            marac_referred: false,
            hours_to_first_idva_contact: None,
            visits: 0,
            visits_engaged: 0,
            support: SupportGiven::default(),
            referrals: ReferralKind::ALL
                .iter()
                .map(|k| (k.as_str().to_string(), 0))
                .collect::<BTreeMap<_, _>>(),
            consent: ConsentAnswer::NotAsked,
            outcome: Outcomes::default(),
            children: 0,
            children_present: 0,
            lookup: vec![],
        }
    }

    fn get(counts: &[Count], key: &str) -> u64 {
        counts.iter().find(|c| c.key == key).unwrap().count
    }

    #[test]
    fn quantiles_interpolate_between_ranks() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[4.0], 0.9), Some(4.0));
        assert_eq!(quantile(&[1.0, 3.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), Some(3.0));
        // position 0.9 * 9 = 8.1 between 9 and 10
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((quantile(&v, 0.9).unwrap() - 9.1).abs() < 1e-9);
        let h = hours(&[10.0, 2.0, 6.0]).unwrap();
        assert_eq!((h.count, h.median, h.mean), (3, 6.0, 6.0));
        assert!((h.p90 - 9.2).abs() < 1e-9);
        assert_eq!(hours(&[]), None);
    }

    #[test]
    fn figures_of_a_small_division() {
        let period = Period::parse(Some("2026-03-01"), Some("2026-03-31")).unwrap();
        let mut rows = Vec::new();

        let mut a = row("a", "2026-03-02");
        a.deployment = Deployment::Live;
        a.risk_level = Some(RiskLevel::High);
        a.victim_digest = Some("jane".into());
        a.outcome.engaged_safeguarding = TriState::Yes;
        a.outcome.repeat_victim = TriState::Yes;
        a.hours_to_first_idva_contact = Some(2.0);
        a.referrals.insert("marac".into(), 1);
        a.referrals.insert("housing".into(), 2);
        rows.push(a);

        let mut b = row("b", "2026-03-20");
        b.risk_level = Some(RiskLevel::Medium);
        b.victim_digest = Some("jane".into()); // Jane again, in the same month
        b.outcome.engaged_safeguarding = TriState::No;
        b.outcome.engaged_investigation = TriState::Yes;
        b.hours_to_first_idva_contact = Some(6.0);
        b.referrals.insert("housing".into(), 1);
        rows.push(b);

        let mut c = row("c", "2026-03-31");
        c.deployment = Deployment::Consultation;
        c.victim_digest = Some("amy".into()); // attended once before, in January
        c.hours_to_first_idva_contact = Some(10.0);
        rows.push(c);

        let mut d = row("d", "2026-03-15");
        d.risk_level = Some(RiskLevel::Standard); // no name: no digest
        rows.push(d);

        // not counted: triaged, outside the period, another division
        let mut t = row("t", "2026-03-10");
        t.status = Status::Triaged;
        t.victim_digest = Some("zoe".into());
        rows.push(t);
        let mut late = row("late", "2026-04-01");
        late.victim_digest = Some("jane".into());
        rows.push(late);
        let mut east = row("east", "2026-03-10");
        east.division = "east".into();
        rows.push(east);

        let sightings = vec![
            Sighting {
                victim_digest: "amy".into(),
                case_id: "old".into(),
                incident_date: "2026-01-05".into(),
            },
            Sighting {
                victim_digest: "ola".into(),
                case_id: "other".into(),
                incident_date: "2026-01-05".into(),
            },
        ];
        let d = dashboard("west", &period, &rows, &sightings);
        assert_eq!(
            (d.from.as_str(), d.to.as_str()),
            ("2026-03-01", "2026-03-31")
        );
        assert_eq!(d.attendances, 4);
        let keys: Vec<&str> = d.by_deployment.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["live", "post_incident", "consultation"]);
        assert_eq!(get(&d.by_deployment, "live"), 1);
        assert_eq!(get(&d.by_deployment, "post_incident"), 2);
        assert_eq!(get(&d.by_deployment, "consultation"), 1);
        let keys: Vec<&str> = d.by_risk.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["high", "medium", "standard", "unassessed"]);
        assert_eq!(
            d.by_risk.iter().map(|c| c.count).collect::<Vec<_>>(),
            [1, 1, 1, 1]
        );
        assert_eq!(
            d.engaged_safeguarding,
            Share {
                yes: 1,
                no: 1,
                unknown: 2
            }
        );
        assert_eq!(d.engaged_investigation.yes, 1);
        assert_eq!(d.self_reported_repeat.yes, 1);
        assert_eq!(d.previously_engaged_investigation.unknown, 4);
        assert_eq!(
            d.victims, 2,
            "jane and amy; the nameless case has no digest"
        );
        assert_eq!(d.repeat_victims, 2, "jane twice in March, amy once before");
        let h = d.first_idva_contact.unwrap();
        assert_eq!((h.count, h.median, h.mean), (3, 6.0, 6.0));
        assert_eq!(d.referrals_by_kind.len(), ReferralKind::ALL.len());
        assert_eq!(get(&d.referrals_by_kind, "housing"), 3);
        assert_eq!(get(&d.referrals_by_kind, "marac"), 1);
        assert_eq!(get(&d.referrals_by_kind, "refuge"), 0);

        // a period with nothing in it still names every key
        let empty = Period::parse(Some("2025-01-01"), Some("2025-01-31")).unwrap();
        let d = dashboard("west", &empty, &rows, &sightings);
        assert_eq!(d.attendances, 0);
        assert_eq!(d.by_deployment.len(), 3);
        assert_eq!(d.by_risk.len(), 4);
        assert_eq!(d.first_idva_contact, None);
        assert_eq!((d.victims, d.repeat_victims), (0, 0));
    }
}
