//! Retention review (issue 16, item 3), on both server backends: closed cases and their
//! health records come due for review a class's period after closure (the shipped placeholder
//! periods, or the division's own); `retention due` and `GET /v1/retention/due` list exactly
//! those past their review date, with ids and dates only; a `retain` decision moves the date
//! and a `dispose` decision is recorded, each audited (`retention_review`) without the
//! reviewer's free-text reason; cases are decided by the safeguarding unit (or an
//! administrator), health records by an IDVA only; officers' devices are refused; bad input
//! is refused plainly. Closure times are moved into the past straight in the server's store,
//! as someone with the database could: the app never produces a case closed years ago.

use chrono::{Months, Utc};
use provide_core::model::Deployment;
use provide_core::retention::{review_date, DecisionRequest};
use provide_core::sync::review;
use provide_core::sync::transport::HttpTransport;
use provide_sync_server::storage::{AuditFilter, Decision};
use provide_tests::binaries::admin;
use provide_tests::{sets, Device, TestServer};
use serde_json::Value;

const SURNAME: &str = "Retentionby";
const HEALTH_NOTE: &str = "Rethealth: sees the practice nurse about her wrist";
const REASON: &str = "Fictional: linked prosecution still open at court";

/// Runs `sql` straight on the server's store: its PostgreSQL database, or its SQLCipher file
/// opened with its key file.
fn in_store(server: &TestServer, sql: &str) {
    match &server.data.database_url {
        Some(url) => {
            let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
            c.batch_execute(sql).unwrap();
        }
        None => {
            let dir = &server.data.dir;
            let key =
                provide_sync_server::keyfile::load_or_create(&dir.join("server.key")).unwrap();
            let conn = rusqlite::Connection::open(dir.join("server.db")).unwrap();
            provide_core::store::schema::apply_key(&conn, &key).unwrap();
            conn.execute_batch("PRAGMA busy_timeout = 10000;").unwrap();
            conn.execute_batch(sql).unwrap();
        }
    }
}

/// Milliseconds since the epoch `months` and `days` ago.
fn ago(months: u32, days: i64) -> i64 {
    (Utc::now() - Months::new(months) - chrono::Duration::days(days)).timestamp_millis()
}

fn day_in(months: u32) -> String {
    (Utc::now().date_naive() + Months::new(months)).to_string()
}

struct World {
    server: TestServer,
    unit: Device,
    idva: Device,
    officer: Device,
    /// Closed seven years ago (a case due under the 72-month placeholder, its health record
    /// not under the 96-month one).
    seven: String,
    /// Closed nine years ago: case and health record due.
    nine: String,
    /// Closed five years ago: due in about a year.
    five: String,
    /// Active, standing unchanged for ten years: never due.
    open: String,
    /// Handed over ten years ago: never due.
    over: String,
    /// Closed today.
    fresh: String,
    /// When `seven` and `nine` closed.
    seven_ms: i64,
    nine_ms: i64,
}

/// Six cases of west team 1 (the unit's), health records for two, closed (or not) at
/// various ages.
fn world() -> World {
    let server = TestServer::start();
    let mut unit = Device::enrol(&server, "sg.una.fictional", "safeguarding", "west", "");
    let mut idva = Device::enrol(&server, "idva.ines.fictional", "idva", "west", "t1");
    let officer = Device::enrol(&server, "pc.oren.fictional", "officer", "west", "t1");
    let mut cases = vec![];
    for i in 0..6 {
        let name = format!("Fictional{i} {SURNAME}");
        let case = unit
            .store
            .create_case(
                Deployment::PostIncident,
                &sets(&[("team", "t1"), ("status", "active"), ("victim.name", &name)]),
            )
            .unwrap();
        cases.push(case);
    }
    unit.sync().unwrap();
    idva.sync().unwrap();
    for case in &cases[..2] {
        idva.store.add_health_note(case, HEALTH_NOTE).unwrap();
    }
    idva.sync().unwrap();
    unit.sync().unwrap();
    for (case, status) in cases[..].iter().zip([
        "closed",
        "closed",
        "closed",
        "active",
        "handed_over",
        "closed",
    ]) {
        if status != "active" {
            unit.store
                .set_case_fields(case, &sets(&[("status", status)]))
                .unwrap();
        }
    }
    unit.sync().unwrap();
    let (seven_ms, nine_ms) = (ago(84, 10), ago(108, 3));
    let mut sql = String::new();
    for (case, ms) in cases
        .iter()
        .zip([seven_ms, nine_ms, ago(60, 0), ago(120, 0), ago(120, 0)])
    {
        sql.push_str(&format!(
            "UPDATE docs SET status_since_ms = {ms} WHERE id = '{case}' OR id = '{case}.health';\n"
        ));
    }
    in_store(&server, &sql);
    let mut it = cases.into_iter();
    let mut next = || it.next().unwrap();
    World {
        seven: next(),
        nine: next(),
        five: next(),
        open: next(),
        over: next(),
        fresh: next(),
        server,
        unit,
        idva,
        officer,
        seven_ms,
        nine_ms,
    }
}

fn run(server: &TestServer, args: &[&str]) -> (i32, String, String) {
    let out = admin(server, args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(server: &TestServer, args: &[&str]) -> String {
    let (code, out, err) = run(server, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

/// `retention due --json` (with more arguments): the list as (record, kind, class).
fn due_cli(server: &TestServer, more: &[&str]) -> (Vec<(String, String, String)>, Value) {
    let mut args = vec!["retention", "due", "--json"];
    args.extend_from_slice(more);
    let text = ok(server, &args);
    assert!(!text.contains(SURNAME), "no names in the list: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let items = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["record"].as_str().unwrap().to_string(),
                i["kind"].as_str().unwrap().to_string(),
                i["class"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (items, v)
}

fn credential(d: &Device) -> String {
    d.store.server_link().unwrap().credential.to_string()
}

fn answer(r: reqwest::blocking::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let body = serde_json::from_slice(&r.bytes().unwrap()).unwrap_or(Value::Null);
    (status, body)
}

fn due_http(server: &TestServer, d: &Device, query: &str) -> (u16, Value) {
    answer(
        reqwest::blocking::Client::new()
            .get(format!("{}/v1/retention/due{query}", server.url))
            .bearer_auth(credential(d))
            .send()
            .unwrap(),
    )
}

fn decide_http(server: &TestServer, d: &Device, body: &str) -> (u16, Value) {
    answer(
        reqwest::blocking::Client::new()
            .post(format!("{}/v1/retention/decisions", server.url))
            .bearer_auth(credential(d))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap(),
    )
}

fn records(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["record"].as_str().unwrap().to_string())
        .collect()
}

fn reviews_of(server: &TestServer, record: &str) -> Vec<provide_sync_server::storage::AuditRow> {
    server
        .audit_of(record)
        .into_iter()
        .filter(|r| r.action == "retention_review")
        .collect()
}

fn refused(got: (u16, Value), status: u16, code: &str) -> String {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    got.1["message"].as_str().unwrap().to_string()
}

#[test]
fn the_due_list_is_exactly_the_closed_records_past_their_review_date() {
    let w = world();
    let (seven, nine) = (&w.seven, &w.nine);
    let health = |c: &str| format!("{c}.health");
    let (due, v) = due_cli(&w.server, &[]);
    let case = |id: &str| (id.to_string(), "case".into(), "police_case".into());
    let hr = |id: &str| (health(id), "health".into(), "nhs_health".into());
    // oldest closure first: the nine-year-old case and its health record, then the seven
    assert_eq!(due, [case(nine), hr(nine), case(seven)]);
    assert_eq!(v["truncated"], false);
    let item = &v["items"][2];
    assert_eq!(item["division"], "west");
    assert_eq!(
        item["closed_on"],
        provide_core::retention::day_of(w.seven_ms).to_string()
    );
    assert_eq!(item["review_date"], review_date(w.seven_ms, 72).to_string());
    assert_eq!(
        v["items"][1]["review_date"],
        review_date(w.nine_ms, 96).to_string()
    );
    // the text listing names the same records, one a line
    let text = ok(&w.server, &["retention", "due"]);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().next().unwrap().starts_with(nine.as_str()));
    // another division has nothing due; planning ahead, the five-year-old case comes due
    assert!(due_cli(&w.server, &["--division", "east"]).0.is_empty());
    let (ahead, _) = due_cli(&w.server, &["--as-of", &day_in(13)]);
    assert!(ahead.contains(&case(&w.five)), "{ahead:?}");
    for never in [&w.open, &w.over, &w.fresh] {
        assert!(!ahead.iter().any(|d| &d.0 == never), "{never} is never due");
    }

    // the unit's screen sees its division's cases, an IDVA's its health records
    let (status, v) = due_http(&w.server, &w.unit, "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(records(&v), [nine.clone(), seven.clone()]);
    let (status, v) = due_http(&w.server, &w.idva, "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(records(&v), [health(nine)]);
    // officers' devices are refused, and the refusal audited
    refused(due_http(&w.server, &w.officer, ""), 403, "forbidden");
    let mut f = AuditFilter::default();
    f.entries.action = Some("retention_refused".into());
    let refusals = w.server.service.storage.audit(&f).unwrap();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].device, w.officer.store.device_id());
    // a query is not taken
    refused(
        due_http(&w.server, &w.unit, "?as_of=2040-01-01"),
        400,
        "bad_request",
    );

    // the division's own period: 100 months takes the seven-year-old case off the list
    ok(
        &w.server,
        &[
            "retention",
            "schedule",
            "set",
            "--division",
            "west",
            "--class",
            "police_case",
            "--review-after-months",
            "100",
        ],
    );
    let (due, _) = due_cli(&w.server, &[]);
    assert_eq!(due, [case(nine), hr(nine)]);
    let shown: Value =
        serde_json::from_str(&ok(&w.server, &["retention", "schedule", "show", "--json"])).unwrap();
    assert_eq!(shown["placeholder"], true);
    assert_eq!(shown["divisions"][0]["review_after_months"], 100);
    let mut f = AuditFilter::default();
    f.entries.action = Some("policy".into());
    let set = w.server.service.storage.audit(&f).unwrap();
    assert!(set
        .iter()
        .any(|r| r.detail.contains("police_case") && r.detail.contains("100 months")));
    for bad in [
        &["--class", "nope", "--review-after-months", "60"][..],
        &["--class", "police_case", "--review-after-months", "0"],
        &["--class", "police_case", "--review-after-months", "5000"],
    ] {
        let mut args = vec!["retention", "schedule", "set", "--division", "west"];
        args.extend_from_slice(bad);
        let (code, _, err) = run(&w.server, &args);
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
}

#[test]
fn retain_moves_the_review_date_and_dispose_is_recorded_both_audited() {
    let w = world();
    let seven = &w.seven;
    let until = day_in(24);
    // retained at the command line for the unit's reviewer
    let (_, _, err) = {
        let out = run(
            &w.server,
            &[
                "retention",
                "decide",
                "--record",
                seven,
                "--retain-until",
                &until,
                "--reason",
                REASON,
                "--by",
                "sg.una.fictional",
            ],
        );
        assert_eq!(out.0, 0, "{}", out.2);
        out
    };
    assert!(err.contains(&until), "{err}");
    assert!(!due_cli(&w.server, &[]).0.iter().any(|d| &d.0 == seven));
    // due again on the date, with the date as its review date
    let (later, v) = due_cli(&w.server, &["--as-of", &until]);
    let at = later.iter().position(|d| &d.0 == seven).unwrap();
    assert_eq!(v["items"][at]["review_date"], until);
    assert_eq!(v["items"][at]["retained_until"], until);
    // audited without the reason, which is kept with the decision
    let audit = reviews_of(&w.server, seven);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].user, "sg.una.fictional");
    assert!(audit[0].detail.contains(&format!("retain until {until}")));
    assert!(audit[0].detail.contains("class police_case"));
    assert!(audit[0].detail.contains("entered at the command line"));
    assert!(
        !audit[0].detail.contains("prosecution"),
        "{}",
        audit[0].detail
    );
    let kept = w.server.service.storage.review_decisions(seven).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].reason, REASON);
    assert_eq!(kept[0].decision, Decision::Retain);

    // the unit disposes of the nine-year-old case from its screen
    let (status, v) = decide_http(
        &w.server,
        &w.unit,
        &serde_json::json!({"record": w.nine, "decision": "dispose", "reason": REASON}).to_string(),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["decision"], "dispose");
    let audit = reviews_of(&w.server, &w.nine);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].device, w.unit.store.device_id());
    assert!(audit[0].detail.starts_with("dispose; class police_case"));
    assert!(!audit[0].detail.contains("prosecution"));
    let kept = w.server.service.storage.review_decisions(&w.nine).unwrap();
    assert_eq!(kept[0].decision, Decision::Dispose);
    assert_eq!(kept[0].retain_until, None);
    // disposal is erasure: the case is gone, its tombstone kept, and it is due no more
    assert!(w
        .server
        .service
        .storage
        .doc_meta(&w.nine)
        .unwrap()
        .is_none());
    assert!(w.server.service.erasure_status(&w.nine).unwrap().is_some());
    assert!(w
        .server
        .audit_of(&w.nine)
        .iter()
        .any(|e| e.action == "erase"));
    // a case not due yet is not disposed of (it may be retained early)
    let msg = refused(
        decide_http(
            &w.server,
            &w.unit,
            &serde_json::json!({"record": w.five, "decision": "dispose", "reason": REASON})
                .to_string(),
        ),
        400,
        "invalid_input",
    );
    assert!(msg.contains("not due"), "{msg}");
    assert!(reviews_of(&w.server, &w.five).is_empty());

    // the chain still verifies with the decisions in it
    ok(&w.server, &["audit", "verify"]);
}

#[test]
fn health_records_are_decided_by_idvas_only_and_officers_are_refused() {
    let w = world();
    let health = format!("{}.health", w.nine);
    let dispose = |record: &str| {
        serde_json::json!({"record": record, "decision": "dispose", "reason": REASON}).to_string()
    };
    // the unit may not decide a health record, nor an IDVA a case, nor an officer anything
    let msg = refused(
        decide_http(&w.server, &w.unit, &dispose(&health)),
        403,
        "forbidden",
    );
    assert!(msg.contains("IDVA"), "{msg}");
    refused(
        decide_http(&w.server, &w.idva, &dispose(&w.nine)),
        403,
        "forbidden",
    );
    refused(
        decide_http(&w.server, &w.officer, &dispose(&w.nine)),
        403,
        "forbidden",
    );
    // nor at the command line: --by names the unit's user
    let (code, _, err) = run(
        &w.server,
        &[
            "retention",
            "decide",
            "--record",
            &health,
            "--dispose",
            "--reason",
            REASON,
            "--by",
            "sg.una.fictional",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("IDVA"), "{err}");
    assert!(reviews_of(&w.server, &health).is_empty());
    assert!(reviews_of(&w.server, &w.nine).is_empty());
    // the IDVA disposes of it from their device, and retains the other one early from the
    // command line
    // (through provide-core's client, as the app's Retention screen will)
    let mut link = HttpTransport::new(&w.server.url, None).unwrap();
    let idva = credential(&w.idva);
    let due = review::due(&mut link, &idva).unwrap();
    assert_eq!(due.items.len(), 1);
    assert_eq!(due.items[0].record, health);
    let recorded = review::decide(
        &mut link,
        &idva,
        &DecisionRequest {
            record: health.clone(),
            decision: Decision::Dispose,
            retain_until: None,
            reason: REASON.into(),
        },
    )
    .unwrap();
    assert_eq!(recorded.class, "nhs_health");
    assert_eq!(recorded.decided_by, "idva.ines.fictional");
    assert_eq!(recorded.device, w.idva.store.device_id());
    match review::due(&mut link, &credential(&w.officer)) {
        Err(provide_core::Error::ServerRefused { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (403, "forbidden"))
        }
        other => panic!("an officer's device is refused, not {other:?}"),
    }
    let other = format!("{}.health", w.seven);
    ok(
        &w.server,
        &[
            "retention",
            "decide",
            "--record",
            &other,
            "--retain-until",
            &day_in(36),
            "--reason",
            REASON,
            "--by",
            "idva.ines.fictional",
        ],
    );
    let audit = reviews_of(&w.server, &health);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].user, "idva.ines.fictional");
    assert!(audit[0].detail.contains("class nhs_health"));
    assert_eq!(reviews_of(&w.server, &other).len(), 1);
}

#[test]
fn bad_decisions_are_refused_plainly_and_change_nothing() {
    let w = world();
    let seven = w.seven.as_str();
    let future = day_in(12);
    let cli = |args: &[&str]| {
        let mut all = vec!["retention", "decide"];
        all.extend_from_slice(args);
        run(&w.server, &all)
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--record",
                "0b7e1c6e-0000-4000-8000-000000000000",
                "--retain-until",
                &future,
                "--reason",
                REASON,
                "--by",
                "sg.una.fictional",
            ],
            "no record",
        ),
        (
            vec![
                "--record",
                "Fictional0 Retentionby",
                "--retain-until",
                &future,
                "--reason",
                REASON,
                "--by",
                "sg.una.fictional",
            ],
            "must be a case id",
        ),
        (
            vec![
                "--record",
                seven,
                "--retain-until",
                "2020-01-01",
                "--reason",
                REASON,
                "--by",
                "sg.una.fictional",
            ],
            "not in the future",
        ),
        (
            vec![
                "--record",
                seven,
                "--retain-until",
                "next year",
                "--reason",
                REASON,
                "--by",
                "sg.una.fictional",
            ],
            "YYYY-MM-DD",
        ),
        (
            vec![
                "--record",
                seven,
                "--retain-until",
                &future,
                "--reason",
                "   ",
                "--by",
                "sg.una.fictional",
            ],
            "reason",
        ),
        (
            vec![
                "--record",
                seven,
                "--retain-until",
                &future,
                "--reason",
                REASON,
                "--by",
                "nobody.fictional",
            ],
            "no enrolled user",
        ),
        (
            vec![
                "--record",
                &w.open,
                "--retain-until",
                &future,
                "--reason",
                REASON,
                "--by",
                "sg.una.fictional",
            ],
            "not closed",
        ),
        (
            vec![
                "--record",
                seven,
                "--retain-until",
                &future,
                "--dispose",
                "--reason",
                REASON,
                "--by",
                "sg.una.fictional",
            ],
            "cannot be used with",
        ),
        (
            vec![
                "--record",
                seven,
                "--reason",
                REASON,
                "--by",
                "sg.una.fictional",
            ],
            "required",
        ),
    ];
    for (args, says) in &cases {
        let (code, _, err) = cli(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains(SURNAME), "no name is echoed: {err}");
    }
    // the due list's own options
    for bad in [
        &["--as-of", "2031-02-30"][..],
        &["--as-of", "soon"],
        &["--division", ""],
    ] {
        let mut args = vec!["retention", "due"];
        args.extend_from_slice(bad);
        let (code, _, err) = run(&w.server, &args);
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
    // over HTTP: malformed, unknown fields, a retain without its date, too large
    let post = |body: &str| decide_http(&w.server, &w.unit, body);
    refused(post("not json"), 400, "bad_request");
    refused(
        post(&serde_json::json!({"record": seven, "decision": "retain", "retain_until": future, "reason": REASON, "extra": 1}).to_string()),
        400,
        "bad_request",
    );
    refused(
        post(
            &serde_json::json!({"record": seven, "decision": "keep", "reason": REASON}).to_string(),
        ),
        400,
        "bad_request",
    );
    refused(
        post(
            &serde_json::json!({"record": seven, "decision": "retain", "reason": REASON})
                .to_string(),
        ),
        400,
        "invalid_input",
    );
    refused(
        post(&serde_json::json!({"record": seven, "decision": "retain", "retain_until": future, "reason": "x".repeat(1001)}).to_string()),
        400,
        "invalid_input",
    );
    refused(
        post(&serde_json::json!({"record": seven, "decision": "retain", "retain_until": future, "reason": "x".repeat(5000)}).to_string()),
        413,
        "too_large",
    );
    // nothing was recorded
    assert!(reviews_of(&w.server, seven).is_empty());
    assert!(w
        .server
        .service
        .storage
        .review_decisions(seven)
        .unwrap()
        .is_empty());
}

#[test]
fn reviewers_decide_for_their_own_division_an_administrator_for_every_one() {
    let w = world();
    let east = Device::enrol(&w.server, "sg.eira.fictional", "safeguarding", "east", "");
    let admin_device = Device::enrol(&w.server, "adm.ada.fictional", "admin", "", "");
    let retain = |record: &str| {
        serde_json::json!({"record": record, "decision": "retain", "retain_until": day_in(12), "reason": REASON})
            .to_string()
    };
    // another division's unit sees nothing of west's, and west's records read as unknown to it
    let (status, v) = due_http(&w.server, &east, "");
    assert_eq!(status, 200, "{v}");
    assert!(records(&v).is_empty(), "{v}");
    let msg = refused(
        decide_http(&w.server, &east, &retain(&w.nine)),
        400,
        "invalid_input",
    );
    assert!(msg.contains("no record"), "{msg}");
    let by = |user: &str, record: &str| {
        run(
            &w.server,
            &[
                "retention",
                "decide",
                "--record",
                record,
                "--retain-until",
                &day_in(12),
                "--reason",
                REASON,
                "--by",
                user,
            ],
        )
    };
    let (code, _, err) = by("sg.eira.fictional", &w.nine);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no record"), "{err}");
    // an administrator's device is refused; at the command line an administrator decides a
    // case of any division, but never a health record
    refused(due_http(&w.server, &admin_device, ""), 403, "forbidden");
    refused(
        decide_http(&w.server, &admin_device, &retain(&w.nine)),
        403,
        "forbidden",
    );
    let (code, _, err) = by("adm.ada.fictional", &w.nine);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = by("adm.ada.fictional", &format!("{}.health", w.nine));
    assert_ne!(code, 0);
    assert!(err.contains("IDVA"), "{err}");
    // a reviewer whose devices are all revoked decides nothing any more
    ok(&w.server, &["revoke", "--user", "sg.una.fictional"]);
    let (code, _, err) = by("sg.una.fictional", &w.seven);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no enrolled user"), "{err}");
    let audit = reviews_of(&w.server, &w.nine);
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].user, "adm.ada.fictional");
    assert!(reviews_of(&w.server, &w.seven).is_empty());
}

/// An `App` enrolled as `user` with `role` in west (the unit with no team), synced once.
fn app_for(
    server: &TestServer,
    user: &str,
    role: &str,
) -> (tempfile::TempDir, provide_core::app::App) {
    use provide_core::app::{App, Phase, TransportFactory};
    let dir = tempfile::tempdir().unwrap();
    let http: TransportFactory = Box::new(|url, _| Ok(Box::new(HttpTransport::new(url, None)?)));
    let app = App::new(&dir.path().join("store"), http)
        .with_init_options(provide_tests::device::fast_options());
    let team = if role == "safeguarding" { "" } else { "t1" };
    let code = server.code(user, role, "west", team);
    let st = app
        .enrol(&server.url, &code, provide_tests::PASSPHRASE)
        .unwrap();
    assert!(matches!(st.phase, Phase::Unlocked { .. }), "{st:?}");
    app.sync_now(&mut |_| {}).unwrap();
    (dir, app)
}

fn request(record: &str, retain_until: Option<&str>) -> DecisionRequest {
    use provide_core::retention::Decision;
    DecisionRequest {
        record: record.into(),
        decision: if retain_until.is_some() {
            Decision::Retain
        } else {
            Decision::Dispose
        },
        retain_until: retain_until.map(str::to_string),
        reason: REASON.into(),
    }
}

/// The app's Retention screen calls (`App::retention_due`, `App::retention_decide`): the unit
/// lists and decides its division's cases, an IDVA its health records; a dispose erases; an
/// officer's app is refused before anything is sent; bad input is refused plainly.
#[test]
fn the_app_lists_what_is_due_and_records_decisions_for_the_unit_and_idvas_only() {
    use provide_core::Error;
    let w = world();
    let health = format!("{}.health", w.nine);
    let ids = |l: provide_core::retention::DueList| -> Vec<String> {
        l.items.into_iter().map(|i| i.record).collect()
    };
    let (_d1, unit) = app_for(&w.server, "sg.ulla.fictional", "safeguarding");
    let (_d2, idva) = app_for(&w.server, "idva.iola.fictional", "idva");
    let (_d3, officer) = app_for(&w.server, "pc.otto.fictional", "officer");

    let due = unit.retention_due().unwrap();
    assert_eq!(ids(due.clone()), [w.nine.clone(), w.seven.clone()]);
    assert_eq!(
        due.items[1].closed_on,
        provide_core::retention::day_of(w.seven_ms).to_string()
    );
    assert_eq!(
        ids(idva.retention_due().unwrap()),
        std::slice::from_ref(&health)
    );

    // an officer's app refuses at once: nothing reaches the server (no refusal audited there)
    let refusals = || {
        let mut f = AuditFilter::default();
        f.entries.action = Some("retention_refused".into());
        w.server.service.storage.audit(&f).unwrap().len()
    };
    let before = refusals();
    for err in [
        officer.retention_due().unwrap_err(),
        officer
            .retention_decide(&request(&w.nine, None))
            .unwrap_err(),
    ] {
        assert!(matches!(err, Error::Forbidden { .. }), "{err}");
        assert_eq!(err.code(), "forbidden");
    }
    assert_eq!(refusals(), before);

    // bad input: a mistyped date is refused on the device, a past one by the server, the
    // unit may not decide a health record; nothing is recorded
    let err = unit
        .retention_decide(&request(&w.seven, Some("next year")))
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input", "{err}");
    let err = unit
        .retention_decide(&request(&w.seven, Some("2020-01-01")))
        .unwrap_err();
    assert_eq!(err.code(), "server_refused", "{err}");
    assert!(err.to_string().contains("future"), "{err}");
    // (the server's `forbidden` reaches the window as the device's own)
    let err = unit.retention_decide(&request(&health, None)).unwrap_err();
    assert_eq!(
        provide_core::IpcError::from(&err).code,
        "forbidden",
        "{err}"
    );
    assert!(reviews_of(&w.server, &w.seven).is_empty());
    assert!(reviews_of(&w.server, &health).is_empty());

    // the unit retains one case and disposes of the other; the list follows
    let until = day_in(24);
    let kept = unit
        .retention_decide(&request(&w.seven, Some(&until)))
        .unwrap();
    assert_eq!(kept.retain_until.as_deref(), Some(until.as_str()));
    assert_eq!(kept.decided_by, "sg.ulla.fictional");
    assert_eq!(
        ids(unit.retention_due().unwrap()),
        std::slice::from_ref(&w.nine)
    );
    // the IDVA disposes of the health record first, then the unit of the case
    let gone = idva.retention_decide(&request(&health, None)).unwrap();
    assert_eq!(gone.decision, provide_core::retention::Decision::Dispose);
    assert!(idva.retention_due().unwrap().items.is_empty());
    unit.retention_decide(&request(&w.nine, None)).unwrap();
    assert!(unit.retention_due().unwrap().items.is_empty());
    assert!(w.server.service.erasure_status(&w.nine).unwrap().is_some());
    assert!(w
        .server
        .service
        .storage
        .doc_meta(&w.nine)
        .unwrap()
        .is_none());
}
