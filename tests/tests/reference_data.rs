//! Reference data over the air: an administrator publishes a new DASH version and a new
//! services directory; malformed, unscorable and inconsistent definitions are refused naming
//! the field, with nothing stored; devices receive what was published after their next sync;
//! an assessment keeps the form version it was answered with and is always scored by it; a
//! device offline during the update goes on with the version it has. Runs on both backends.

use std::collections::BTreeMap;
use std::process::Command;

use provide_core::forms::{self, AssessmentInput, FormDef};
use provide_core::model::{Deployment, RiskLevel};
use provide_core::store::CaseView;
use provide_tests::binaries::bin;
use provide_tests::{Device, TestServer};
use serde_json::{json, Value};

/// DASH answers with `yes` yes answers (the rest no), as the user submits them.
fn dash(yes: usize) -> AssessmentInput {
    let answers: BTreeMap<String, String> = forms::latest("dash")
        .unwrap()
        .question_ids()
        .enumerate()
        .map(|(i, q)| {
            (
                q.to_string(),
                if i < yes { "yes" } else { "no" }.to_string(),
            )
        })
        .collect();
    AssessmentInput {
        answers,
        ..Default::default()
    }
}

/// DASH version 2 as a force might publish it: the same questions, high risk and the MARAC
/// threshold from 12 yes answers instead of 14.
fn dash_v2() -> Value {
    let mut def = serde_json::to_value(forms::latest("dash").unwrap()).unwrap();
    def["version"] = json!(2);
    def["scoring"]["levels"][0]["min_score"] = json!(12);
    def["scoring"]["marac_min_score"] = json!(12);
    def
}

fn directory_v2() -> Value {
    let mut dir = serde_json::to_value(provide_core::directory::Directory::shipped()).unwrap();
    dir["version"] = json!(2);
    dir["services"][0]["hours"] = json!("24 hours, every day");
    dir
}

fn level_of(view: &CaseView, assessment: &str) -> (u64, Option<u64>, RiskLevel) {
    let a = view
        .record
        .risk_assessments
        .iter()
        .find(|a| a.id == assessment)
        .unwrap();
    let r = view
        .assessments
        .iter()
        .find(|r| r.assessment_id == assessment)
        .unwrap();
    (a.form_version, r.evaluation.score, r.evaluation.level)
}

fn published_count(server: &TestServer) -> usize {
    server.service.storage.published_reference().unwrap().len()
}

#[test]
fn bad_definitions_are_refused_naming_the_field_and_nothing_is_stored() {
    let server = TestServer::start();
    let mut unscorable = dash_v2();
    unscorable["scoring"]["levels"][0]["min_score"] = json!(40);
    let mut inconsistent = dash_v2();
    inconsistent["groups"][1]["questions"][0]["id"] = json!("dash_01");
    let mut not_newer = dash_v2();
    not_newer["version"] = json!(1);
    let mut upside_down = dash_v2();
    upside_down["scoring"]["levels"][1]["min_score"] = json!(20);
    let mut unknown = dash_v2();
    unknown["id"] = json!("other");
    let cases: Vec<(&str, String, &str)> = vec![
        ("malformed", "{\"id\": \"dash\", ".into(), "not valid"),
        (
            "missing scoring",
            {
                let mut d = dash_v2();
                d.as_object_mut().unwrap().remove("scoring");
                d.to_string()
            },
            "scoring",
        ),
        (
            "unscorable",
            unscorable.to_string(),
            "`scoring.levels[0].min_score`",
        ),
        (
            "inconsistent",
            inconsistent.to_string(),
            "`groups[1].questions[0].id`",
        ),
        ("not newer", not_newer.to_string(), "`version`"),
        (
            "levels upside down",
            upside_down.to_string(),
            "`scoring.levels`",
        ),
        ("unknown form", unknown.to_string(), "`id`"),
    ];
    for (what, json, names) in cases {
        let err = server.service.publish_form(&json).unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{what}: {err}");
        assert!(err.to_string().contains(names), "{what}: {err}");
    }
    let mut bad_phone = directory_v2();
    bad_phone["services"][3]["phone"] = json!("call 0800 <script>");
    let err = server
        .service
        .publish_directory(&bad_phone.to_string())
        .unwrap_err();
    assert!(err.to_string().contains("`services[3].phone`"), "{err}");
    let mut old = directory_v2();
    old["version"] = json!(1);
    assert!(server
        .service
        .publish_directory(&old.to_string())
        .unwrap_err()
        .to_string()
        .contains("`version`"));
    assert_eq!(published_count(&server), 0, "nothing stored");
    let audit = server
        .service
        .storage
        .audit(&provide_sync_server::storage::AuditFilter {
            entries: provide_core::report::CheckedAuditQuery {
                action: Some("publish_reference".into()),
                ..Default::default()
            },
            division: None,
            newest_first: false,
        })
        .unwrap();
    assert!(audit.is_empty(), "nothing published, nothing audited");
    // the same through the administrator's command, which says what is wrong and exits 2
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("dash-v2.json");
    std::fs::write(&file, unscorable_file()).unwrap();
    let out = Command::new(bin("provide-sync-server"))
        .args(["--data-dir", tmp.path().join("data").to_str().unwrap()])
        .args(["forms", "publish", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("min_score"), "{stderr}");
}

fn unscorable_file() -> String {
    let mut d = dash_v2();
    d["scoring"]["marac_min_score"] = json!(99);
    d.to_string()
}

#[test]
fn a_published_form_reaches_devices_and_every_assessment_keeps_its_version() {
    let server = TestServer::start();
    let mut idva = Device::enrol(&server, "idva.ref.fictional", "idva", "west", "t1");
    let mut offline = Device::enrol(&server, "idva.away.fictional", "idva", "west", "t1");
    let mut officer = Device::enrol(&server, "pc.ref.fictional", "officer", "west", "t1");
    let case = officer
        .store
        .create_case(
            Deployment::PostIncident,
            &[("victim.name".to_string(), "Seren Fictional".to_string())],
        )
        .unwrap();
    officer.sync().unwrap();
    idva.sync().unwrap();
    offline.sync().unwrap();
    // before the update: 13 yes answers is medium under version 1
    let (before, eval) = idva.store.assess(&case, "dash", &dash(13)).unwrap();
    assert_eq!(eval.level, RiskLevel::Medium);
    idva.sync().unwrap();

    let def: FormDef = server.service.publish_form(&dash_v2().to_string()).unwrap();
    assert_eq!(def.version, 2);
    let dir = server
        .service
        .publish_directory(&directory_v2().to_string())
        .unwrap();
    assert!(dir.published_at.is_some());
    assert_eq!(published_count(&server), 2);

    // the next sync brings both
    assert_eq!(idva.store.form("dash").unwrap().version, 1);
    idva.sync().unwrap();
    assert_eq!(idva.store.form("dash").unwrap().version, 2);
    let d = idva.store.directory().unwrap();
    assert_eq!((d.version, d.published_at.is_some()), (2, true));
    assert_eq!(d.services[0].hours, "24 hours, every day");
    // a new assessment uses version 2 (13 yes is high now); the old one stays version 1
    let (after, eval) = idva.store.assess(&case, "dash", &dash(13)).unwrap();
    assert_eq!(eval.level, RiskLevel::High);
    let view = idva.store.show_case(&case).unwrap();
    assert_eq!(level_of(&view, &before), (1, Some(13), RiskLevel::Medium));
    assert_eq!(level_of(&view, &after), (2, Some(13), RiskLevel::High));

    // the device that was offline during the update goes on with version 1
    let (away, eval) = offline.store.assess(&case, "dash", &dash(13)).unwrap();
    assert_eq!(eval.level, RiskLevel::Medium);
    assert_eq!(offline.store.form("dash").unwrap().version, 1);
    offline.sync().unwrap();
    idva.sync().unwrap();
    offline.sync().unwrap();
    assert_eq!(offline.store.form("dash").unwrap().version, 2);
    for device in [&mut idva, &mut offline] {
        let view = device.store.show_case(&case).unwrap();
        assert_eq!(level_of(&view, &before), (1, Some(13), RiskLevel::Medium));
        assert_eq!(level_of(&view, &away), (1, Some(13), RiskLevel::Medium));
        assert_eq!(level_of(&view, &after), (2, Some(13), RiskLevel::High));
    }
    // a device that already has everything does not fetch again
    let tag = idva.store.reference_tag().unwrap();
    assert!(
        tag.contains("dash:2") && tag.contains("directory:2"),
        "{tag}"
    );
    // each side audited it
    assert!(idva.store.audit_entries().unwrap().iter().any(|e| e
        .detail
        .contains("reference data received: dash v2, directory v2")));
    // the upgrade survives a restart of the app
    idva.reopen();
    assert_eq!(idva.store.form("dash").unwrap().version, 2);
}
