//! Writes the fuzzers' seed corpora (fuzz/corpus/<target>/) from real records made with
//! provide-core's own APIs: `cargo run -p provide-core --example fuzz_seeds -- fuzz/corpus`.
//! Fictional people only.

use std::path::Path;

use automerge::ActorId;
use provide_core::bundle::{BundleRecord, Payload};
use provide_core::model::{
    Case, Deployment, HealthRecord, Pattern, RecordKind, Role, Shift, SHIFT_SCHEMA,
};
use provide_core::record::{edit, Author, RecordDoc};
use provide_core::sync::changes::write_alone;
use provide_core::sync::protocol::{DocAck, DocChanges, DocOutcome, SyncRequest, SyncResponse};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(name), bytes).unwrap();
}

fn main() {
    let out = std::env::args().nth(1).expect("the corpus folder");
    let out = Path::new(&out);
    let author = Author::new("pc.ada.fictional", Role::Officer);
    let actor = ActorId::from(&[1u8; 16][..]);
    let now = "2026-03-05T09:00:00.000Z";

    let case = Case::new(
        "case-seed-1".into(),
        Deployment::PostIncident,
        &author.user,
        now,
    );
    let mut rec = RecordDoc::new_case(&case, &actor, &author).unwrap();
    let first = rec.heads();
    for i in 0..3 {
        let note = serde_json::json!({ "text": format!("Fictional note {i}") });
        edit::add_case_item(
            &mut rec,
            "notes",
            &note,
            &author,
            now,
            provide_core::directory::Directory::shipped(),
        )
        .unwrap();
        rec.commit(&author);
    }
    edit::set_field(&mut rec, "victim.name", "Jane Fictional", Role::Officer).unwrap();
    rec.commit(&author);
    let case_whole = rec.wire_snapshot();
    let case_changes = rec.save_after(&first);
    let mut health =
        RecordDoc::new_health(&HealthRecord::new("case-seed-1"), &actor, &author).unwrap();
    let health_whole = health.wire_snapshot();
    let shift = Shift {
        schema: SHIFT_SCHEMA,
        id: "shift-seed-1".into(),
        date: "2026-03-05".into(),
        pattern: Pattern::parse(Pattern::NAMES[0]).unwrap(),
        call_sign: "WX12".into(),
        officer: author.user.clone(),
        idva: "idva.val.fictional".into(),
        division: "west".into(),
        team: "t1".into(),
        planned_visits: vec![],
        started_at: None,
        ended_at: None,
    };
    let shift_whole = RecordDoc::new_shift(&shift, &actor, &author)
        .unwrap()
        .wire_snapshot();

    // protocol: a request with a whole case and its later changes, and a response
    let docs = vec![
        DocChanges {
            id: "case-seed-1".into(),
            kind: RecordKind::Case,
            base: vec![],
            changes: case_whole.clone(),
        },
        DocChanges {
            id: "case-seed-2".into(),
            kind: RecordKind::Case,
            base: first.clone(),
            changes: case_changes.clone(),
        },
    ];
    let request = SyncRequest {
        request_seq: 7,
        cursor: 3,
        docs: docs.clone(),
        max_response_bytes: 1 << 20,
        audit: vec![],
        erased_confirmed: vec![],
        epochs: vec![],
        relayed: vec![],
    };
    write(out, "protocol", "request", &request.encode());
    let response = SyncResponse {
        request_seq: 7,
        acks: vec![
            DocAck {
                doc: 0,
                outcome: DocOutcome::Accepted,
            },
            DocAck {
                doc: 1,
                outcome: DocOutcome::NeedHistory,
            },
        ],
        updates: docs,
        purge: vec!["case-seed-9".into()],
        cursor: 12,
        more: true,
        revoked: false,
        audit_acked: 4,
        audit_rejected: false,
        authors: vec![provide_core::sync::protocol::ActorAuthor {
            actor: vec![0xab; 16],
            user: "pc.seed.fictional".into(),
            role: provide_core::model::Role::Officer,
        }],
        retention: Some(provide_core::sync::scope::Retention { grace_hours: 72 }),
        erased: vec![],
        rectified: vec![],
    };
    write(out, "protocol", "response", &response.encode());

    // changes: packed changes, and a whole document as it is
    write(out, "changes", "packed", &write_alone(&case_changes));
    write(out, "changes", "whole", &write_alone(&case_whole));

    // record: the kind byte, then the bytes
    for (name, kind, bytes) in [
        ("case", 0u8, &case_whole),
        ("case-changes", 0, &case_changes),
        ("health", 1, &health_whole),
        ("shift", 2, &shift_whole),
    ] {
        let mut b = vec![kind];
        b.extend_from_slice(bytes);
        write(out, "record", name, &b);
    }

    // bundle: the decrypted contents (zstd-compressed JSON)
    let payload = Payload {
        format: 1,
        created_at: now.into(),
        device_id: "device-seed".into(),
        user: author.user.clone(),
        role: "officer".into(),
        records: vec![
            BundleRecord {
                id: "case-seed-1".into(),
                kind: "case".into(),
                changes: hex::encode(&case_whole),
            },
            BundleRecord {
                id: "shift-seed-1".into(),
                kind: "shift".into(),
                changes: hex::encode(&shift_whole),
            },
        ],
    };
    let json = serde_json::to_vec(&payload).unwrap();
    write(
        out,
        "bundle",
        "payload",
        &zstd::encode_all(&json[..], 3).unwrap(),
    );

    // forms: answers as the app and the command line send them
    let dash = provide_core::forms::latest("dash").unwrap();
    let answers: serde_json::Map<String, serde_json::Value> = dash
        .question_ids()
        .enumerate()
        .map(|(i, q)| {
            (
                q.to_string(),
                (if i % 3 == 0 { "yes" } else { "no" }).into(),
            )
        })
        .collect();
    write(out, "forms", "bare", &serde_json::to_vec(&answers).unwrap());
    let full = serde_json::json!({
        "answers": answers,
        "judgement_level": "high",
        "judgement_reason": "escalating threats",
        "incidents_12_months": 4
    });
    write(out, "forms", "full", &serde_json::to_vec(&full).unwrap());
    write(
        out,
        "forms",
        "dara",
        br#"{"answers": {}, "judgement_level": "medium"}"#,
    );
    // forms: definitions and a directory as an administrator publishes them
    let mut next = serde_json::to_value(dash).unwrap();
    next["version"] = 2.into();
    write(out, "forms", "dash-v2", &serde_json::to_vec(&next).unwrap());
    let mut dara = serde_json::to_value(provide_core::forms::latest("dara").unwrap()).unwrap();
    dara["version"] = 2.into();
    write(out, "forms", "dara-v2", &serde_json::to_vec(&dara).unwrap());
    let mut dir = serde_json::to_value(provide_core::directory::Directory::shipped()).unwrap();
    dir["version"] = 2.into();
    write(
        out,
        "forms",
        "directory-v2",
        &serde_json::to_vec(&dir).unwrap(),
    );
}
