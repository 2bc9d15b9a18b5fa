//! The safeguarding unit and the patrol through a real server on loopback: a case triaged on
//! the unit's device reaches the team's car on its next sync and appears in the day's visits
//! (and not another team's, nor before its day); the patrol works it and hands it over; the
//! unit reviews it, records long-term actions and closes it, and the patrol sees that.
//! Fictional people only.

use std::collections::BTreeMap;

use provide_core::forms::AssessmentInput;
use provide_core::model::{RiskLevel, TriageReason};
use provide_core::store::TriageInput;
use provide_core::Error;
use provide_tests::{sets, Device, TestServer};
use serde_json::json;

fn today() -> chrono::NaiveDate {
    chrono::Local::now().date_naive()
}

fn triage(reference: &str, team: &str, level: RiskLevel, day: chrono::NaiveDate) -> TriageInput {
    let high = level == RiskLevel::High;
    TriageInput {
        reference: reference.into(),
        occurred_at: Some(format!("{}T22:40:00Z", day - chrono::Days::new(1))),
        location: String::new(),
        victim_name: format!("Olive Fictional {reference}"),
        victim_dob: None,
        dara_level: level,
        reason: if high {
            TriageReason::HighRisk
        } else {
            TriageReason::Vulnerability
        },
        need: if high {
            String::new()
        } else {
            "learning disability".into()
        },
        priority: None,
        team: team.into(),
        visit_date: Some(day.to_string()),
        shift: None,
    }
}

#[test]
fn a_triaged_case_reaches_the_teams_car_and_its_visits_for_the_day() {
    let server = TestServer::start();
    let mut unit = Device::enrol(&server, "sg.ida.fictional", "safeguarding", "west", "");
    let mut officer = Device::enrol(&server, "pc.jon.fictional", "officer", "west", "t1");
    let mut other_team = Device::enrol(&server, "pc.kit.fictional", "officer", "west", "t2");

    let medium = unit
        .store
        .triage_case(&triage("LC-M", "t1", RiskLevel::Medium, today()))
        .unwrap();
    let high = unit
        .store
        .triage_case(&triage("LC-H", "t1", RiskLevel::High, today()))
        .unwrap();
    let tomorrow = unit
        .store
        .triage_case(&triage(
            "LC-T",
            "t1",
            RiskLevel::High,
            today() + chrono::Days::new(1),
        ))
        .unwrap();
    let elsewhere = unit
        .store
        .triage_case(&triage("LC-E", "t2", RiskLevel::High, today()))
        .unwrap();
    unit.sync().unwrap();

    // the officer's device had none of it until it synced
    assert!(officer.store.todays_visits().unwrap().is_empty());
    officer.sync().unwrap();
    let visits: Vec<String> = officer
        .store
        .todays_visits()
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        visits,
        vec![high.clone(), medium],
        "today's, highest risk first"
    );
    // tomorrow's is held (for planning) but not in today's visits; the other team's never
    assert!(officer.store.show_case(&tomorrow).is_ok());
    assert!(matches!(
        officer.store.show_case(&elsewhere),
        Err(Error::NotFound(_))
    ));
    other_team.sync().unwrap();
    let theirs: Vec<String> = other_team
        .store
        .todays_visits()
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(theirs, vec![elsewhere]);

    // the triage reads the same in the car
    let view = officer.store.show_case(&high).unwrap();
    assert_eq!(view.record.triage.reason, Some(TriageReason::HighRisk));
    assert_eq!(view.record.triage.triaged_by, "sg.ida.fictional");
    assert_eq!(view.risk_level, Some(RiskLevel::High));
}

#[test]
fn the_handover_flow_end_to_end() {
    let server = TestServer::start();
    let mut unit = Device::enrol(&server, "sg.ida.fictional", "safeguarding", "west", "");
    let mut officer = Device::enrol(&server, "pc.jon.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.lou.fictional", "idva", "west", "t1");

    let case = unit
        .store
        .triage_case(&triage("LC-HO", "t1", RiskLevel::High, today()))
        .unwrap();
    unit.sync().unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();

    // the visit: the officer records it, the IDVA assesses, plans, refers
    officer
        .store
        .set_case_fields(&case, &sets(&[("status", "active")]))
        .unwrap();
    officer
        .store
        .add_case_item(&case, "visits", &json!({"outcome": "engaged"}))
        .unwrap();
    officer
        .store
        .add_case_item(
            &case,
            "children",
            &json!({"name": "Pip Fictional", "age": 6}),
        )
        .unwrap();
    let form = provide_core::forms::latest("dash").unwrap();
    let answers: BTreeMap<String, String> = form
        .groups
        .iter()
        .flat_map(|g| &g.questions)
        .enumerate()
        .map(|(i, q)| (q.id.clone(), if i < 15 { "yes" } else { "no" }.to_string()))
        .collect();
    idva.store
        .assess(
            &case,
            "dash",
            &AssessmentInput {
                answers,
                judgement_level: None,
                judgement_reason: None,
                incidents_12_months: None,
            },
        )
        .unwrap();
    idva.store
        .add_case_item(
            &case,
            "referrals",
            &json!({"kind": "marac", "service": "MARAC", "status": "made", "consent": "yes"}),
        )
        .unwrap();
    idva.store
        .add_case_item(
            &case,
            "safety_plan",
            &json!({"text": "code word with neighbour"}),
        )
        .unwrap();
    idva.store
        .set_case_fields(&case, &sets(&[("support.safety_planning", "true")]))
        .unwrap();
    idva.sync().unwrap();
    officer.sync().unwrap();
    officer
        .store
        .set_case_fields(&case, &sets(&[("status", "handed_over")]))
        .unwrap();
    officer.sync().unwrap();

    // the unit's queue
    unit.sync().unwrap();
    let queue = unit.store.handover_queue().unwrap();
    assert_eq!(queue.len(), 1);
    let item = &queue[0];
    assert_eq!(item.case.id, case);
    assert!(
        item.done.contains(&"1 visit(s), 1 engaged".to_string()),
        "{:?}",
        item.done
    );
    assert!(item
        .done
        .iter()
        .any(|d| d.starts_with("DASH assessment: high")));
    assert!(item.done.iter().any(|d| d == "referrals made: marac"));
    assert!(item
        .done
        .iter()
        .any(|d| d == "IDVA support: safety planning"));
    assert!(item
        .outstanding
        .iter()
        .any(|o| o.contains("children's services")));
    assert!(item
        .outstanding
        .iter()
        .any(|o| o == "1 safety plan action(s) open"));
    let marac: Vec<String> = unit
        .store
        .marac_list()
        .unwrap()
        .into_iter()
        .map(|m| m.case_id)
        .collect();
    assert_eq!(marac, vec![case.clone()]);

    // review, long-term actions, close
    unit.store.mark_reviewed(&case).unwrap();
    unit.store
        .add_case_item(
            &case,
            "safeguarding_actions",
            &json!({"kind": "sanctuary_scheme", "detail": "survey booked"}),
        )
        .unwrap();
    unit.store
        .add_case_item(
            &case,
            "referrals",
            &json!({"kind": "childrens_services", "service": "Children's Social Care", "status": "made"}),
        )
        .unwrap();
    unit.store
        .set_case_fields(&case, &sets(&[("status", "closed")]))
        .unwrap();
    unit.sync().unwrap();
    assert!(unit.store.handover_queue().unwrap().is_empty());
    assert!(unit.store.marac_list().unwrap().is_empty(), "closed");

    officer.sync().unwrap();
    let seen = officer.store.show_case(&case).unwrap().record;
    assert_eq!(seen.status.as_str(), "closed");
    assert_eq!(seen.review.reviewed_by, "sg.ida.fictional");
    assert_eq!(seen.safeguarding_actions.len(), 1);
    assert_eq!(
        seen.safeguarding_actions[0].kind.as_str(),
        "sanctuary_scheme"
    );
    // the patrol cannot open the unit's queues
    assert!(matches!(
        officer.store.handover_queue(),
        Err(Error::Forbidden { .. })
    ));
}
