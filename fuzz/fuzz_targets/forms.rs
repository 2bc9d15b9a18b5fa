#![no_main]
//! Form answers as a device takes them: JSON parsed into an assessment's input, then validated
//! and scored against each shipped form, for each role.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use provide_core::forms::{build_assessment, evaluate_stored, AssessmentInput};
use provide_core::model::Role;
use provide_core::record::Author;

fuzz_target!(init: common::init(), |data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(input) = AssessmentInput::from_json(&json) else {
        return;
    };
    for form in ["dash", "dara"] {
        for role in [Role::Officer, Role::Idva, Role::Safeguarding] {
            let author = Author::new("fuzz.fictional", role);
            if let Ok((assessment, _)) =
                build_assessment(form, &input, &author, "2026-03-05T08:00:00.000Z")
            {
                evaluate_stored(&assessment).expect("a built assessment scores again");
            }
        }
    }
});
