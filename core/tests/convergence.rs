//! Property test: two and three replicas of a case, edited offline in random interleavings with
//! random merges, converge to identical documents, heads and conflicts once every replica has
//! every change, and no added list item is ever lost.

use automerge::ActorId;
use proptest::prelude::*;
use provide_core::model::{Case, Deployment, Role};
use provide_core::record::{conflicts, edit, Author, RecordDoc};

const PATHS: &[(&str, &[&str])] = &[
    ("status", &["triaged", "active", "handed_over", "closed"]),
    (
        "victim.name",
        &["Ffion Fictional", "F. Fictional", "Ffion Testcase"],
    ),
    ("victim.safe_contact.call_ok", &["true", "false", "unknown"]),
    ("perpetrator.in_custody", &["true", "false"]),
    ("outcome.engaged_safeguarding", &["yes", "no", "unknown"]),
    ("incident.reference", &["LC-0001", "LC-0002"]),
];

#[derive(Debug, Clone)]
enum Op {
    Set {
        replica: usize,
        path: usize,
        value: usize,
    },
    Note {
        replica: usize,
    },
    Referral {
        replica: usize,
    },
    Merge {
        from: usize,
        to: usize,
    },
}

fn op(replicas: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..replicas, 0..PATHS.len(), 0..4usize).prop_map(|(replica, path, value)| Op::Set { replica, path, value }),
        2 => (0..replicas).prop_map(|replica| Op::Note { replica }),
        1 => (0..replicas).prop_map(|replica| Op::Referral { replica }),
        2 => (0..replicas, 0..replicas).prop_map(|(from, to)| Op::Merge { from, to }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (2..=3usize).prop_flat_map(|n| (Just(n), prop::collection::vec(op(n), 1..40)))
}

fn author(i: usize) -> Author {
    let roles = [Role::Officer, Role::Idva, Role::Safeguarding];
    Author::new(&format!("user-{i}"), roles[i % 3])
}

fn run(n: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let origin = Case::new(
        "case-1".into(),
        Deployment::PostIncident,
        "user-0",
        "2026-11-22T08:00:00Z",
    );
    let mut first = RecordDoc::new_case(&origin, &ActorId::random(), &author(0)).unwrap();
    let base = first.save();
    let mut replicas: Vec<RecordDoc> = vec![first];
    for i in 1..n {
        replicas.push(
            RecordDoc::load(
                "case-1",
                provide_core::model::RecordKind::Case,
                std::slice::from_ref(&base),
                &ActorId::random(),
                &author(i),
            )
            .unwrap(),
        );
    }
    let mut added_ids: Vec<String> = Vec::new();
    for op in ops {
        match op {
            Op::Set {
                replica,
                path,
                value,
            } => {
                let (p, values) = PATHS[*path];
                let v = values[*value % values.len()];
                let role = author(*replica).role;
                // a value the writer's role may not write (an officer marking a case triaged)
                // is refused before anything is written, as the app refuses it
                match edit::set_field(&mut replicas[*replica], p, v, role) {
                    Ok(()) => {
                        replicas[*replica].commit(&author(*replica));
                    }
                    Err(provide_core::Error::Forbidden { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Note { replica } => {
                let a = author(*replica);
                let id = edit::add_case_item(
                    &mut replicas[*replica],
                    "notes",
                    &serde_json::json!({"text": "seen"}),
                    &a,
                    "2026-11-22T09:00:00Z",
                    provide_core::directory::Directory::shipped(),
                )
                .unwrap();
                replicas[*replica].commit(&a);
                added_ids.push(id);
            }
            Op::Referral { replica } => {
                let a = Author::new(&format!("user-{replica}"), Role::Idva);
                let id = edit::add_case_item(
                    &mut replicas[*replica],
                    "referrals",
                    &serde_json::json!({"kind": "refuge", "service": "Refuge"}),
                    &a,
                    "2026-11-22T09:00:00Z",
                    provide_core::directory::Directory::shipped(),
                )
                .unwrap();
                replicas[*replica].commit(&a);
                added_ids.push(id);
            }
            Op::Merge { from, to } if from != to => {
                let bytes = replicas[*from].save();
                replicas[*to].merge_bytes(&bytes).unwrap();
            }
            Op::Merge { .. } => {}
        }
    }
    // full exchange: every replica receives every other's changes
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let bytes = replicas[j].save();
                replicas[i].merge_bytes(&bytes).unwrap();
            }
        }
    }
    let heads0 = replicas[0].heads();
    let case0 = replicas[0].case().unwrap();
    let conflicts0 = conflicts::find(replicas[0].doc_mut(), &Default::default());
    for r in replicas.iter_mut().skip(1) {
        prop_assert_eq!(r.heads(), heads0.clone());
        prop_assert_eq!(r.case().unwrap(), case0.clone());
        prop_assert_eq!(
            conflicts::find(r.doc_mut(), &Default::default()),
            conflicts0.clone()
        );
    }
    let mut present: Vec<&str> = case0
        .notes
        .iter()
        .map(|n| n.id.as_str())
        .chain(case0.referrals.iter().map(|r| r.id.as_str()))
        .collect();
    present.sort();
    for id in &added_ids {
        prop_assert!(
            present.binary_search(&id.as_str()).is_ok(),
            "added item {} was lost",
            id
        );
    }
    prop_assert_eq!(present.len(), added_ids.len());
    Ok(())
}

/// The number of cases to run: `var` if set, else `default`.
fn cases(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    // 1000 cases in the suite; `make soak` runs 10,000 (PROVIDE_CONVERGENCE_CASES)
    #![proptest_config(ProptestConfig { cases: cases("PROVIDE_CONVERGENCE_CASES", 1000), ..ProptestConfig::default() })]
    #[test]
    fn replicas_converge_and_lose_nothing((n, ops) in scenario()) {
        run(n, &ops)?;
    }
}

#[test]
fn concurrent_scalar_writes_are_reported_with_authors() {
    let origin = Case::new(
        "case-2".into(),
        Deployment::Live,
        "user-0",
        "2026-11-22T08:00:00Z",
    );
    let mut a = RecordDoc::new_case(&origin, &ActorId::random(), &author(0)).unwrap();
    let mut b = RecordDoc::load(
        "case-2",
        provide_core::model::RecordKind::Case,
        &[a.save()],
        &ActorId::random(),
        &author(1),
    )
    .unwrap();
    edit::set_field(&mut a, "status", "handed_over", Role::Officer).unwrap();
    a.commit(&author(0));
    edit::set_field(&mut b, "status", "closed", Role::Idva).unwrap();
    b.commit(&author(1));
    let (ab, bb) = (a.save(), b.save());
    a.merge_bytes(&bb).unwrap();
    b.merge_bytes(&ab).unwrap();
    let ca = conflicts::find(a.doc_mut(), &Default::default());
    assert_eq!(ca, conflicts::find(b.doc_mut(), &Default::default()));
    assert_eq!(ca.len(), 1);
    assert_eq!(ca[0].path, "status");
    let mut who: Vec<(String, String, String)> = ca[0]
        .values
        .iter()
        .map(|v| {
            (
                v.value.as_str().unwrap().to_string(),
                v.user.clone(),
                v.role.clone(),
            )
        })
        .collect();
    who.sort();
    assert_eq!(
        who,
        vec![
            ("closed".into(), "user-1".into(), "idva".into()),
            ("handed_over".into(), "user-0".into(), "officer".into()),
        ]
    );
    assert!(ca[0].values.iter().all(|v| v.at.starts_with("20")));
    // writing a value on purpose resolves the conflict everywhere
    edit::set_field(&mut a, "status", "closed", Role::Officer).unwrap();
    a.commit(&author(0));
    b.merge_bytes(&a.save()).unwrap();
    assert!(conflicts::find(a.doc_mut(), &Default::default()).is_empty());
    assert!(conflicts::find(b.doc_mut(), &Default::default()).is_empty());
}

#[test]
fn an_unrelated_edit_does_not_hide_a_conflict() {
    let origin = Case::new(
        "case-3".into(),
        Deployment::Live,
        "user-0",
        "2026-11-22T08:00:00Z",
    );
    let mut a = RecordDoc::new_case(&origin, &ActorId::random(), &author(0)).unwrap();
    let mut b = RecordDoc::load(
        "case-3",
        provide_core::model::RecordKind::Case,
        &[a.save()],
        &ActorId::random(),
        &author(1),
    )
    .unwrap();
    edit::set_field(&mut a, "victim.name", "Ada Fictional", Role::Officer).unwrap();
    a.commit(&author(0));
    edit::set_field(&mut b, "victim.name", "Ada Fictitious", Role::Idva).unwrap();
    b.commit(&author(1));
    a.merge_bytes(&b.save()).unwrap();
    edit::set_field(&mut a, "perpetrator.name", "Bob Fictional", Role::Officer).unwrap();
    edit::add_case_item(
        &mut a,
        "notes",
        &serde_json::json!({"text": "x"}),
        &author(0),
        "2026-11-22T09:00:00Z",
        provide_core::directory::Directory::shipped(),
    )
    .unwrap();
    a.commit(&author(0));
    let c = conflicts::find(a.doc_mut(), &Default::default());
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].path, "victim.name");
}
