//! A full multi-device scenario full of canary strings, for tests that check what a server
//! writes about it (its log, its metrics): officer, IDVA and safeguarding devices record cases
//! with distinctive fictional names, addresses, phone numbers, notes, a health note and DASH
//! assessments, sync, make conflicting offline edits and sync again; a client presents a wrong
//! credential and another a wrong enrolment code. Every personal detail, code and secret used
//! is returned, so a test can search the server's output for each.

use std::collections::BTreeSet;

use provide_core::forms::AssessmentInput;
use provide_core::model::Deployment;

use crate::{sets, Device};

/// What the scenario did and every string that must never appear in a server's output.
pub struct Outcome {
    /// Names, addresses, phone numbers and free text written into records.
    pub canaries: Vec<String>,
    /// Enrolment codes (spent and wrong), device credentials and their secrets.
    pub secrets: Vec<String>,
    /// The server's device ids (which the log may carry).
    pub device_ids: Vec<String>,
    /// The records made (cases and health records).
    pub records: BTreeSet<String>,
    /// Sync requests answered (round trips of syncs that succeeded).
    pub sync_round_trips: u64,
    /// Documents the devices sent up, and received, in those syncs.
    pub docs_up: u64,
    pub docs_down: u64,
    /// Requests that presented a wrong credential, and wrong enrolment codes presented.
    pub bad_credentials: u64,
    pub bad_codes: u64,
}

fn dash(yes: usize, reason: &str) -> AssessmentInput {
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
        judgement_level: Some("high".into()),
        judgement_reason: Some(reason.into()),
        ..Default::default()
    }
}

fn note(text: &str) -> serde_json::Value {
    serde_json::json!({ "text": text })
}

/// Runs the scenario against the server at `url`; `code(user, role, team)` issues an
/// enrolment code (division `west`).
pub fn run(url: &str, code: &dyn Fn(&str, &str, &str) -> String) -> Outcome {
    let mut out = Outcome {
        canaries: Vec::new(),
        secrets: Vec::new(),
        device_ids: Vec::new(),
        records: BTreeSet::new(),
        sync_round_trips: 0,
        docs_up: 0,
        docs_down: 0,
        bad_credentials: 0,
        bad_codes: 0,
    };
    let mut canary = |s: &str| -> String {
        out.canaries.push(s.to_string());
        s.to_string()
    };
    let victim = canary("Quillfeather Canarysson");
    let address = canary("17 Canarybird Lane, Fictionton FT1 9ZZ");
    let phone = canary("07700 900417");
    let perpetrator = canary("Thornwick Canaryvale");
    let note_text = canary("Canarynote: she hid the spare key under the blue plant pot");
    let health_text = canary("Canaryhealth: seen at the Wrenmoor fictional clinic");
    let reason = canary("Canaryjudge: threats with a knife last Tuesday");
    let victim2 = canary("Marisol Canarybright");
    let address2 = canary("4 Canaryfinch Court, Fictionton FT2 8YY");
    let phones = [
        canary("07700 900501"),
        canary("07700 900502"),
        canary("07700 900503"),
    ];
    let conflict_notes = [
        canary("Canaryconflict officer: neighbour heard shouting"),
        canary("Canaryconflict idva: moved to her sister's flat"),
        canary("Canaryconflict safeguarding: referral to MARAC"),
    ];

    let mut enrol = |user: &str, role: &str, team: &str| -> Device {
        let c = code(user, role, team);
        let d = Device::enrol_at(url, None, &c).unwrap();
        out.secrets.push(c);
        let link = d.store.server_link().unwrap();
        let credential = link.credential.to_string();
        let (id, secret) = credential.split_once('.').unwrap();
        out.device_ids.push(id.to_string());
        out.secrets.push(secret.to_string());
        out.secrets.push(credential.clone());
        d
    };
    let mut officer = enrol("pc.canary.fictional", "officer", "t1");
    let mut idva = enrol("idva.canary.fictional", "idva", "t1");
    let mut safeguarding = enrol("sg.canary.fictional", "safeguarding", "");

    let synced = |d: &mut Device, out: &mut Outcome| {
        let r = d.sync().unwrap();
        assert!(r.refused.is_empty(), "{:?}", r.refused);
        out.sync_round_trips += u64::from(r.round_trips);
        out.docs_up += r.docs_sent as u64;
        out.docs_down += r.docs_received as u64;
    };

    // the officer records the attendance, with an assessment and a note
    let case = officer
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("victim.name", &victim),
                ("victim.address", &address),
                ("victim.phone", &phone),
                ("perpetrator.name", &perpetrator),
                ("incident.reference", "WE-CANARY-0001"),
            ]),
        )
        .unwrap();
    officer
        .store
        .add_case_item(&case, "notes", &note(&note_text))
        .unwrap();
    officer
        .store
        .assess(&case, "dash", &dash(14, &reason))
        .unwrap();
    out.records.insert(case.clone());
    synced(&mut officer, &mut out);
    synced(&mut idva, &mut out);
    synced(&mut safeguarding, &mut out);

    // the IDVA adds health information and a case of its own
    idva.store.add_health_note(&case, &health_text).unwrap();
    out.records.insert(format!("{case}.health"));
    let case2 = idva
        .store
        .create_case(
            Deployment::Live,
            &sets(&[("victim.name", &victim2), ("victim.address", &address2)]),
        )
        .unwrap();
    idva.store
        .assess(&case2, "dash", &dash(3, &reason))
        .unwrap();
    out.records.insert(case2.clone());
    synced(&mut idva, &mut out);
    synced(&mut officer, &mut out);
    synced(&mut safeguarding, &mut out);

    // all three offline, editing the same field and adding notes: a conflict
    for ((d, p), n) in [&mut officer, &mut idva, &mut safeguarding]
        .into_iter()
        .zip(&phones)
        .zip(&conflict_notes)
    {
        d.store
            .set_case_fields(&case, &sets(&[("victim.phone", p)]))
            .unwrap();
        d.store.add_case_item(&case, "notes", &note(n)).unwrap();
    }
    for _ in 0..2 {
        for d in [&mut officer, &mut idva, &mut safeguarding] {
            synced(d, &mut out);
        }
    }
    let conflicts = |d: &mut Device| d.store.show_case(&case).unwrap().conflicts.len();
    assert!(conflicts(&mut officer) > 0, "the phone edits conflict");

    // a wrong credential for a real device, and one that names no device
    let wrong_secret = "c".repeat(64);
    let real = officer.store.server_link().unwrap().credential.to_string();
    let (officer_id, _) = real.split_once('.').unwrap();
    let client = reqwest::blocking::Client::new();
    for bearer in [
        format!("{officer_id}.{wrong_secret}"),
        format!("no-such-device.{wrong_secret}"),
    ] {
        let status = client
            .post(format!("{url}/v1/sync"))
            .bearer_auth(&bearer)
            .body(vec![0u8; 16])
            .send()
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 401);
        out.bad_credentials += 1;
    }
    out.secrets.push(wrong_secret);

    // an enrolment with a wrong code: a real one with its last letter changed
    let real_code = code("pc.unused.fictional", "officer", "t1");
    let mut wrong: Vec<char> = real_code.chars().collect();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == 'A' { 'B' } else { 'A' };
    let wrong: String = wrong.into_iter().collect();
    assert!(Device::enrol_at(url, None, &wrong).is_err());
    out.bad_codes += 1;
    out.secrets.push(real_code);
    out.secrets.push(wrong);
    out
}
