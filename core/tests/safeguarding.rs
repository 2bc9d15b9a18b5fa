//! The safeguarding unit's store operations: triage (what it accepts and refuses), the MARAC
//! list picking exactly the cases that meet the rules, the handover review, and the role rules
//! (no other role may triage, open the queues or record long-term actions). Fictional people.

mod support;

use std::collections::BTreeMap;

use provide_core::forms::AssessmentInput;
use provide_core::model::{Deployment, RiskLevel, Role, TriageReason};
use provide_core::store::TriageInput;
use provide_core::{Error, Store};
use serde_json::json;

use support::{new_store, sets};

const PASS: &str = "safeguarding test passphrase";

fn triage(reference: &str, level: RiskLevel, reason: TriageReason) -> TriageInput {
    TriageInput {
        reference: reference.into(),
        occurred_at: Some("2026-11-21T23:10".into()),
        location: "Fictional Row, Blackpool".into(),
        victim_name: "Erin Fictional".into(),
        victim_dob: Some("1990-04-01".into()),
        dara_level: level,
        reason,
        need: if reason == TriageReason::HighRisk {
            String::new()
        } else {
            "pregnant; mental health need".into()
        },
        priority: Some(1),
        team: "t1".into(),
        visit_date: Some("2026-11-22".into()),
        shift: None,
    }
}

/// A DASH assessment with `yes` answers to the first `yes` questions.
fn dash(yes: usize, judgement: Option<&str>, incidents: Option<u64>) -> AssessmentInput {
    let form = provide_core::forms::latest("dash").unwrap();
    let mut answers = BTreeMap::new();
    for (i, q) in form.groups.iter().flat_map(|g| &g.questions).enumerate() {
        answers.insert(q.id.clone(), if i < yes { "yes" } else { "no" }.to_string());
    }
    AssessmentInput {
        answers,
        judgement_level: judgement.map(str::to_string),
        judgement_reason: judgement.map(|_| "she fears for her life".to_string()),
        incidents_12_months: incidents,
    }
}

fn case_with(store: &mut Store, name: &str) -> String {
    store
        .create_case(
            Deployment::PostIncident,
            &sets(&[("victim.name", name), ("incident.reference", "LC-FICT-1")]),
        )
        .unwrap()
}

#[test]
fn the_marac_list_holds_exactly_the_cases_that_meet_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut sg = new_store(dir.path(), "sg.fay.fictional", Role::Safeguarding, PASS);
    let mut expected = Vec::new();

    // 14 "yes" on DASH: the visible high-risk threshold
    let a = case_with(&mut sg, "Alice Fictional");
    sg.assess(&a, "dash", &dash(14, None, None)).unwrap();
    expected.push(a.clone());
    // 13 "yes": below it
    let b = case_with(&mut sg, "Beth Fictional");
    sg.assess(&b, "dash", &dash(13, None, None)).unwrap();
    // 5 "yes" but referred to MARAC by professional judgement
    let c = case_with(&mut sg, "Cara Fictional");
    sg.assess(&c, "dash", &dash(5, None, None)).unwrap();
    sg.add_case_item(
        &c,
        "referrals",
        &json!({"kind": "marac", "service": "MARAC", "status": "made", "consent": "yes"}),
    )
    .unwrap();
    expected.push(c.clone());
    // 16 "yes" but the MARAC already heard it (referral accepted)
    let d = case_with(&mut sg, "Dora Fictional");
    sg.assess(&d, "dash", &dash(16, None, None)).unwrap();
    sg.add_case_item(
        &d,
        "referrals",
        &json!({"kind": "marac", "service": "MARAC", "status": "accepted"}),
    )
    .unwrap();
    // 16 "yes" but closed
    let e = case_with(&mut sg, "Edie Fictional");
    sg.assess(&e, "dash", &dash(16, None, None)).unwrap();
    sg.set_case_fields(&e, &sets(&[("status", "closed")]))
        .unwrap();
    // escalation: three incidents in twelve months
    let f = case_with(&mut sg, "Faye Fictional");
    sg.assess(&f, "dash", &dash(3, None, Some(3))).unwrap();
    expected.push(f.clone());
    // raised to high by professional judgement
    let g = case_with(&mut sg, "Gail Fictional");
    sg.assess(&g, "dash", &dash(6, Some("high"), None)).unwrap();
    expected.push(g.clone());
    // high on an earlier assessment, medium on the latest: the latest stands
    let h = case_with(&mut sg, "Hana Fictional");
    sg.assess(&h, "dash", &dash(15, None, None)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    sg.assess(&h, "dash", &dash(11, None, None)).unwrap();
    // never assessed
    case_with(&mut sg, "Iris Fictional");
    // a referral to another service does not count
    let j = case_with(&mut sg, "Jude Fictional");
    sg.add_case_item(
        &j,
        "referrals",
        &json!({"kind": "refuge", "service": "Refuge"}),
    )
    .unwrap();

    let list = sg.marac_list().unwrap();
    let mut got: Vec<String> = list.iter().map(|m| m.case_id.clone()).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);

    let alice = list.iter().find(|m| m.case_id == a).unwrap();
    assert_eq!(alice.dash_score, Some(14));
    assert_eq!(alice.risk_level, Some(RiskLevel::High));
    assert!(alice.grounds[0].contains("14"), "{:?}", alice.grounds);
    let cara = list.iter().find(|m| m.case_id == c).unwrap();
    assert_eq!(cara.grounds, vec!["referred to MARAC".to_string()]);
    assert!(cara.referred_at.is_some());
    assert_eq!(cara.referred_by, "sg.fay.fictional");
    let faye = list.iter().find(|m| m.case_id == f).unwrap();
    assert!(faye.grounds[0].starts_with("escalation"));
    // high risk first
    let levels: Vec<Option<RiskLevel>> = list.iter().map(|m| m.risk_level).collect();
    let mut sorted = levels.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(levels, sorted);
}

#[test]
fn triage_makes_a_triaged_case_for_the_team_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut sg = new_store(dir.path(), "sg.fay.fictional", Role::Safeguarding, PASS);
    let id = sg
        .triage_case(&triage(
            "LC-20261121-0101",
            RiskLevel::High,
            TriageReason::HighRisk,
        ))
        .unwrap();
    let view = sg.show_case(&id).unwrap();
    assert_eq!(view.record.status.as_str(), "triaged");
    assert_eq!(view.record.team, "t1");
    assert_eq!(view.record.division, "west");
    assert_eq!(view.risk_level, Some(RiskLevel::High));
    assert_eq!(view.record.triage.reason, Some(TriageReason::HighRisk));
    assert_eq!(view.record.triage.triaged_by, "sg.fay.fictional");
    assert_eq!(
        view.record.incident.occurred_at.as_deref(),
        Some("2026-11-21T23:10:00Z")
    );

    // medium risk with a health need, visited first
    let second = sg
        .triage_case(&TriageInput {
            priority: Some(1),
            ..triage("LC-2", RiskLevel::Medium, TriageReason::HealthNeed)
        })
        .unwrap();
    let third = sg
        .triage_case(&TriageInput {
            priority: Some(2),
            ..triage("LC-3", RiskLevel::High, TriageReason::HighRisk)
        })
        .unwrap();
    let queue: Vec<String> = sg
        .triage_queue()
        .unwrap()
        .into_iter()
        .map(|t| t.case.id)
        .collect();
    // same day: priority 1 before 2; within priority 1, high before medium
    assert_eq!(queue, vec![id.clone(), second, third]);

    let bad = [
        TriageInput {
            reference: " ".into(),
            ..triage("x", RiskLevel::High, TriageReason::HighRisk)
        },
        TriageInput {
            team: "".into(),
            ..triage("x", RiskLevel::High, TriageReason::HighRisk)
        },
        TriageInput {
            victim_dob: Some("01/04/1990".into()),
            ..triage("x", RiskLevel::High, TriageReason::HighRisk)
        },
        TriageInput {
            visit_date: Some("tomorrow".into()),
            ..triage("x", RiskLevel::High, TriageReason::HighRisk)
        },
        // high risk as the reason needs a high DARA level
        triage("x", RiskLevel::Standard, TriageReason::HighRisk),
        // a vulnerability must be named
        TriageInput {
            need: "  ".into(),
            ..triage("x", RiskLevel::Medium, TriageReason::Vulnerability)
        },
        TriageInput {
            priority: Some(0),
            ..triage("x", RiskLevel::High, TriageReason::HighRisk)
        },
    ];
    for input in bad {
        let e = sg.triage_case(&input).unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput(_) | Error::InvalidValue { .. }),
            "{e:?}"
        );
    }
    assert_eq!(sg.triage_queue().unwrap().len(), 3, "nothing half-made");
}

#[test]
fn only_the_safeguarding_unit_triages_reviews_and_records_long_term_actions() {
    let dir = tempfile::tempdir().unwrap();
    for role in [Role::Officer, Role::Idva] {
        let sub = dir.path().join(role.as_str());
        let mut s = new_store(&sub, "pc.gil.fictional", role, PASS);
        let forbidden = |e: Error| assert!(matches!(e, Error::Forbidden { .. }), "{e:?}");
        forbidden(
            s.triage_case(&triage("LC-9", RiskLevel::High, TriageReason::HighRisk))
                .unwrap_err(),
        );
        forbidden(s.triage_queue().unwrap_err());
        forbidden(s.handover_queue().unwrap_err());
        forbidden(s.marac_list().unwrap_err());
        let id = case_with(&mut s, "Kate Fictional");
        forbidden(s.mark_reviewed(&id).unwrap_err());
        forbidden(
            s.set_case_fields(&id, &sets(&[("triage.priority", "1")]))
                .unwrap_err(),
        );
        forbidden(
            s.add_case_item(&id, "safeguarding_actions", &json!({"kind": "alarm"}))
                .unwrap_err(),
        );
    }
    let admin_dir = dir.path().join("admin");
    let mut admin = new_store(&admin_dir, "admin.hal.fictional", Role::Admin, PASS);
    assert!(matches!(
        admin.marac_list().unwrap_err(),
        Error::Forbidden { .. }
    ));
}

#[test]
fn the_handover_queue_shows_what_was_done_and_what_is_outstanding() {
    let dir = tempfile::tempdir().unwrap();
    let mut sg = new_store(dir.path(), "sg.fay.fictional", Role::Safeguarding, PASS);
    let low = case_with(&mut sg, "Lily Fictional");
    sg.assess(&low, "dash", &dash(4, None, None)).unwrap();
    let high = case_with(&mut sg, "Mona Fictional");
    sg.assess(&high, "dash", &dash(15, None, None)).unwrap();
    sg.add_case_item(&high, "visits", &json!({"outcome": "engaged"}))
        .unwrap();
    sg.add_case_item(
        &high,
        "children",
        &json!({"name": "Nell Fictional", "age": 4}),
    )
    .unwrap();
    sg.add_case_item(&high, "safety_plan", &json!({"text": "keep phone charged"}))
        .unwrap();
    sg.add_case_item(
        &high,
        "referrals",
        &json!({"kind": "marac", "service": "MARAC", "status": "made"}),
    )
    .unwrap();
    for id in [&low, &high] {
        sg.set_case_fields(id, &sets(&[("status", "handed_over")]))
            .unwrap();
    }
    let queue = sg.handover_queue().unwrap();
    assert_eq!(queue.len(), 2);
    assert_eq!(queue[0].case.id, high, "highest risk first");
    let item = &queue[0];
    assert!(
        item.done.iter().any(|d| d == "1 visit(s), 1 engaged"),
        "{:?}",
        item.done
    );
    assert!(item
        .done
        .iter()
        .any(|d| d.contains("referrals made: marac")));
    assert!(item
        .outstanding
        .iter()
        .any(|o| o.contains("children's services")));
    assert!(item.outstanding.iter().any(|o| o.contains("safety plan")));
    assert!(item.reviewed_at.is_none());
    // no free text is quoted in what was done
    assert!(!item.done.iter().any(|d| d.contains("phone charged")));

    let queue_after = {
        sg.mark_reviewed(&high).unwrap();
        sg.add_case_item(
            &high,
            "safeguarding_actions",
            &json!({"kind": "alarm", "detail": "TecSOS alarm fitted"}),
        )
        .unwrap();
        sg.handover_queue().unwrap()
    };
    let item = queue_after.iter().find(|i| i.case.id == high).unwrap();
    assert_eq!(item.reviewed_by, "sg.fay.fictional");
    assert_eq!(item.actions.len(), 1);
    assert_eq!(item.actions[0].kind.as_str(), "alarm");
    sg.set_case_fields(&high, &sets(&[("status", "closed")]))
        .unwrap();
    assert_eq!(
        sg.handover_queue().unwrap().len(),
        1,
        "closed leaves the queue"
    );
    // an unknown action kind is refused with a clear error
    let e = sg
        .add_case_item(&low, "safeguarding_actions", &json!({"kind": "teleport"}))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
}
