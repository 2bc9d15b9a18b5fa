//! Reports over real HTTP on loopback, from cases made on real encrypted devices and synced
//! through a real server (SQLite, or PostgreSQL under `scripts/with-postgres.sh`):
//! - the dashboard equals figures computed here, independently, from the fixture;
//! - the export holds no name, address, phone number, date of birth or free text of the
//!   fixture, in CSV or JSON, and its pseudonyms are stable, shared by a victim's cases,
//!   different under another report key and not an unkeyed hash;
//! - role rules; every export and audit read is audited; bad input is a 400 that changes
//!   nothing; rows missing from the projection are derived again when the store opens.
//!
//! Every person here is fictional.

use std::collections::{BTreeMap, BTreeSet};

use chrono::DateTime;
use provide_core::forms::AssessmentInput;
use provide_core::model::Deployment;
use provide_core::report::export::columns;
use provide_core::report::{AuditQuery, Dashboard, ExportFormat, Period};
use provide_core::sync::reports;
use provide_core::Error;
use provide_sync_server::service::reports::Requester;
use provide_tests::{sets, Device, TestServer};
use sha2::{Digest, Sha256};

const FROM: &str = "2025-03-01";
const TO: &str = "2025-03-31";

/// Who records a case.
#[derive(Clone, Copy, PartialEq)]
enum By {
    Officer,
    Safeguarding,
    EastOfficer,
}

/// One fictional case, as the test intends it.
struct Spec {
    by: By,
    deployment: &'static str,
    status: &'static str,
    name: &'static str,
    dob: Option<&'static str>,
    address: &'static str,
    phone: &'static str,
    reference: &'static str,
    occurred_at: &'static str,
    visits: Vec<(&'static str, &'static str)>,
    /// Yes answers on an officer's DASH.
    dash_yes: Option<usize>,
    /// An officer's DARA level.
    dara: Option<&'static str>,
    support: Vec<&'static str>,
    referrals: Vec<&'static str>,
    consent: &'static str,
    /// engaged_safeguarding, engaged_investigation, previously_engaged_safeguarding,
    /// previously_engaged_investigation, repeat_victim
    outcome: [&'static str; 5],
    children: Vec<(&'static str, Option<bool>)>,
    note: &'static str,
}

fn spec(name: &'static str, occurred_at: &'static str) -> Spec {
    Spec {
        by: By::Officer,
        deployment: "post_incident",
        status: "active",
        name,
        dob: None,
        address: "",
        phone: "",
        reference: "",
        occurred_at,
        visits: vec![],
        dash_yes: None,
        dara: None,
        support: vec![],
        referrals: vec![],
        consent: "not_asked",
        outcome: ["unknown"; 5],
        children: vec![],
        note: "",
    }
}

fn fixture() -> Vec<Spec> {
    vec![
        // Jane (1990) before the period: makes her March case a repeat
        Spec {
            dob: Some("1990-02-03"),
            address: "1 Example Street, Fictiontown",
            phone: "07700 900111",
            reference: "WE-000101-FICT",
            note: "Jane asked for a call back after six",
            ..spec("Jane Fictional", "2025-01-10T10:00:00Z")
        },
        Spec {
            deployment: "live",
            status: "handed_over",
            dob: Some("1990-02-03"),
            address: "1 Example Street, Fictiontown",
            phone: "07700 900111",
            reference: "WE-000102-FICT",
            visits: vec![("2025-03-03T22:30:00Z", "engaged")],
            dash_yes: Some(15),
            support: vec!["risk_assessment", "safety_planning"],
            referrals: vec!["marac", "housing"],
            consent: "yes",
            outcome: ["yes", "yes", "no", "unknown", "yes"],
            children: vec![("Amelia Fictional", Some(true)), ("Ben Fictional", None)],
            note: "Perpetrator Mark Placeholder left before police arrived",
            ..spec(" jane  FICTIONAL ", "2025-03-03T21:00:00Z")
        },
        // another Jane Fictional: a different date of birth is a different person
        Spec {
            dob: Some("1985-07-07"),
            address: "9 Sample Close, Exampleby",
            phone: "07700 900222",
            visits: vec![
                ("2025-03-10T10:00:00Z", "no_answer"),
                ("2025-03-11T09:00:00Z", "engaged"),
            ],
            dash_yes: Some(5),
            support: vec!["emotional_support"],
            outcome: ["no", "unknown", "unknown", "no", "no"],
            note: "Spoke with Jane at the surgery",
            ..spec("Jane Fictional", "2025-03-10T09:00:00Z")
        },
        Spec {
            deployment: "consultation",
            status: "closed",
            dob: Some("1992-11-11"),
            address: "4 Placeholder Lane, Testham",
            phone: "07700 900333",
            dara: Some("medium"),
            referrals: vec!["refuge"],
            consent: "no",
            outcome: ["unknown", "no", "yes", "unknown", "unknown"],
            note: "Advice given to PC Ada about Amy",
            ..spec("Amy Example", "2025-03-15T12:00:00Z")
        },
        Spec {
            dob: Some("1992-11-11"),
            address: "4 Placeholder Lane, Testham",
            phone: "07700 900333",
            visits: vec![
                ("2025-03-28T18:00:00Z", "engaged"),
                ("2025-03-29T18:00:00Z", "declined"),
            ],
            support: vec!["information_signposting", "social_welfare"],
            referrals: vec!["housing", "mental_health"],
            consent: "yes",
            outcome: ["yes", "unknown", "unknown", "unknown", "yes"],
            children: vec![("Cara Example", Some(false))],
            ..spec("Amy Example", "2025-03-28T08:00:00Z")
        },
        Spec {
            dob: Some("2000-01-01"),
            address: "7 Specimen Road, Mockford",
            phone: "07700 900444",
            visits: vec![("2025-03-20T02:30:00Z", "engaged")],
            outcome: ["yes", "yes", "unknown", "unknown", "no"],
            note: "Zoe is staying with her sister",
            ..spec("Zoe Sample", "2025-03-20T00:30:00Z")
        },
        // triaged by safeguarding: not an attendance, so Zoe is no repeat victim
        Spec {
            by: By::Safeguarding,
            status: "triaged",
            dob: Some("2000-01-01"),
            address: "7 Specimen Road, Mockford",
            ..spec("Zoe Sample", "2025-03-21T10:00:00Z")
        },
        // no name: an attendance, but no victim and never a repeat
        Spec {
            deployment: "live",
            visits: vec![("2025-03-05T16:00:00Z", "engaged")],
            outcome: ["no", "no", "unknown", "unknown", "unknown"],
            ..spec("", "2025-03-05T10:00:00Z")
        },
        // Amy after the period's end: not in March, and no repeat for March
        Spec {
            dob: Some("1992-11-11"),
            ..spec("Amy Example", "2025-04-02T10:00:00Z")
        },
        // Jane (1990) in another division: not this division's
        Spec {
            by: By::EastOfficer,
            dob: Some("1990-02-03"),
            address: "1 Example Street, Fictiontown",
            visits: vec![("2025-03-12T12:00:00Z", "engaged")],
            ..spec("Jane Fictional", "2025-03-12T09:00:00Z")
        },
    ]
}

/// Every identifying or free-text value of the fixture, to look for in exports.
fn identifiers(specs: &[Spec]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in specs {
        let name = s.name.trim();
        for v in [name, s.address, s.phone, s.reference, s.note] {
            if !v.is_empty() {
                out.insert(v.to_string());
            }
        }
        for part in name.split_whitespace() {
            out.insert(part.to_string());
            out.insert(part.to_lowercase());
        }
        if let Some(d) = s.dob {
            out.insert(d.to_string());
        }
        for (child, _) in &s.children {
            out.insert(child.to_string());
        }
    }
    for v in ["Mark Placeholder", "pc.ada.fictional", "idva.bea.fictional"] {
        out.insert(v.to_string());
    }
    out
}

struct World {
    server: TestServer,
    officer: Device,
    idva: Device,
    safeguarding: Device,
    east_safeguarding: Device,
    east_officer: Device,
    admin: Device,
    specs: Vec<Spec>,
    /// Case ids, in fixture order.
    ids: Vec<String>,
}

fn dash_input(yes: usize) -> AssessmentInput {
    let def = provide_core::forms::latest("dash").unwrap();
    AssessmentInput {
        answers: def
            .question_ids()
            .enumerate()
            .map(|(i, q)| {
                (
                    q.to_string(),
                    if i < yes { "yes" } else { "no" }.to_string(),
                )
            })
            .collect(),
        ..Default::default()
    }
}

/// Records one spec on its creator's device; IDVA work is done on the IDVA's device later.
fn record(d: &mut Device, s: &Spec) -> String {
    let deployment = Deployment::parse(s.deployment).unwrap();
    let mut fields = vec![
        ("victim.name", s.name),
        ("incident.occurred_at", s.occurred_at),
        ("victim.address", s.address),
        ("victim.phone", s.phone),
        ("incident.reference", s.reference),
        ("consent.information_sharing", s.consent),
        ("outcome.engaged_safeguarding", s.outcome[0]),
        ("outcome.engaged_investigation", s.outcome[1]),
        ("outcome.previously_engaged_safeguarding", s.outcome[2]),
        ("outcome.previously_engaged_investigation", s.outcome[3]),
        ("outcome.repeat_victim", s.outcome[4]),
    ];
    if let Some(dob) = s.dob {
        fields.push(("victim.dob", dob));
    }
    let id = d.store.create_case(deployment, &sets(&fields)).unwrap();
    if s.status != "active" && s.by != By::Safeguarding {
        d.store
            .set_case_fields(&id, &sets(&[("status", s.status)]))
            .unwrap();
    }
    for (at, outcome) in &s.visits {
        d.store
            .add_case_item(
                &id,
                "visits",
                &serde_json::json!({ "at": at, "outcome": outcome, "notes": s.note }),
            )
            .unwrap();
    }
    if !s.note.is_empty() {
        d.store
            .add_case_item(&id, "notes", &serde_json::json!({ "text": s.note }))
            .unwrap();
    }
    for (name, present) in &s.children {
        d.store
            .add_case_item(
                &id,
                "children",
                &serde_json::json!({ "name": name, "present_at_incident": present }),
            )
            .unwrap();
    }
    if let Some(yes) = s.dash_yes {
        d.store.assess(&id, "dash", &dash_input(yes)).unwrap();
    }
    if let Some(level) = s.dara {
        let input = AssessmentInput {
            judgement_level: Some(level.to_string()),
            ..Default::default()
        };
        d.store.assess(&id, "dara", &input).unwrap();
    }
    id
}

impl World {
    fn build() -> World {
        let server = TestServer::start();
        let mut officer = Device::enrol(&server, "pc.ada.fictional", "officer", "west", "t1");
        let mut idva = Device::enrol(&server, "idva.bea.fictional", "idva", "west", "t1");
        let mut safeguarding =
            Device::enrol(&server, "sg.cal.fictional", "safeguarding", "west", "");
        let mut east_safeguarding =
            Device::enrol(&server, "sg.dee.fictional", "safeguarding", "east", "");
        let mut east_officer = Device::enrol(&server, "pc.eli.fictional", "officer", "east", "e1");
        let admin = Device::enrol(&server, "admin.fay.fictional", "admin", "", "");
        let specs = fixture();
        let mut ids = Vec::new();
        for s in &specs {
            let d = match s.by {
                By::Officer => &mut officer,
                By::Safeguarding => &mut safeguarding,
                By::EastOfficer => &mut east_officer,
            };
            ids.push(record(d, s));
        }
        officer.sync().unwrap();
        safeguarding.sync().unwrap();
        east_officer.sync().unwrap();
        // the IDVA's part: support given and referrals made
        idva.sync().unwrap();
        for (s, id) in specs.iter().zip(&ids) {
            if s.by != By::Officer {
                continue;
            }
            let support: Vec<(String, String)> = s
                .support
                .iter()
                .map(|k| (format!("support.{k}"), "true".to_string()))
                .collect();
            if !support.is_empty() {
                idva.store.set_case_fields(id, &support).unwrap();
            }
            for kind in &s.referrals {
                idva.store
                    .add_case_item(
                        id,
                        "referrals",
                        &serde_json::json!({ "kind": kind, "service": "A Fictional Service", "notes": s.note }),
                    )
                    .unwrap();
            }
        }
        idva.sync().unwrap();
        safeguarding.sync().unwrap();
        east_safeguarding.sync().unwrap();
        World {
            server,
            officer,
            idva,
            safeguarding,
            east_safeguarding,
            east_officer,
            admin,
            specs,
            ids,
        }
    }
}

fn credential(d: &Device) -> String {
    d.store.server_link().unwrap().credential.to_string()
}

fn dashboard_of(d: &mut Device, from: &str, to: &str) -> provide_core::Result<Dashboard> {
    let c = credential(d);
    reports::dashboard(&mut d.transport, &c, from, to)
}

fn export_of(d: &mut Device, format: ExportFormat) -> provide_core::Result<String> {
    let c = credential(d);
    reports::export(&mut d.transport, &c, FROM, TO, format)
}

fn audit_of(
    d: &mut Device,
    q: &AuditQuery,
) -> provide_core::Result<Vec<provide_core::report::AuditRow>> {
    let c = credential(d);
    reports::audit(&mut d.transport, &c, q)
}

fn refused_with(r: provide_core::Result<impl std::fmt::Debug>, status: u16, code: &str) {
    match r {
        Err(Error::ServerRefused {
            status: s, code: c, ..
        }) => assert_eq!((s, c.as_str()), (status, code)),
        other => panic!("expected {status} {code}, got {other:?}"),
    }
}

fn audit_rows(w: &World, action: &str) -> Vec<provide_core::report::AuditRow> {
    w.server
        .service
        .storage
        .audit(&provide_sync_server::storage::AuditFilter {
            entries: provide_core::report::CheckedAuditQuery {
                action: Some(action.into()),
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap()
}

// ---- the figures, computed independently of provide-core's report module

fn identity(s: &Spec) -> Option<String> {
    let name = s
        .name
        .split_whitespace()
        .map(|p| p.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then(|| format!("{name}|{}", s.dob.unwrap_or("")))
}

fn date_of(s: &Spec) -> &str {
    &s.occurred_at[..10]
}

fn in_march(s: &Spec) -> bool {
    (FROM..=TO).contains(&date_of(s))
}

fn attends_west(s: &Spec) -> bool {
    s.status != "triaged" && s.by != By::EastOfficer
}

fn first_contact_hours(s: &Spec) -> Option<f64> {
    let incident = DateTime::parse_from_rfc3339(s.occurred_at).unwrap();
    s.visits
        .iter()
        .filter(|(_, o)| *o == "engaged")
        .map(|(at, _)| DateTime::parse_from_rfc3339(at).unwrap())
        .filter(|t| *t >= incident)
        .map(|t| ((t - incident).num_seconds() as f64 / 360.0).round() / 10.0)
        .reduce(f64::min)
}

fn risk_of(s: &Spec) -> &'static str {
    match (s.dash_yes, s.dara) {
        (Some(y), _) if y >= 14 => "high",
        (Some(y), _) if y >= 10 => "medium",
        (Some(_), _) => "standard",
        (None, Some(l)) => match l {
            "high" => "high",
            "medium" => "medium",
            _ => "standard",
        },
        (None, None) => "unassessed",
    }
}

#[test]
fn the_dashboard_equals_figures_computed_from_the_fixture() {
    let mut w = World::build();
    let d = dashboard_of(&mut w.safeguarding, FROM, TO).unwrap();

    let rows: Vec<&Spec> = w
        .specs
        .iter()
        .filter(|s| attends_west(s) && in_march(s))
        .collect();
    assert_eq!(rows.len(), 6, "the fixture has six attendances in March");
    assert_eq!(
        (d.division.as_str(), d.from.as_str(), d.to.as_str()),
        ("west", FROM, TO)
    );
    assert_eq!(d.attendances, rows.len() as u64);

    let count = |counts: &[provide_core::report::Count]| -> BTreeMap<String, u64> {
        counts.iter().map(|c| (c.key.clone(), c.count)).collect()
    };
    let mut want = BTreeMap::new();
    for k in ["live", "post_incident", "consultation"] {
        want.insert(
            k.to_string(),
            rows.iter().filter(|s| s.deployment == k).count() as u64,
        );
    }
    assert_eq!(count(&d.by_deployment), want);
    let mut want = BTreeMap::new();
    for k in ["high", "medium", "standard", "unassessed"] {
        want.insert(
            k.to_string(),
            rows.iter().filter(|s| risk_of(s) == k).count() as u64,
        );
    }
    assert_eq!(count(&d.by_risk), want);

    let share = |i: usize| {
        let n = |v: &str| rows.iter().filter(|s| s.outcome[i] == v).count() as u64;
        (n("yes"), n("no"), n("unknown"))
    };
    let got = |s: provide_core::report::Share| (s.yes, s.no, s.unknown);
    assert_eq!(got(d.engaged_safeguarding), share(0));
    assert_eq!(got(d.engaged_investigation), share(1));
    assert_eq!(got(d.previously_engaged_safeguarding), share(2));
    assert_eq!(got(d.previously_engaged_investigation), share(3));
    assert_eq!(got(d.self_reported_repeat), share(4));

    let victims: BTreeSet<String> = rows.iter().filter_map(|s| identity(s)).collect();
    assert_eq!(d.victims, victims.len() as u64);
    let repeats = victims
        .iter()
        .filter(|v| {
            w.specs
                .iter()
                .filter(|s| attends_west(s) && date_of(s) <= TO)
                .filter(|s| identity(s).as_ref() == Some(*v))
                .count()
                >= 2
        })
        .count() as u64;
    assert_eq!(d.repeat_victims, repeats);
    assert_eq!((d.victims, d.repeat_victims), (4, 2));

    let mut hours: Vec<f64> = rows.iter().filter_map(|s| first_contact_hours(s)).collect();
    hours.sort_by(f64::total_cmp);
    let h = d.first_idva_contact.expect("contact times are known");
    assert_eq!(h.count, hours.len() as u64);
    let n = hours.len();
    let median = if n % 2 == 1 {
        hours[n / 2]
    } else {
        (hours[n / 2 - 1] + hours[n / 2]) / 2.0
    };
    let pos = 0.9 * (n - 1) as f64;
    let p90 =
        hours[pos as usize] + (hours[pos.ceil() as usize] - hours[pos as usize]) * pos.fract();
    let mean = hours.iter().sum::<f64>() / n as f64;
    assert!((h.median - median).abs() < 1e-9, "{} vs {median}", h.median);
    assert!((h.p90 - p90).abs() < 1e-9, "{} vs {p90}", h.p90);
    assert!((h.mean - mean).abs() < 1e-9, "{} vs {mean}", h.mean);

    let mut want: BTreeMap<String, u64> = provide_core::model::ReferralKind::NAMES
        .iter()
        .map(|k| (k.to_string(), 0))
        .collect();
    for s in &rows {
        for r in &s.referrals {
            *want.get_mut(*r).unwrap() += 1;
        }
    }
    assert_eq!(count(&d.referrals_by_kind), want);

    // a wider period takes in January's case; an empty one has every key at zero
    let q1 = dashboard_of(&mut w.safeguarding, "2025-01-01", TO).unwrap();
    assert_eq!(q1.attendances, 7);
    let none = dashboard_of(&mut w.safeguarding, "2024-01-01", "2024-12-31").unwrap();
    assert_eq!(none.attendances, 0);
    assert_eq!(none.by_deployment.len(), 3);
    assert_eq!(none.first_idva_contact, None);

    // a later edit moves the figures: the projection is maintained on write (the safeguarding
    // unit sets a case back to triaged, which only it may do)
    w.safeguarding.sync().unwrap();
    w.safeguarding
        .store
        .set_case_fields(&w.ids[5], &sets(&[("status", "triaged")]))
        .unwrap();
    w.safeguarding.sync().unwrap();
    let after = dashboard_of(&mut w.safeguarding, FROM, TO).unwrap();
    assert_eq!(after.attendances, d.attendances - 1);
    assert_eq!(
        after.victims,
        d.victims - 1,
        "Zoe's only attendance went back to triage"
    );
}

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    // the export writes no quoted field unless a label needs it; the fixture has none
    text.split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn the_export_holds_no_direct_identifier_and_is_audited() {
    let mut w = World::build();
    let before = audit_rows(&w, "export").len();
    let csv = export_of(&mut w.safeguarding, ExportFormat::Csv).unwrap();
    let json = export_of(&mut w.safeguarding, ExportFormat::Json).unwrap();
    for needle in identifiers(&w.specs) {
        assert!(!csv.contains(&needle), "{needle:?} is in the CSV export");
        assert!(!json.contains(&needle), "{needle:?} is in the JSON export");
    }
    for id in &w.ids {
        assert!(
            !csv.contains(id.as_str()) && !json.contains(id.as_str()),
            "a case id leaked"
        );
    }
    assert!(!csv.contains("A Fictional Service") && !json.contains("A Fictional Service"));

    let table = parse_csv(&csv);
    assert_eq!(table[0], columns());
    assert_eq!(table.len() - 1, 6, "six attendances in March");
    let objects: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&json).unwrap();
    assert_eq!(objects.len(), 6);
    for o in &objects {
        assert_eq!(
            o.keys().cloned().collect::<BTreeSet<_>>(),
            columns().into_iter().collect()
        );
    }
    let col = |name: &str| columns().iter().position(|c| c == name).unwrap();
    // Jane (1990)'s March case has one prior attendance (January); the other rows none but Amy's second
    let priors: Vec<(String, String)> = table[1..]
        .iter()
        .map(|r| {
            (
                r[col("incident_date")].clone(),
                r[col("prior_attendances")].clone(),
            )
        })
        .collect();
    assert!(priors.contains(&("2025-03-03".into(), "1".into())));
    assert!(priors.contains(&("2025-03-28".into(), "1".into())));
    assert!(priors.contains(&("2025-03-15".into(), "0".into())));
    let nameless = table[1..]
        .iter()
        .find(|r| r[col("incident_date")] == "2025-03-05")
        .unwrap();
    assert_eq!(nameless[col("victim_pseudonym")], "");
    assert_eq!(nameless[col("hours_to_first_idva_contact")], "6.0");
    let jane = table[1..]
        .iter()
        .find(|r| r[col("incident_date")] == "2025-03-03")
        .unwrap();
    assert_eq!(jane[col("risk_level")], "high");
    assert_eq!(jane[col("dash_score")], "15");
    assert_eq!(jane[col("marac_threshold_met")], "true");
    assert_eq!(jane[col("marac_referred")], "true");
    assert_eq!(jane[col("referrals_housing")], "1");
    assert_eq!(jane[col("support_safety_planning")], "true");
    assert_eq!(jane[col("children_present")], "1");
    assert_eq!(jane[col("children")], "2");
    assert_eq!(jane[col("status")], "handed_over");
    assert_eq!(jane[col("hours_to_first_idva_contact")], "1.5");

    // both exports are in the audit log, with the period, format and row count only
    let rows = audit_rows(&w, "export");
    assert_eq!(rows.len(), before + 2);
    let device = w.safeguarding.store.device_id().to_string();
    for r in &rows[before..] {
        assert_eq!(
            (r.device.as_str(), r.user.as_str()),
            (device.as_str(), "sg.cal.fictional")
        );
        assert!(
            r.detail.contains("2025-03-01 to 2025-03-31"),
            "{}",
            r.detail
        );
        assert!(r.detail.contains("6 rows"), "{}", r.detail);
        for needle in identifiers(&w.specs) {
            assert!(!r.detail.contains(&needle));
        }
    }
    assert!(rows[before].detail.contains("csv") && rows[before + 1].detail.contains("json"));

    // the projection itself keeps no identifier either
    let stored = w
        .server
        .service
        .storage
        .attendances(None, "2000-01-01", "2099-12-31")
        .unwrap();
    assert_eq!(
        stored.len(),
        w.specs.len() - 1,
        "every case but the triaged one"
    );
    let text = serde_json::to_string(&stored).unwrap();
    for needle in identifiers(&w.specs) {
        assert!(!text.contains(&needle), "{needle:?} is in the projection");
    }
}

#[test]
fn pseudonyms_are_stable_shared_by_a_victim_and_keyed() {
    let mut w = World::build();
    let col = |name: &str| columns().iter().position(|c| c == name).unwrap();
    let first = parse_csv(&export_of(&mut w.safeguarding, ExportFormat::Csv).unwrap());
    let second = parse_csv(&export_of(&mut w.safeguarding, ExportFormat::Csv).unwrap());
    assert_eq!(
        first, second,
        "the same export twice is the same, pseudonyms included"
    );

    // Amy's two March cases share a pseudonym; the two Jane Fictionals do not
    let by_date = |t: &[Vec<String>], date: &str| {
        t[1..]
            .iter()
            .find(|r| r[col("incident_date")] == date)
            .unwrap()
            .clone()
    };
    let amy1 = by_date(&first, "2025-03-15");
    let amy2 = by_date(&first, "2025-03-28");
    assert_eq!(amy1[col("victim_pseudonym")], amy2[col("victim_pseudonym")]);
    assert_ne!(amy1[col("attendance_id")], amy2[col("attendance_id")]);
    let jane90 = by_date(&first, "2025-03-03");
    let jane85 = by_date(&first, "2025-03-10");
    assert_ne!(
        jane90[col("victim_pseudonym")],
        jane85[col("victim_pseudonym")]
    );
    for r in &first[1..] {
        let p = &r[col("victim_pseudonym")];
        assert!(p.is_empty() || (p.len() == 32 && p.chars().all(|c| c.is_ascii_hexdigit())));
        assert_eq!(r[col("attendance_id")].len(), 32);
    }
    // Jane (1990)'s pseudonym in a later export covering January is her March one too
    let c = credential(&w.safeguarding);
    let q1 = parse_csv(
        &reports::export(
            &mut w.safeguarding.transport,
            &c,
            "2025-01-01",
            TO,
            ExportFormat::Csv,
        )
        .unwrap(),
    );
    let jan = by_date(&q1, "2025-01-10");
    assert_eq!(
        jan[col("victim_pseudonym")],
        jane90[col("victim_pseudonym")]
    );

    // under another report key every pseudonym differs
    let other_key = w.server.dir.path().join("other-report.key");
    let other = w.server.service.clone().with_report_key_file(other_key);
    let period = Period::parse(Some(FROM), Some(TO)).unwrap();
    let who = Requester {
        device: "test".into(),
        user: "test".into(),
    };
    let re = other
        .export(&who, Some("west"), &period, ExportFormat::Csv)
        .unwrap();
    let re = parse_csv(&re.body);
    let amy_other = by_date(&re, "2025-03-15");
    assert_ne!(
        amy_other[col("victim_pseudonym")],
        amy1[col("victim_pseudonym")]
    );
    assert_ne!(amy_other[col("attendance_id")], amy1[col("attendance_id")]);
    assert_eq!(amy_other[col("dash_score")], amy1[col("dash_score")]);

    // and no pseudonym is an unkeyed hash of the identity
    let csv = export_of(&mut w.safeguarding, ExportFormat::Csv).unwrap();
    for s in &w.specs {
        for text in [identity(s).unwrap_or_default(), s.name.to_string()] {
            let h = hex::encode(Sha256::digest(text.as_bytes()));
            assert!(
                !csv.contains(&h[..32]),
                "an unkeyed hash of {text:?} is in the export"
            );
        }
    }
    // the report key file was created on first use, readable only by the server's user
    let key = w.server.data.report_key_path();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn roles_and_divisions_decide_who_reads_what() {
    let mut w = World::build();
    let all = AuditQuery::default();
    for d in [&mut w.officer, &mut w.idva] {
        refused_with(dashboard_of(d, FROM, TO), 403, "forbidden");
        refused_with(export_of(d, ExportFormat::Csv), 403, "forbidden");
        refused_with(audit_of(d, &all), 403, "forbidden");
    }
    refused_with(dashboard_of(&mut w.admin, FROM, TO), 403, "forbidden");
    refused_with(
        export_of(&mut w.admin, ExportFormat::Json),
        403,
        "forbidden",
    );
    let admin_rows = audit_of(&mut w.admin, &all).unwrap();
    assert!(!admin_rows.is_empty());
    assert!(
        admin_rows.windows(2).all(|p| p[0].seq > p[1].seq),
        "newest first"
    );
    let refusals = audit_rows(&w, "forbidden");
    assert_eq!(refusals.len(), 8, "each refusal is audited");

    // another division's supervisor sees only their own division
    let east = dashboard_of(&mut w.east_safeguarding, FROM, TO).unwrap();
    assert_eq!((east.division.as_str(), east.attendances), ("east", 1));
    let east_csv = export_of(&mut w.east_safeguarding, ExportFormat::Csv).unwrap();
    let table = parse_csv(&east_csv);
    assert_eq!(table.len(), 2);
    assert!(table[1].contains(&"east".to_string()));
    assert_eq!(
        table[1][columns()
            .iter()
            .position(|c| c == "prior_attendances")
            .unwrap()],
        "0",
        "Jane's west attendances are not counted in the east"
    );
    assert!(!east_csv.contains(",west,"));
    // and in the audit log only entries about the east's records and devices
    let east_audit = audit_of(&mut w.east_safeguarding, &all).unwrap();
    let west_cases: BTreeSet<&str> = w
        .specs
        .iter()
        .zip(&w.ids)
        .filter(|(s, _)| s.by != By::EastOfficer)
        .map(|(_, id)| id.as_str())
        .collect();
    let west_devices: BTreeSet<String> = [&w.officer, &w.idva, &w.safeguarding]
        .iter()
        .map(|d| d.store.device_id().to_string())
        .collect();
    assert!(!east_audit.is_empty());
    for r in &east_audit {
        assert!(!west_cases.contains(r.record.as_str()), "{r:?}");
        assert!(
            r.record.is_empty() || !west_devices.contains(&r.device),
            "{r:?}"
        );
        assert!(
            !west_devices.contains(&r.device) || !r.record.is_empty(),
            "{r:?}"
        );
    }
    let east_case = w.ids[w
        .specs
        .iter()
        .position(|s| s.by == By::EastOfficer)
        .unwrap()]
    .clone();
    assert!(east_audit.iter().any(|r| r.record == east_case));
    // the west's supervisor sees the west's case records, filtered as asked
    let q = AuditQuery {
        record: Some(w.ids[1].clone()),
        action: Some("receive".into()),
        ..Default::default()
    };
    let rows = audit_of(&mut w.safeguarding, &q).unwrap();
    assert!(
        !rows.is_empty()
            && rows
                .iter()
                .all(|r| r.record == w.ids[1] && r.action == "receive")
    );
    let q = AuditQuery {
        record: Some(east_case),
        ..Default::default()
    };
    assert!(audit_of(&mut w.safeguarding, &q).unwrap().is_empty());
    let _ = &w.east_officer;
    // each read of the audit log is itself audited
    let reads = audit_rows(&w, "audit_read");
    assert_eq!(reads.len(), 4);
    assert!(reads
        .iter()
        .any(|r| r.detail.contains("filtered by record, action")));
}

#[test]
fn bad_query_input_is_a_plain_400_that_changes_nothing() {
    let mut w = World::build();
    let good = dashboard_of(&mut w.safeguarding, FROM, TO).unwrap();
    let audit_before = w
        .server
        .service
        .storage
        .audit(&Default::default())
        .unwrap()
        .len();
    let client = reqwest::blocking::Client::new();
    let c = credential(&w.safeguarding);
    let get = |path_and_query: &str| {
        let r = client
            .get(format!("{}/{path_and_query}", w.server.url))
            .bearer_auth(&c)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value =
            serde_json::from_slice(&r.bytes().unwrap()).unwrap_or(serde_json::Value::Null);
        (status, body)
    };
    for q in [
        "v1/reports/dashboard",
        "v1/reports/dashboard?from=2025-03-01",
        "v1/reports/dashboard?from=2025-13-01&to=2025-12-31",
        "v1/reports/dashboard?from=2025-03-31&to=2025-03-01",
        "v1/reports/dashboard?from=yesterday&to=today",
        "v1/reports/dashboard?from=2025-03-01&to=2025-03-31&to=2025-04-30",
        "v1/reports/dashboard?from=2025-03-01&to=2025-03-31&division=east",
        "v1/reports/dashboard?from=%FF%FE&to=2025-03-31",
        "v1/reports/dashboard?from=2025-03-01%00&to=2025-03-31",
        "v1/reports/export?from=2025-03-01&to=2025-03-31",
        "v1/reports/export?from=2025-03-01&to=2025-03-31&format=xlsx",
        "v1/reports/export?from=2024-01-01&to=2025-03-31&format=csv",
        "v1/reports/export?from=2025-03-01&to=2025-03-31&format=csv&formt=json",
        "v1/audit?limit=0",
        "v1/audit?limit=5001",
        "v1/audit?limit=lots",
        "v1/audit?limit=-1",
        "v1/audit?from=2025-03-02&to=2025-03-01",
        "v1/audit?from=last%20week",
        "v1/audit?user=%00",
        "v1/audit?colour=red",
    ] {
        let (status, body) = get(q);
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["code"], "bad_request", "{q}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            !message.is_empty() && !message.contains("panicked"),
            "{q}: {message}"
        );
    }
    let long = format!("v1/audit?user={}", "a".repeat(5_000));
    assert_eq!(get(&long).0, 400);
    // no credential, or a wrong one
    let r = client
        .get(format!(
            "{}/v1/reports/dashboard?from={FROM}&to={TO}",
            w.server.url
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client
        .get(format!("{}/v1/audit", w.server.url))
        .bearer_auth("not-a-credential")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // nothing was written, and the figures are as they were
    let audit_after = w
        .server
        .service
        .storage
        .audit(&Default::default())
        .unwrap()
        .len();
    assert_eq!(audit_after, audit_before);
    let again = dashboard_of(&mut w.safeguarding, FROM, TO).unwrap();
    assert_eq!(again, good);
    // the same request done right works, and the client refuses bad dates before sending
    let (status, _) = get("v1/reports/export?from=2025-03-01&to=2025-03-31&format=json");
    assert_eq!(status, 200);
    assert!(matches!(
        dashboard_of(&mut w.safeguarding, "2025-03-31", "2025-03-01"),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn rows_missing_from_the_projection_are_derived_again_when_the_store_opens() {
    let w = World::build();
    let storage = &w.server.service.storage;
    let before = storage
        .attendances(None, "2000-01-01", "2099-12-31")
        .unwrap();
    assert_eq!(before.len(), w.specs.len() - 1);
    // as a store written before the table existed (and before schema versions): no table
    // at all, and version 0, so the first migration makes it whole again
    match &w.server.data.database_url {
        Some(url) => {
            let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
            c.batch_execute("DROP TABLE attendance; DROP TABLE schema_migrations")
                .unwrap();
        }
        None => {
            let dir = w.server.data_dir();
            let key = std::fs::read_to_string(dir.join("server.key")).unwrap();
            let conn = rusqlite::Connection::open(dir.join("server.db")).unwrap();
            conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", key.trim()))
                .unwrap();
            conn.execute_batch("DROP TABLE attendance; PRAGMA user_version = 0")
                .unwrap();
        }
    }
    let reopened = w
        .server
        .data
        .open(provide_sync_server::service::Config::default())
        .unwrap();
    let mut after = reopened
        .storage
        .attendances(None, "2000-01-01", "2099-12-31")
        .unwrap();
    let mut before = before;
    before.sort_by(|a, b| a.case_id.cmp(&b.case_id));
    after.sort_by(|a, b| a.case_id.cmp(&b.case_id));
    assert_eq!(
        after, before,
        "the same rows, the same digests (the key is in the database)"
    );
}

#[test]
fn the_operators_report_command_writes_an_audited_export() {
    let w = World::build();
    let out = w.server.dir.path().join("march.csv");
    let mut args: Vec<String> = vec![
        "--data-dir".into(),
        w.server.data_dir().display().to_string(),
    ];
    if let Some(url) = &w.server.data.database_url {
        args.extend(["--database-url".into(), url.clone()]);
    }
    let run = |extra: &[&str]| {
        std::process::Command::new(provide_tests::binaries::bin("provide-sync-server"))
            .args(&args)
            .arg("report")
            .args(extra)
            .env("USER", "ops.gus.fictional")
            .output()
            .unwrap()
    };
    let done = run(&[
        "--from",
        FROM,
        "--to",
        TO,
        "--format",
        "csv",
        "--division",
        "west",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(parse_csv(&text).len(), 7);
    for needle in identifiers(&w.specs) {
        assert!(!text.contains(&needle));
    }
    // the same key as the server's own exports: the same pseudonyms
    let service_export = w
        .server
        .service
        .export(
            &Requester {
                device: "test".into(),
                user: "test".into(),
            },
            Some("west"),
            &Period::parse(Some(FROM), Some(TO)).unwrap(),
            ExportFormat::Csv,
        )
        .unwrap();
    assert_eq!(service_export.body, text);
    let rows = audit_rows(&w, "export");
    assert!(rows.iter().any(|r| r.user == "ops.gus.fictional"
        && r.device == "cli"
        && r.detail.contains("6 rows")));
    // every division to standard output; a bad date or an existing file is refused
    let all = run(&["--from", FROM, "--to", TO, "--format", "json"]);
    assert!(all.status.success());
    let objects: Vec<serde_json::Value> = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(objects.len(), 7, "six in the west and one in the east");
    let bad = run(&["--from", "2025-02-30", "--to", TO]);
    assert_eq!(bad.status.code(), Some(2));
    let again = run(&["--from", FROM, "--to", TO, "--out", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
}
