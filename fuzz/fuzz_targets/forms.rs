#![no_main]
//! Form answers as a device takes them: JSON parsed into an assessment's input, then validated
//! and scored against each shipped form, for each role. And reference data as an administrator
//! publishes it (and a device receives it): JSON parsed as a form definition or a directory and
//! put through the publish checks; a definition that passes must score any answers without
//! panicking.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use provide_core::directory::Directory;
use provide_core::forms::{self, build_assessment, evaluate_stored, AssessmentInput, FormDef};
use provide_core::model::Role;
use provide_core::record::Author;

fuzz_target!(init: common::init(), |data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(def) = serde_json::from_value::<FormDef>(json.clone()) {
        if forms::validate(&def, &[]).is_ok() {
            let author = Author::new("fuzz.fictional", Role::Idva);
            let yes: AssessmentInput = AssessmentInput {
                answers: def
                    .question_ids()
                    .map(|q| (q.to_string(), "yes".to_string()))
                    .collect(),
                judgement_level: Some("high".into()),
                judgement_reason: Some("fuzz".into()),
                incidents_12_months: Some(u64::MAX),
            };
            let _ = build_assessment(&def, &yes, &author, "2026-03-05T08:00:00.000Z");
        }
    }
    if let Ok(dir) = serde_json::from_value::<Directory>(json.clone()) {
        let _ = dir.validate(0);
    }
    let Ok(input) = AssessmentInput::from_json(&json) else {
        return;
    };
    for form in ["dash", "dara"] {
        let def = forms::latest(form).expect("shipped");
        for role in [Role::Officer, Role::Idva, Role::Safeguarding] {
            let author = Author::new("fuzz.fictional", role);
            if let Ok((assessment, _)) =
                build_assessment(def, &input, &author, "2026-03-05T08:00:00.000Z")
            {
                evaluate_stored(&assessment).expect("a built assessment scores again");
            }
        }
    }
});
