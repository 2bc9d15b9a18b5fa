//! Realistic fictional work for benchmarks and load: what a patrol pair records for one
//! post-incident visit (victim, incident, a DASH checklist, notes, referrals, safety plan).

use std::collections::BTreeMap;

use provide_core::forms::{self, AssessmentInput};
use provide_core::model::Deployment;
use provide_core::Store;

/// Records one visit's case on `store`; returns its id. `n` varies the fictional details.
pub fn shift_case(store: &mut Store, n: usize) -> String {
    let sets: Vec<(String, String)> = [
        ("victim.name", format!("Fictional Victim {n}")),
        ("victim.phone", format!("07700 900{:03}", n % 1000)),
        ("victim.address", format!("{n} Fictional Row, Testbury")),
        ("incident.reference", format!("WE-{n:06}-FICT")),
        ("perpetrator.name", format!("Fictional Suspect {n}")),
        ("status", "active".to_string()),
    ]
    .into_iter()
    .map(|(p, v)| (p.to_string(), v))
    .collect();
    let id = store.create_case(Deployment::PostIncident, &sets).unwrap();
    let dash = forms::latest("dash").unwrap();
    let answers: BTreeMap<String, String> = dash
        .question_ids()
        .enumerate()
        .map(|(i, q)| {
            (
                q.to_string(),
                if i % 2 == 0 { "yes" } else { "no" }.to_string(),
            )
        })
        .collect();
    store
        .assess(
            &id,
            "dash",
            &AssessmentInput {
                answers,
                judgement_level: None,
                judgement_reason: None,
                incidents_12_months: Some(2),
            },
        )
        .unwrap();
    for text in [
        "Visited with the officer; victim spoke to the IDVA alone.",
        "Children at school during the visit; school informed.",
    ] {
        store
            .add_case_item(&id, "notes", &serde_json::json!({ "text": text }))
            .unwrap();
    }
    for kind in ["marac", "refuge"] {
        store
            .add_case_item(
                &id,
                "referrals",
                &serde_json::json!({ "kind": kind, "service": format!("Fictional {kind} service"), "consent": "yes", "status": "made" }),
            )
            .unwrap();
    }
    store
        .add_case_item(
            &id,
            "safety_plan",
            &serde_json::json!({ "text": "Keep a charged phone in the bathroom." }),
        )
        .unwrap();
    id
}
