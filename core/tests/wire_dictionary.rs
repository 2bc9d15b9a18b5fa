//! Makes the sync protocol's compression dictionary (`core/src/sync/dictionary.bin`), and checks
//! that it still does its job.
//!
//! The dictionary is the uncompressed sync messages of a new device's first day, made by the
//! real store: every kind of record created empty (a case of each deployment with a DASH and a
//! DARA checklist, one item in each list, a health note, a shift), then one field edit, and the
//! server's answers. So it holds the Automerge layouts, the schema's field names and choices,
//! the author metadata and the audit log's phrases, and no one's details: the free text it holds
//! is empty and the one user is called "user".
//!
//! `UPDATE_WIRE_DICTIONARY=1 cargo test -p provide-core --test wire_dictionary` writes a new
//! file; it then needs a new protocol version and its hash pinned in `sync::dictionary`.

use std::collections::BTreeMap;

use provide_core::forms::{self, AssessmentInput};
use provide_core::model::{Deployment, Pattern, Role};
use provide_core::store::{ShiftInput, Upload};
use provide_core::sync::dictionary;
use provide_core::sync::protocol::{DocAck, DocOutcome, SyncRequest, SyncResponse};
use provide_core::Store;

mod support;

fn request(store: &mut Store, seq: u64) -> (Vec<Upload>, SyncRequest) {
    let (sent, _) = store.pending_uploads(1 << 20).unwrap();
    let req = SyncRequest {
        request_seq: seq,
        cursor: seq,
        docs: sent.iter().map(|u| u.doc.clone()).collect(),
        max_response_bytes: 1 << 20,
        audit: store.audit_to_upload(100).unwrap(),
        erased_confirmed: vec![],
        epochs: vec![],
        relayed: vec![],
    };
    (sent, req)
}

fn answer(store: &mut Store, sent: &[Upload], req: &SyncRequest) -> SyncResponse {
    let resp = SyncResponse {
        request_seq: req.request_seq,
        acks: sent
            .iter()
            .enumerate()
            .map(|(doc, _)| DocAck {
                doc,
                outcome: DocOutcome::Accepted,
            })
            .collect(),
        cursor: req.cursor + 1,
        audit_acked: req.audit.last().map(|e| e.seq as u64).unwrap_or(0),
        ..Default::default()
    };
    store.apply_sync_response(sent, &resp).unwrap();
    store
        .record_contact(resp.audit_acked)
        .expect("the audit acknowledgement is kept");
    resp
}

fn checklist(form: &str, answer: &str, level: Option<&str>) -> AssessmentInput {
    AssessmentInput {
        answers: forms::latest(form)
            .unwrap()
            .question_ids()
            .map(|q| (q.to_string(), answer.to_string()))
            .collect::<BTreeMap<_, _>>(),
        judgement_level: level.map(str::to_string),
        judgement_reason: None,
        incidents_12_months: Some(0),
    }
}

/// A first day's sync messages, oldest first: the most common parts (an edit, an answer) come
/// last, where the compressor reaches them most cheaply.
fn first_day() -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let mut idva = support::new_store(
        &tmp.path().join("idva"),
        "user",
        Role::Idva,
        "fictional passphrase 8",
    );
    let mut out = Vec::new();
    let mut cases = Vec::new();
    for deployment in [
        Deployment::Consultation,
        Deployment::Live,
        Deployment::PostIncident,
    ] {
        let id = idva
            .create_case(deployment, &[("status".into(), "active".into())])
            .unwrap();
        idva.assess(&id, "dash", &checklist("dash", "no", None))
            .unwrap();
        for (list, item) in [
            ("notes", serde_json::json!({ "text": "." })),
            (
                "referrals",
                serde_json::json!({ "kind": "marac", "service": ".", "consent": "yes", "status": "made" }),
            ),
            ("safety_plan", serde_json::json!({ "text": "." })),
        ] {
            idva.add_case_item(&id, list, &item).unwrap();
        }
        cases.push(id);
    }
    idva.add_health_note(&cases[0], ".").unwrap();
    let shift = idva
        .start_shift(&ShiftInput {
            pattern: Pattern::Early,
            call_sign: ".".into(),
            partner: "user".into(),
            date: None,
        })
        .unwrap();
    idva.plan_visit(&shift, &cases[0]).unwrap();
    let (sent, req) = request(&mut idva, 1);
    out.extend(req.body());
    out.extend(answer(&mut idva, &sent, &req).body());

    let mut officer = support::new_store(
        &tmp.path().join("pc"),
        "user",
        Role::Officer,
        "fictional passphrase 8",
    );
    let id = officer.create_case(Deployment::Live, &[]).unwrap();
    officer
        .assess(&id, "dara", &checklist("dara", "no", Some("standard")))
        .unwrap();
    let (sent, req) = request(&mut officer, 1);
    out.extend(req.body());
    answer(&mut officer, &sent, &req);

    for (n, (path, value)) in [
        ("status", "handed_over"),
        ("victim.safe_contact.text_ok", "true"),
    ]
    .into_iter()
    .enumerate()
    {
        idva.set_case_fields(&cases[n], &[(path.into(), value.into())])
            .unwrap();
        let (sent, req) = request(&mut idva, 2 + n as u64);
        out.extend(req.body());
        out.extend(answer(&mut idva, &sent, &req).body());
    }
    out
}

#[test]
fn the_dictionary_is_made_from_a_first_days_messages_and_makes_an_edit_smaller() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/sync/dictionary.bin");
    if std::env::var("UPDATE_WIRE_DICTIONARY").is_ok_and(|v| v == "1") {
        std::fs::write(path, first_day()).unwrap();
        return;
    }
    assert!(
        dictionary::DICTIONARY.len() > 2_000,
        "run with UPDATE_WIRE_DICTIONARY=1 to make the dictionary"
    );
    // a fresh day's messages (new ids, times and hashes) shrink against it
    let tmp = tempfile::tempdir().unwrap();
    let mut pc = support::new_store(
        tmp.path(),
        "pc.hale.fictional",
        Role::Officer,
        "fictional passphrase 8",
    );
    let id = pc
        .create_case(
            Deployment::Live,
            &[("victim.name".into(), "Fictional Person".into())],
        )
        .unwrap();
    let (sent, req) = request(&mut pc, 1);
    answer(&mut pc, &sent, &req);
    pc.set_case_fields(&id, &[("status".into(), "closed".into())])
        .unwrap();
    let (_, edit) = request(&mut pc, 2);
    let body = edit.body();
    let plain = zstd::bulk::compress(&body, 19).unwrap().len();
    let primed = dictionary::compress(&body).len();
    assert!(
        primed * 10 < plain * 8,
        "one edit: {primed} bytes with the dictionary, {plain} without"
    );
}
