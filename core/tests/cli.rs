//! Integration tests of the `provide` command line: the real binary, run against stores in
//! temporary folders. Every person, phone number (Ofcom drama range) and address is fictional.

mod common;
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const VICTIM: &str = "Morwenna Testcase";
const PHONE: &str = "07700 900123";
const ADDRESS: &str = "14 Fictional Row, Testville";

fn ids(rows: &[Value]) -> BTreeSet<String> {
    rows.iter()
        .map(|r| r["id"].as_str().expect("row id").to_string())
        .collect()
}

fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// 1. Create a case with every kind of field, fill its lists, assess it, list, search and read
///    its history.
#[test]
fn full_happy_path() {
    let root = tempfile::tempdir().unwrap();
    let a = Store::init(
        &root.path().join("a"),
        "idva-rowan",
        "idva",
        &["--division", "North", "--team", "T1"],
    );

    let sets: &[(&str, &str)] = &[
        ("incident.reference", "LC-TEST-000042"),
        ("incident.occurred_at", "2025-01-15T21:15:00+01:00"),
        ("victim.name", VICTIM),
        ("victim.dob", "1990-12-31"),
        ("victim.phone", PHONE),
        ("victim.address", ADDRESS),
        ("victim.language", "Cornish"),
        ("victim.safe_contact.call_ok", "true"),
        ("victim.safe_contact.text_ok", "no"),
        ("victim.safe_contact.voicemail_ok", "false"),
        ("perpetrator.name", "Jago Notreal"),
        ("perpetrator.in_custody", "yes"),
        ("outcome.engaged_safeguarding", "yes"),
        ("outcome.engaged_investigation", "no"),
        ("status", "handed_over"),
    ];
    let id = a.new_case("post_incident", sets);

    let view = a.show(&id);
    assert_eq!(view["id"], id);
    let r = &view["record"];
    assert_eq!(r["id"], id);
    assert_eq!(r["deployment"], "post_incident");
    assert_eq!(r["created_by"], "idva-rowan");
    assert_eq!(r["incident"]["reference"], "LC-TEST-000042");
    assert_eq!(
        r["incident"]["occurred_at"], "2025-01-15T20:15:00Z",
        "occurred_at is normalised to UTC"
    );
    assert_eq!(r["victim"]["name"], VICTIM);
    assert_eq!(r["victim"]["dob"], "1990-12-31");
    assert_eq!(r["victim"]["phone"], PHONE);
    assert_eq!(r["victim"]["address"], ADDRESS);
    assert_eq!(r["victim"]["language"], "Cornish");
    assert_eq!(r["victim"]["safe_contact"]["call_ok"], true);
    assert_eq!(r["victim"]["safe_contact"]["text_ok"], false);
    assert_eq!(r["victim"]["safe_contact"]["voicemail_ok"], false);
    assert_eq!(r["perpetrator"]["name"], "Jago Notreal");
    assert_eq!(r["perpetrator"]["in_custody"], true);
    assert_eq!(r["outcome"]["engaged_safeguarding"], "yes");
    assert_eq!(r["outcome"]["engaged_investigation"], "no");
    assert_eq!(r["status"], "handed_over");
    // division and team are the store's: only the safeguarding unit moves a case
    assert_eq!(r["team"], "T1");
    assert_eq!(r["division"], "North");
    assert_eq!(view["risk_level"], Value::Null);
    assert_eq!(view["risk"], Value::Null);
    assert_eq!(view["assessments"], json!([]));
    assert_eq!(view["conflicts"], json!([]));
    let occurred = chrono::DateTime::parse_from_rfc3339("2025-01-15T20:15:00Z").unwrap();
    let expected_days = (chrono::Utc::now() - occurred.with_timezone(&chrono::Utc)).num_days();
    let days = view["days_since_incident"]
        .as_i64()
        .expect("days_since_incident is a number");
    assert!(
        (days - expected_days).abs() <= 1,
        "days_since_incident {days}, expected about {expected_days}"
    );

    // one item in each of the five lists; the referral names a service from the directory
    let dir = run(None, &["directory", "--json"], &[]).ok().json();
    let services = dir.as_array().expect("directory --json prints an array");
    assert!(!services.is_empty());
    let svc = services
        .iter()
        .find(|s| {
            s["kinds"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "refuge"))
        })
        .unwrap_or(&services[0]);
    let service_id = svc["id"].as_str().expect("service id");
    let service_name = svc["name"].as_str().expect("service name");

    let note_id = a.add(
        &id,
        "notes",
        r#"{"text": "Fictional note: asked for a call after 6pm."}"#,
    );
    let visit_id = a.add(
        &id,
        "visits",
        r#"{"outcome": "engaged", "at": "2026-01-21T10:00", "notes": "Spoke at the door."}"#,
    );
    let referral_id = a.add(
        &id,
        "referrals",
        &json!({"kind": "refuge", "service_id": service_id, "consent": "yes"}).to_string(),
    );
    let plan_id = a.add(
        &id,
        "safety_plan",
        r#"{"text": "Keep a charged phone by the bed"}"#,
    );
    let child_id = a.add(
        &id,
        "children",
        r#"{"name": "Tamsin Testcase", "age": 6, "present_at_incident": false}"#,
    );
    assert_eq!(
        BTreeSet::from([&note_id, &visit_id, &referral_id, &plan_id, &child_id]).len(),
        5,
        "item ids are distinct"
    );

    let r = a.record(&id);
    let one = |list: &str| -> Value {
        let items = r[list]
            .as_array()
            .unwrap_or_else(|| panic!("{list} is a list"));
        assert_eq!(items.len(), 1, "{list}: {items:?}");
        items[0].clone()
    };
    let note = one("notes");
    assert_eq!(
        (note["id"].as_str(), note["text"].as_str()),
        (
            Some(note_id.as_str()),
            Some("Fictional note: asked for a call after 6pm.")
        )
    );
    assert_eq!(
        (note["author"].as_str(), note["role"].as_str()),
        (Some("idva-rowan"), Some("idva"))
    );
    let visit = one("visits");
    assert_eq!(visit["id"], visit_id.as_str());
    assert_eq!(visit["outcome"], "engaged");
    assert_eq!(visit["at"], "2026-01-21T10:00:00Z");
    assert_eq!(visit["by"], "idva-rowan");
    let referral = one("referrals");
    assert_eq!(referral["id"], referral_id.as_str());
    assert_eq!(referral["kind"], "refuge");
    assert_eq!(referral["service_id"], service_id);
    assert_eq!(
        referral["service"], service_name,
        "the service name is filled from the directory"
    );
    assert_eq!(referral["consent"], "yes");
    assert_eq!(referral["status"], "to_make");
    assert_eq!(referral["made_by"], "idva-rowan");
    let plan = one("safety_plan");
    assert_eq!(
        (
            plan["id"].as_str(),
            plan["text"].as_str(),
            plan["done"].as_bool()
        ),
        (
            Some(plan_id.as_str()),
            Some("Keep a charged phone by the bed"),
            Some(false)
        )
    );
    let child = one("children");
    assert_eq!(
        child,
        json!({"id": child_id, "name": "Tamsin Testcase", "age": 6, "present_at_incident": false})
    );

    // DASH with 14 "yes" answers: high, and meets MARAC as visible high risk
    let out = a
        .cmd(&["case", "assess", &id, "dash", &dash_answers(14), "--json"])
        .ok()
        .json();
    assert!(is_uuid(out["id"].as_str().unwrap_or("")), "{out}");
    let ev = &out["evaluation"];
    assert_eq!(ev["score"], 14);
    assert_eq!(ev["level"], "high");
    assert_eq!(ev["computed_level"], "high");
    assert!(
        ev["marac_criteria"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "visible_high_risk"),
        "{ev}"
    );
    let view = a.show(&id);
    assert_eq!(view["risk_level"], "high");
    assert_eq!(view["risk"]["level"], "high");
    assert_eq!(view["risk"]["form"], "dash");
    assert_eq!(view["risk"]["assessment_id"], out["id"]);
    assert!(view["risk"]["marac_criteria"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "visible_high_risk"));
    assert_eq!(view["assessments"].as_array().unwrap().len(), 1);
    let stored = &view["record"]["risk_assessments"][0];
    assert_eq!(stored["answers"]["dash_01"], "yes");
    assert_eq!(stored["answers"]["dash_15"], "no");
    assert_eq!(stored["assessed_by"], "idva-rowan");

    // two more cases so the filters have something to leave out
    let closed = a.new_case(
        "live",
        &[("victim.name", "Peran Example"), ("status", "closed")],
    );
    let medium = a.new_case(
        "consultation",
        &[("victim.name", "Demelza Sample"), ("status", "handed_over")],
    );
    let m = a
        .cmd(&[
            "case",
            "assess",
            &medium,
            "dash",
            &dash_answers(10),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(m["evaluation"]["level"], "medium");

    assert_eq!(ids(&a.list(&[])), set_of(&[&id, &closed, &medium]));
    assert_eq!(
        ids(&a.list(&["--status", "handed_over"])),
        set_of(&[&id, &medium])
    );
    assert_eq!(ids(&a.list(&["--status", "closed"])), set_of(&[&closed]));
    assert_eq!(ids(&a.list(&["--risk", "high"])), set_of(&[&id]));
    assert_eq!(ids(&a.list(&["--risk", "medium"])), set_of(&[&medium]));
    assert_eq!(ids(&a.list(&["--search", "morwenna"])), set_of(&[&id]));
    assert_eq!(ids(&a.list(&["--search", "TESTCASE"])), set_of(&[&id]));
    assert_eq!(ids(&a.list(&["--search", "wEnNa TeSt"])), set_of(&[&id]));
    assert_eq!(ids(&a.list(&["--search", "sample"])), set_of(&[&medium]));
    assert_eq!(
        ids(&a.list(&["--search", "nobody by this name"])),
        BTreeSet::new()
    );
    assert_eq!(
        ids(&a.list(&[
            "--status",
            "handed_over",
            "--risk",
            "high",
            "--search",
            "Morw"
        ])),
        set_of(&[&id])
    );
    let row = a.list(&["--risk", "high"]).remove(0);
    assert_eq!(row["victim_name"], VICTIM);
    assert_eq!(row["risk_level"], "high");
    assert_eq!(row["status"], "handed_over");
    assert_eq!(row["incident_reference"], "LC-TEST-000042");
    assert_eq!(row["team"], "T1");
    assert_eq!(row["conflicts"], 0);

    // history names who set the victim's name
    let hist = a
        .cmd(&["case", "history", &id, "victim.name", "--json"])
        .ok()
        .json();
    let hist = hist.as_array().expect("history --json prints an array");
    assert!(!hist.is_empty());
    assert!(hist.iter().all(|e| e["path"] == "victim.name"), "{hist:?}");
    let e = hist
        .iter()
        .find(|e| e["value"] == VICTIM)
        .unwrap_or_else(|| panic!("no history entry sets the name: {hist:?}"));
    assert_eq!(
        (e["user"].as_str(), e["role"].as_str(), e["action"].as_str()),
        (Some("idva-rowan"), Some("idva"), Some("set"))
    );
    assert!(chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).is_ok());
    let text = a.cmd(&["case", "history", &id, "victim.name"]).ok().stdout;
    assert!(
        text.contains("idva-rowan (idva)") && text.contains("victim.name"),
        "{text}"
    );
}

/// 2. Every kind of bad input fails with its own one-line message and a non-zero exit, and
///    leaves the store as it was.
#[test]
fn bad_input_gets_its_own_message_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let a = Store::init(
        &root.path().join("a"),
        "pc-morgan",
        "officer",
        &["--backoff-base-ms", "1"],
    );
    let id = a.new_case(
        "live",
        &[
            ("victim.name", VICTIM),
            ("victim.phone", PHONE),
            ("victim.dob", "1990-12-31"),
            ("perpetrator.in_custody", "false"),
        ],
    );
    a.add(&id, "notes", r#"{"text": "Fictional first note."}"#);
    let bundle = root.path().join("real.bundle");
    a.export(&bundle, Some(&id));

    let before = a.record(&id);
    let cases_before = a.list(&[]).len();
    let changes_before = changing_entries(&a.audit());
    let unchanged = |what: &str| {
        assert_eq!(a.record(&id), before, "{what} changed the case");
        assert_eq!(
            a.list(&[]).len(),
            cases_before,
            "{what} changed the number of cases"
        );
        assert_eq!(
            changing_entries(&a.audit()),
            changes_before,
            "{what} wrote a change to the audit log"
        );
    };
    let mut messages: Vec<(&str, String)> = Vec::new();

    // wrong passphrase: refused, and the case is untouched afterwards
    let out = a.cmd_env(
        &["case", "set", &id, "victim.name=Someone Else"],
        &[("PROVIDE_PASSPHRASE", "not the passphrase")],
    );
    messages.push(("wrong passphrase", out.err_with(&["passphrase"])));
    pass_backoff();
    unchanged("a wrong passphrase");

    // missing store: an empty folder, and a folder that does not exist; neither is created
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(
        Some(&empty),
        &["case", "show", &id, "--json"],
        &[("PROVIDE_PASSPHRASE", PASS)],
    );
    messages.push(("missing store", out.err_with(&["no store"])));
    let out = run(
        Some(&empty),
        &[
            "case",
            "new",
            "--deployment",
            "live",
            "--set",
            "victim.name=Nobody",
        ],
        &[("PROVIDE_PASSPHRASE", PASS)],
    );
    out.err_with(&["no store"]);
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "a command against an empty folder wrote into it"
    );
    let nowhere = root.path().join("nowhere");
    run(
        Some(&nowhere),
        &["case", "list", "--json"],
        &[("PROVIDE_PASSPHRASE", PASS)],
    )
    .err_with(&["no store"]);
    assert!(
        !nowhere.exists(),
        "a command against a missing folder created it"
    );

    // unknown path, alone and beside a valid one (all or nothing), and when creating a case
    let out = a.cmd(&["case", "set", &id, "victim.shoe_size=1"]);
    messages.push(("unknown path", out.err_with(&["victim.shoe_size"])));
    a.cmd(&[
        "case",
        "set",
        &id,
        "victim.name=Someone Else",
        "victim.shoe_size=1",
    ])
    .err_with(&["victim.shoe_size"]);
    a.cmd(&[
        "case",
        "new",
        "--deployment",
        "live",
        "--set",
        "victim.name=Someone Else",
        "--set",
        "victim.shoe_size=1",
    ])
    .err_with(&["victim.shoe_size"]);
    unchanged("an unknown path");

    // unknown list
    let out = a.cmd(&["case", "add", &id, "pets", "{}"]);
    messages.push(("unknown list", out.err_with(&["pets"])));
    unchanged("an unknown list");

    // malformed values
    let out = a.cmd(&["case", "set", &id, "victim.dob=31/12/1990"]);
    messages.push(("malformed date", out.err_with(&["victim.dob"])));
    let out = a.cmd(&["case", "set", &id, "perpetrator.in_custody=maybe"]);
    messages.push((
        "malformed yes/no",
        out.err_with(&["perpetrator.in_custody"]),
    ));
    let out = a.cmd(&["case", "set", &id, "status=lost"]);
    messages.push(("malformed choice", out.err_with(&["status"])));
    a.cmd(&[
        "case",
        "set",
        &id,
        "victim.name=Someone Else",
        "status=lost",
    ])
    .err_with(&["status"]);
    a.cmd(&[
        "case",
        "new",
        "--deployment",
        "live",
        "--set",
        "victim.name=Someone Else",
        "--set",
        "victim.dob=31/12/1990",
    ])
    .err_with(&["victim.dob"]);
    a.cmd(&["case", "new", "--deployment", "sideways"])
        .err_with(&["deployment"]);
    unchanged("a malformed value");

    // malformed JSON item, and an item with a field the list does not have
    let out = a.cmd(&["case", "add", &id, "notes", r#"{"text": "unterminated"#]);
    messages.push(("malformed JSON", out.err_with(&["JSON"])));
    let out = a.cmd(&[
        "case",
        "add",
        &id,
        "children",
        r#"{"name": "Tamsin Testcase", "shoe_size": 3}"#,
    ]);
    messages.push(("unknown item field", out.err_with(&["shoe_size"])));
    a.cmd(&["case", "add", &id, "notes", r#"["a list, not an object"]"#])
        .err();
    a.cmd(&["case", "add", &id, "notes", r#"{"text": "   "}"#])
        .err();
    unchanged("a malformed item");

    // unknown case id, for every command that takes one
    let ghost = "00000000-0000-4000-8000-000000000000";
    let out = a.cmd(&["case", "show", ghost, "--json"]);
    messages.push(("unknown case", out.err_with(&[ghost])));
    a.cmd(&["case", "set", ghost, "status=closed"])
        .err_with(&[ghost]);
    a.cmd(&["case", "add", ghost, "notes", r#"{"text": "Fictional."}"#])
        .err_with(&[ghost]);
    a.cmd(&["case", "assess", ghost, "dash", &dash_answers(3)])
        .err_with(&[ghost]);
    a.cmd(&["case", "history", ghost]).err_with(&[ghost]);
    let ghost_bundle = root.path().join("ghost.bundle");
    a.cmd(&[
        "bundle",
        "export",
        "--out",
        ghost_bundle.to_str().unwrap(),
        "--case",
        ghost,
    ])
    .err_with(&[ghost]);
    assert!(!ghost_bundle.exists(), "a failed export left a file");
    unchanged("an unknown case id");

    // assessments: unknown question, bad answer, unknown form
    let out = a.cmd(&["case", "assess", &id, "dash", r#"{"dash_99": "yes"}"#]);
    messages.push(("unknown question", out.err_with(&["dash_99"])));
    let out = a.cmd(&["case", "assess", &id, "dash", r#"{"dash_01": "maybe"}"#]);
    messages.push(("bad answer", out.err_with(&["dash_01"])));
    let out = a.cmd(&["case", "assess", &id, "mood", r#"{"dash_01": "yes"}"#]);
    messages.push(("unknown form", out.err_with(&["mood"])));
    unchanged("a bad assessment");

    // bundles: noise, a truncated real bundle, the wrong bundle passphrase, no file at all
    let noise_file = root.path().join("noise.bundle");
    std::fs::write(&noise_file, noise(4096, 0x5eed_1234_abcd_9876)).unwrap();
    let out = a.cmd(&["bundle", "import", noise_file.to_str().unwrap()]);
    messages.push(("malformed bundle", out.err_with(&["bundle"])));
    let real = std::fs::read(&bundle).unwrap();
    let truncated = root.path().join("truncated.bundle");
    std::fs::write(&truncated, &real[..real.len() / 2]).unwrap();
    let truncated_msg = a
        .cmd(&["bundle", "import", truncated.to_str().unwrap()])
        .err_with(&["bundle"]);
    let stub = root.path().join("stub.bundle");
    std::fs::write(&stub, &real[..20]).unwrap();
    a.cmd(&["bundle", "import", stub.to_str().unwrap()])
        .err_with(&["bundle"]);
    let out = a.cmd_env(
        &["bundle", "import", bundle.to_str().unwrap()],
        &[("PROVIDE_BUNDLE_PASSPHRASE", "not the bundle phrase")],
    );
    messages.push((
        "wrong bundle passphrase",
        out.err_with(&["bundle", "passphrase"]),
    ));
    a.cmd(&[
        "bundle",
        "import",
        root.path().join("absent.bundle").to_str().unwrap(),
    ])
    .err_with(&["bundle"]);
    unchanged("a bad bundle");
    // the real bundle still imports (as nothing new): the failures were the files, not the store
    assert_eq!(
        a.import(&bundle),
        json!({"created": 0, "merged": 0, "unchanged": 1})
    );
    unchanged("re-importing the store's own case");

    // each kind of failure has its own message
    for (kind, msg) in &messages {
        eprintln!("{kind:>24}: {msg}");
    }
    eprintln!("{:>24}: {truncated_msg}", "truncated bundle");
    for (i, (k1, m1)) in messages.iter().enumerate() {
        for (k2, m2) in &messages[i + 1..] {
            assert_ne!(m1, m2, "{k1} and {k2} give the same message");
        }
    }
    // a truncated bundle is at least told apart from a file that is not a bundle at all
    assert_ne!(
        &truncated_msg,
        &messages
            .iter()
            .find(|(k, _)| *k == "malformed bundle")
            .unwrap()
            .1
    );

    a.cmd(&["audit", "verify"]).ok();
}

/// 3. A case travels from an officer's store to a safeguarding store by bundle; edits made on
///    both sides afterwards merge; importing the same bundle twice changes nothing.
#[test]
fn bundle_round_trip_between_two_stores() {
    let root = tempfile::tempdir().unwrap();
    let a = Store::init(
        &root.path().join("a"),
        "pc-morgan",
        "officer",
        &["--division", "North", "--team", "T1"],
    );
    let b = Store::init(
        &root.path().join("b"),
        "sg-alex",
        "safeguarding",
        &["--division", "North", "--team", "Hub"],
    );
    let id = a.new_case(
        "live",
        &[
            ("victim.name", VICTIM),
            ("victim.phone", PHONE),
            ("victim.address", ADDRESS),
            ("incident.reference", "LC-TEST-000077"),
            ("incident.occurred_at", "2025-03-02T23:40"),
        ],
    );
    a.add(&id, "notes", r#"{"text": "Fictional: officer attended."}"#);
    a.add(&id, "children", r#"{"name": "Tamsin Testcase", "age": 6}"#);
    a.cmd(&["case", "assess", &id, "dash", &dash_answers(11)])
        .ok();

    let first = root.path().join("case.bundle");
    a.export(&first, Some(&id));
    assert_eq!(
        b.import(&first),
        json!({"created": 1, "merged": 0, "unchanged": 0})
    );
    let va = a.show(&id);
    let vb = b.show(&id);
    assert_eq!(
        vb["record"], va["record"],
        "B holds the record exactly as A has it"
    );
    assert_eq!(vb, va, "and shows the same risk, assessments and conflicts");
    assert_eq!(vb["risk_level"], "medium");
    assert_eq!(ids(&b.list(&[])), set_of(&[&id]));

    // both edit different fields
    a.set(
        &id,
        &[
            ("victim.phone", "07700 900456"),
            ("perpetrator.name", "Jago Notreal"),
        ],
    );
    b.set(
        &id,
        &[
            ("perpetrator.in_custody", "true"),
            ("victim.language", "Cornish"),
        ],
    );
    let b_note = b.add(
        &id,
        "notes",
        r#"{"text": "Fictional: safeguarding review booked."}"#,
    );

    let unsynced = root.path().join("a-unsynced.bundle");
    a.export(&unsynced, None);
    assert_eq!(
        b.import(&unsynced),
        json!({"created": 0, "merged": 1, "unchanged": 0})
    );
    let rb = b.record(&id);
    assert_eq!(rb["victim"]["phone"], "07700 900456", "A's edit arrived");
    assert_eq!(
        rb["perpetrator"]["name"], "Jago Notreal",
        "A's edit arrived"
    );
    assert_eq!(rb["perpetrator"]["in_custody"], true, "B's edit survived");
    assert_eq!(rb["victim"]["language"], "Cornish", "B's edit survived");
    assert_eq!(rb["victim"]["name"], VICTIM);
    let notes: Vec<&str> = rb["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(notes.len(), 2);
    assert!(notes.contains(&b_note.as_str()));
    assert_eq!(b.show(&id)["conflicts"], json!([]));

    // the same bundle again: reported unchanged, and nothing changes
    assert_eq!(
        b.import(&unsynced),
        json!({"created": 0, "merged": 0, "unchanged": 1})
    );
    let text = b
        .cmd(&["bundle", "import", unsynced.to_str().unwrap()])
        .ok()
        .stdout;
    assert_eq!(text.trim(), "0 created, 0 merged, 1 unchanged");
    assert_eq!(b.record(&id), rb);

    // and back: both stores converge
    let back = root.path().join("b-unsynced.bundle");
    b.export(&back, None);
    assert_eq!(
        a.import(&back),
        json!({"created": 0, "merged": 1, "unchanged": 0})
    );
    assert_eq!(a.show(&id), b.show(&id));
    a.cmd(&["audit", "verify"]).ok();
    b.cmd(&["audit", "verify"]).ok();
}

/// 4. Two stores set `status` differently; after exchanging bundles both show the same conflict
///    with who set which value when; a new value written on one side clears it on both.
#[test]
fn concurrent_edits_conflict_through_bundles() {
    let root = tempfile::tempdir().unwrap();
    let a = Store::init(&root.path().join("a"), "pc-morgan", "officer", &[]);
    let b = Store::init(&root.path().join("b"), "sg-alex", "safeguarding", &[]);
    let id = a.new_case("live", &[("victim.name", VICTIM), ("victim.phone", PHONE)]);
    let first = root.path().join("case.bundle");
    a.export(&first, Some(&id));
    assert_eq!(b.import(&first)["created"], 1);

    a.set(&id, &[("status", "handed_over")]);
    b.set(&id, &[("status", "closed")]);
    let a1 = root.path().join("a1.bundle");
    let b1 = root.path().join("b1.bundle");
    a.export(&a1, None);
    b.export(&b1, None);
    assert_eq!(a.import(&b1)["merged"], 1);
    assert_eq!(b.import(&a1)["merged"], 1);

    let va = a.show(&id);
    let vb = b.show(&id);
    assert_eq!(
        va["conflicts"], vb["conflicts"],
        "both stores report the same conflicts"
    );
    assert_eq!(
        va["record"], vb["record"],
        "both stores show the same record"
    );
    let conflicts = va["conflicts"].as_array().expect("conflicts is an array");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["path"], "status");
    let values = conflicts[0]["values"].as_array().expect("values");
    assert_eq!(values.len(), 2, "{values:?}");
    let mut seen = BTreeSet::new();
    for v in values {
        let at = v["at"].as_str().expect("at");
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "bad time {at}"
        );
        seen.insert((
            v["value"].as_str().unwrap().to_string(),
            v["user"].as_str().unwrap().to_string(),
            v["role"].as_str().unwrap().to_string(),
        ));
    }
    let expected: BTreeSet<(String, String, String)> = [
        ("handed_over", "pc-morgan", "officer"),
        ("closed", "sg-alex", "safeguarding"),
    ]
    .iter()
    .map(|(v, u, r)| (v.to_string(), u.to_string(), r.to_string()))
    .collect();
    assert_eq!(seen, expected);
    let shown_status = va["record"]["status"].as_str().unwrap();
    assert!(shown_status == "handed_over" || shown_status == "closed");
    assert_eq!(a.list(&[])[0]["conflicts"], 1);
    assert_eq!(b.list(&[])[0]["conflicts"], 1);
    let text = a.cmd(&["case", "show", &id]).ok().stdout;
    assert!(text.contains("CONFLICT status"), "{text}");

    // A decides; the decision travels both ways and the conflict is gone everywhere
    a.set(&id, &[("status", "active")]);
    let a2 = root.path().join("a2.bundle");
    a.export(&a2, None);
    assert_eq!(b.import(&a2)["merged"], 1);
    let b2 = root.path().join("b2.bundle");
    b.export(&b2, None);
    assert_eq!(a.import(&b2)["unchanged"], 1);
    for (name, s) in [("A", &a), ("B", &b)] {
        let v = s.show(&id);
        assert_eq!(v["conflicts"], json!([]), "{name} still shows a conflict");
        assert_eq!(v["record"]["status"], "active", "{name}");
        assert_eq!(s.list(&[])[0]["conflicts"], 0, "{name}");
    }
    assert_eq!(a.show(&id), b.show(&id));
}

/// 5. Role rules: health notes are the IDVA's alone; admins never see cases.
///
/// A store with no sync server has one user: another is added only through the server
/// (`tests/tests/device_users.rs`), never locally with a role of the device's choosing.
#[test]
fn role_rules() {
    let root = tempfile::tempdir().unwrap();
    let idva = Store::init(
        &root.path().join("idva"),
        "idva-rowan",
        "idva",
        &["--team", "T1"],
    );
    let officer = Store::init(
        &root.path().join("officer"),
        "pc-morgan",
        "officer",
        &["--team", "T1"],
    );
    let admin = Store::init(&root.path().join("admin"), "admin-sam", "admin", &[]);
    // no free role on the command line, and no second user without a server
    let out = idva.cmd_env(
        &["user", "add", "--user", "pc-morgan", "--role", "officer"],
        &[("PROVIDE_NEW_PASSPHRASE", "officer passphrase 1")],
    );
    assert!(
        !out.success() && out.stderr.contains("--user"),
        "{}",
        out.stderr
    );
    let out = idva.cmd_env(
        &["user", "add", "--code", "ABCDE-FGHIJ-KLMNO-PQRST"],
        &[("PROVIDE_NEW_PASSPHRASE", "officer passphrase 1")],
    );
    out.err_with(&["one user", "server"]);
    assert_eq!(idva.cmd(&["user", "whoami"]).ok().json()["role"], "idva");
    assert_eq!(
        officer.cmd(&["user", "whoami"]).ok().json()["role"],
        "officer"
    );
    assert_eq!(admin.cmd(&["user", "whoami"]).ok().json()["role"], "admin");

    let id = officer.new_case("live", &[("victim.name", VICTIM)]);

    // an officer may not write (or read) health notes
    let out = officer.cmd(&[
        "health",
        "note",
        &id,
        "Fictional: GP appointment on Tuesday.",
    ]);
    out.err_with(&["officer", "health"]);
    assert_eq!(out.code, Some(6));
    officer
        .cmd(&["health", "show", &id, "--json"])
        .err_with(&["officer", "health"]);

    // an admin may not list or open cases
    let out = admin.cmd(&["case", "list", "--json"]);
    out.err_with(&["admin", "case"]);
    assert_eq!(out.code, Some(6));
    admin
        .cmd(&["case", "show", &id, "--json"])
        .err_with(&["admin"]);

    // the IDVA may, on a case of their own: and sees only their own note
    let id = idva.new_case("live", &[("victim.name", VICTIM)]);
    let out = idva
        .cmd(&[
            "health",
            "note",
            &id,
            "Fictional: GP appointment on Tuesday.",
        ])
        .ok();
    let note_id = out.stdout.trim().to_string();
    assert!(is_uuid(&note_id), "{:?}", out.stdout);
    let h = idva.cmd(&["health", "show", &id, "--json"]).ok().json();
    let notes = h["record"]["notes"].as_array().expect("health notes");
    assert_eq!(notes.len(), 1, "{h}");
    assert_eq!(notes[0]["id"], note_id.as_str());
    assert_eq!(notes[0]["text"], "Fictional: GP appointment on Tuesday.");
    assert_eq!(notes[0]["author"], "idva-rowan");
    assert_eq!(h["conflicts"], json!([]));
    idva.cmd(&["audit", "verify"]).ok();
}

/// 6. Lockout: the attempt limit destroys the key; the store then says it is wiped.
#[test]
fn lockout_wipes_the_store() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a");
    let a = Store::init(
        &dir,
        "pc-morgan",
        "officer",
        &["--max-attempts", "3", "--backoff-base-ms", "1"],
    );
    a.new_case("live", &[("victim.name", VICTIM)]);

    let wrong = [("PROVIDE_PASSPHRASE", "not the passphrase")];
    for attempt in 1..=3 {
        pass_backoff();
        let out = a.cmd_env(&["case", "list", "--json"], &wrong);
        let msg = out.err();
        if attempt < 3 {
            assert!(
                msg.to_lowercase().contains("passphrase"),
                "attempt {attempt}: {msg}"
            );
            assert_eq!(a.status()["failed_attempts"], attempt);
        }
    }
    let st = a.status();
    assert_eq!(st["exists"], true);
    assert_eq!(st["wiped"], true, "{st}");
    pass_backoff();
    a.cmd(&["case", "list", "--json"]).err_with(&["wiped"]);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        assert!(
            !dir.join(format!("provide.db{suffix}")).exists(),
            "provide.db{suffix} survived the wipe"
        );
    }
    let slots: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("keyslots.json")).unwrap()).unwrap();
    assert_eq!(slots["slots"], json!([]), "key slots survived the wipe");
}

/// 7. Back-off: right after a failure even the right passphrase must wait.
#[test]
fn backoff_after_a_failed_unlock() {
    let root = tempfile::tempdir().unwrap();
    let a = Store::init(&root.path().join("a"), "pc-morgan", "officer", &[]);
    a.cmd_env(
        &["case", "list", "--json"],
        &[("PROVIDE_PASSPHRASE", "not the passphrase")],
    )
    .err_with(&["passphrase"]);
    let failed_at = Instant::now();
    let out = a.cmd(&["case", "list", "--json"]);
    assert!(
        failed_at.elapsed() < Duration::from_millis(900),
        "too slow to test the back-off"
    );
    out.err_with(&["Try again"]);
    let st = a.status();
    assert_eq!(
        st["failed_attempts"], 1,
        "a refused early attempt is not counted: {st}"
    );
    assert_eq!(st["wiped"], false);

    let wait = Duration::from_millis(1100).saturating_sub(failed_at.elapsed());
    std::thread::sleep(wait);
    assert_eq!(a.list(&[]), Vec::<Value>::new());
    assert_eq!(
        a.status()["failed_attempts"],
        0,
        "a successful unlock clears the count"
    );
}

/// 8. The audit chain of a store in normal use verifies.
#[test]
fn audit_verify_on_an_intact_store() {
    let root = tempfile::tempdir().unwrap();
    let a = Store::init(&root.path().join("a"), "pc-morgan", "officer", &[]);
    let id = a.new_case("live", &[("victim.name", VICTIM)]);
    a.set(&id, &[("victim.phone", PHONE)]);
    a.show(&id);
    let n = a.audit().len();
    assert!(
        n >= 4,
        "expected store, case, edit and view entries, got {n}"
    );
    let out = a.cmd(&["audit", "verify"]).ok();
    assert!(out.stdout.contains("intact"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("{n} entries")),
        "{}",
        out.stdout
    );
}

/// (8b) A tampered audit chain fails verification, naming the first bad entry.
#[test]
fn audit_verify_names_the_first_bad_entry() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a");
    let a = Store::init(&dir, "pc-morgan", "officer", &[]);
    let id = a.new_case("live", &[("victim.name", VICTIM)]);
    a.set(&id, &[("victim.phone", PHONE)]);
    a.show(&id);
    let entries = a.audit();
    assert!(entries.len() >= 4);
    {
        let conn = support::open_raw(&dir, PASS);
        conn.execute(
            "UPDATE audit SET detail = 'nothing happened here' WHERE seq = 2",
            [],
        )
        .unwrap();
    }
    let out = a.cmd(&["audit", "verify"]);
    let msg = out.err_with(&["entry 2"]);
    assert!(!msg.contains("entry 3"), "{msg}");
    assert_eq!(out.code, Some(5));
}

/// Product bug (see the report): a passphrase refused at `init` leaves `provide.db` behind, so
/// the folder is "no store" to every command yet `init` says a store already exists.
#[test]
fn init_with_a_weak_passphrase_leaves_nothing_behind() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a");
    let mut args = vec!["init", "--user", "pc-morgan", "--role", "officer"];
    args.extend_from_slice(FAST_KDF);
    run(Some(&dir), &args, &[("PROVIDE_PASSPHRASE", "short")]).err_with(&["at least 8"]);
    assert!(
        !dir.join("provide.db").exists(),
        "a refused init left provide.db behind"
    );
    Store::init(&dir, "pc-morgan", "officer", &[]);
}

/// The store's folder is its user's alone: mode 0700 on Unix; on Windows a DACL with the user's
/// entry alone (`scripts/windows-tests.sh` runs this suite under Wine).
#[test]
fn the_store_folder_is_readable_by_its_user_only() {
    let root = tempfile::tempdir().unwrap();
    let a = Store::init(&root.path().join("a"), "pc-ada", "officer", &[]);
    assert!(provide_core::data_dir::is_private(&a.dir).unwrap());
    // a folder others could read is taken back at init
    let open = root.path().join("open");
    std::fs::create_dir(&open).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert!(!provide_core::data_dir::is_private(&open).unwrap());
    let b = Store::init(&open, "pc-bo", "officer", &[]);
    assert!(provide_core::data_dir::is_private(&b.dir).unwrap());
}

/// With no `--data-dir`, a store goes to `%LOCALAPPDATA%\Provide` on Windows and is found there
/// by later commands; elsewhere the folder must be given.
#[test]
fn without_a_folder_the_store_goes_to_the_platform_default() {
    let root = tempfile::tempdir().unwrap();
    let local = root.path().to_str().expect("UTF-8 path");
    let env = [("PROVIDE_PASSPHRASE", PASS), ("LOCALAPPDATA", local)];
    let mut init = vec!["init", "--user", "pc-ada", "--role", "officer"];
    init.extend_from_slice(FAST_KDF);
    let out = run(None, &init, &env);
    let dir = root.path().join("Provide");
    if cfg!(windows) {
        out.ok();
        assert!(dir.join("provide.db").exists() && dir.join("keyslots.json").exists());
        assert!(provide_core::data_dir::is_private(&dir).unwrap());
        let id = run(None, &["case", "new", "--deployment", "live"], &env)
            .ok()
            .stdout
            .trim()
            .to_string();
        let list = run(None, &["case", "list", "--json"], &env).ok().json();
        assert_eq!(list[0]["id"], id.as_str());
    } else {
        out.err_with(&["--data-dir"]);
        assert!(!dir.exists());
    }
}
