//! The safeguarding unit fetches a closed case from the server on request (issue 15, item 2),
//! on both server backends: found by police reference or by the victim's whole name (case and
//! spacing ignored, never by part of a name), sent whole, audited as a consultation on the
//! server (which never records what was searched for) and on the device, kept for the grace
//! period after the fetch and then gone again at a sync, leaving nothing in any file. Only the
//! safeguarding unit may fetch, only in its division; bad queries are refused plainly.

use provide_core::audit::Action;
use provide_core::model::Deployment;
use provide_core::sync::fetch::fetch_closed;
use provide_core::sync::transport::HttpTransport;
use provide_core::Error;
use provide_sync_server::storage::AuditFilter;
use provide_tests::binaries::{admin, bin};
use provide_tests::forensics;
use provide_tests::{sets, Device, TestServer, PASSPHRASE};

const VICTIM: &str = "Rosalind Longclosed";
const REFERENCE: &str = "WE-FETCH-0042";
const NOTE: &str = "Fetchnote: moved to her sister's in the spring";

fn grace(server: &TestServer, hours: &str) {
    let out = admin(
        server,
        &[
            "policy",
            "set",
            "--division",
            "west",
            "--handover-grace-hours",
            hours,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fetch(d: &mut Device, reference: Option<&str>, name: Option<&str>) -> Vec<String> {
    let mut link = HttpTransport::new(&d.store.server_link().unwrap().url, None).unwrap();
    fetch_closed(&mut d.store, &mut link, reference, name)
        .unwrap()
        .fetched
}

fn audited(server: &TestServer, action: &str) -> Vec<provide_sync_server::storage::AuditRow> {
    let mut f = AuditFilter::default();
    f.entries.action = Some(action.into());
    server.service.storage.audit(&f).unwrap()
}

/// A closed case of team 1 that has left the unit's device (grace 0).
fn closed_case() -> (TestServer, Device, String) {
    let server = TestServer::start();
    grace(&server, "0");
    let mut unit = Device::enrol(&server, "sg.fen.fictional", "safeguarding", "west", "");
    let case = unit
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("team", "t1"),
                ("status", "active"),
                ("victim.name", VICTIM),
                ("incident.reference", REFERENCE),
            ]),
        )
        .unwrap();
    unit.store
        .add_case_item(&case, "notes", &serde_json::json!({ "text": NOTE }))
        .unwrap();
    unit.sync().unwrap();
    unit.store
        .set_case_fields(&case, &sets(&[("status", "closed")]))
        .unwrap();
    unit.sync().unwrap();
    assert!(!unit.holds(&case), "closed, with no grace: it left");
    (server, unit, case)
}

#[test]
fn a_closed_case_is_fetched_by_reference_or_whole_name_audited_and_leaves_again() {
    let (server, mut unit, case) = closed_case();
    // by reference, spacing and case ignored
    assert_eq!(
        fetch(&mut unit, Some(" we-fetch-0042 "), None),
        std::slice::from_ref(&case)
    );
    let view = unit.store.show_case(&case).unwrap().record;
    assert_eq!(view.victim.name, VICTIM);
    assert!(view.notes.iter().any(|n| n.text == NOTE));
    // audited on the device as a consultation, on the server as a search and a consultation
    assert!(unit.store.audit_entries().unwrap().iter().any(|e| {
        e.action == Action::View.as_str()
            && e.record == case
            && e.detail.contains("fetched from the server on request")
    }));
    let consults = audited(&server, "consult");
    assert_eq!(consults.len(), 1);
    assert_eq!(consults[0].record, case);
    assert_eq!(consults[0].device, unit.store.device_id());
    let searches = audited(&server, "search");
    assert_eq!(searches.len(), 1);
    assert!(
        searches[0].detail.contains("1 found, 1 sent"),
        "{}",
        searches[0].detail
    );
    assert!(searches[0].detail.contains(&case), "what it found is named");
    // the server's log never holds what was searched for
    for row in server
        .service
        .storage
        .audit(&AuditFilter::default())
        .unwrap()
    {
        let text = format!("{} {}", row.detail, row.record).to_lowercase();
        assert!(
            !text.contains("fetch-0042") && !text.contains("longclosed"),
            "{text}"
        );
    }
    // grace 0: at the next sync it leaves again, and nothing of it stays
    let r = unit.sync().unwrap();
    assert_eq!(r.docs_purged, 1, "{r:?}");
    assert!(!unit.holds(&case));
    let key = unit.data_key();
    for canary in [VICTIM, NOTE, REFERENCE] {
        let found = forensics::find(unit.dir.path(), &key, canary);
        assert!(found.is_empty(), "`{canary}` is still in {found:?}");
    }

    // by the whole name, case and spacing ignored; with a grace period it stays a while
    grace(&server, "72");
    assert_eq!(
        fetch(&mut unit, None, Some("  rosalind   LONGCLOSED ")),
        std::slice::from_ref(&case)
    );
    unit.sync().unwrap();
    unit.sync().unwrap();
    assert!(
        unit.holds(&case),
        "kept for the grace period after the fetch"
    );
    // already held: a second fetch sends nothing
    assert!(fetch(&mut unit, Some(REFERENCE), None).is_empty());
    // the grace period ends (set to 0 here): it goes at the next sync
    grace(&server, "0");
    assert_eq!(unit.sync().unwrap().docs_purged, 1);
    assert!(!unit.holds(&case));
}

#[test]
fn only_a_whole_name_or_reference_finds_and_only_the_unit_of_the_division_may_ask() {
    let (server, mut unit, case) = closed_case();
    assert!(
        fetch(&mut unit, None, Some("Rosalind")).is_empty(),
        "part of a name"
    );
    assert!(fetch(&mut unit, Some("WE-FETCH-004"), None).is_empty());
    assert_eq!(audited(&server, "consult").len(), 0);
    // another division's unit finds nothing of west's
    let mut east = Device::enrol(&server, "sg.eve.fictional", "safeguarding", "east", "");
    assert!(fetch(&mut east, Some(REFERENCE), None).is_empty());
    // a patrol device may not fetch at all: refused on the device, and by the server
    let mut officer = Device::enrol(&server, "pc.fay.fictional", "officer", "west", "t1");
    let mut link = HttpTransport::new(&server.url, None).unwrap();
    assert!(matches!(
        fetch_closed(&mut officer.store, &mut link, Some(REFERENCE), None),
        Err(Error::Forbidden { .. })
    ));
    let credential = officer.store.server_link().unwrap().credential.to_string();
    let client = reqwest::blocking::Client::new();
    let post = |body: &str, credential: &str| {
        let r = client
            .post(format!("{}/v1/cases/fetch", server.url))
            .bearer_auth(credential)
            .body(body.to_string())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let v: serde_json::Value =
            serde_json::from_slice(&r.bytes().unwrap_or_default()).unwrap_or_default();
        (status, v["code"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(
        post(r#"{"reference":"WE-FETCH-0042"}"#, &credential),
        (403, "forbidden".into())
    );
    let refused = audited(&server, "fetch_refused");
    assert_eq!(refused.len(), 1, "the refusal is audited");
    assert_eq!(refused[0].device, officer.store.device_id());
    // bad queries from the unit: a clear refusal, nothing fetched
    let unit_credential = unit.store.server_link().unwrap().credential.to_string();
    for (body, code) in [
        ("not json", "bad_request"),
        ("{}", "invalid_input"),
        (r#"{"reference":"A","name":"B"}"#, "invalid_input"),
        (r#"{"reference":"   "}"#, "invalid_input"),
        (
            &format!(r#"{{"name":"{}"}}"#, "x".repeat(200)),
            "invalid_input",
        ),
    ] {
        assert_eq!(post(body, &unit_credential).1, code, "{body}");
    }
    let big = format!(r#"{{"name":"{}"}}"#, "y".repeat(4000));
    assert_eq!(post(&big, &unit_credential).0, 413);
    assert!(!unit.holds(&case));
}

#[test]
fn the_command_line_fetches_a_closed_case() {
    let (_server, unit, case) = closed_case();
    let dir = unit.dir.path().to_path_buf();
    let out = std::process::Command::new(bin("provide"))
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "case",
            "fetch",
            "--reference",
            REFERENCE,
        ])
        .env("PROVIDE_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), case);
    // neither or both: refused before anything is asked
    let out = std::process::Command::new(bin("provide"))
        .args(["--data-dir", dir.to_str().unwrap(), "case", "fetch"])
        .env("PROVIDE_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn the_app_fetches_a_closed_case_while_its_own_syncs_go_on() {
    use provide_core::app::{App, Phase, TransportFactory};
    let (server, _unit, case) = closed_case();
    let dir = tempfile::tempdir().unwrap();
    let http: TransportFactory = Box::new(|url, _| Ok(Box::new(HttpTransport::new(url, None)?)));
    let app = App::new(&dir.path().join("store"), http)
        .with_init_options(provide_tests::device::fast_options());
    let code = server.code("sg.gus.fictional", "safeguarding", "west", "");
    let st = app.enrol(&server.url, &code, PASSPHRASE).unwrap();
    assert!(matches!(st.phase, Phase::Unlocked { .. }), "{st:?}");
    app.sync_now(&mut |_| {}).unwrap();
    let report = app.fetch_closed(None, Some(VICTIM)).unwrap();
    assert_eq!(report.fetched, std::slice::from_ref(&case));
    let name = app
        .with_store(|s| Ok(s.show_case(&case)?.record.victim.name))
        .unwrap();
    assert_eq!(name, VICTIM);
    // the app's cursor was not moved by the fetch: its next sync confirms it and, with no
    // grace period, lets the case go
    let r = app.sync_now(&mut |_| {}).unwrap();
    assert_eq!(r.docs_purged, 1, "{r:?}");
    assert!(matches!(
        app.fetch_closed(Some(""), None),
        Err(Error::InvalidInput(_))
    ));
}

/// Issue 15 review, R2: a stolen safeguarding laptop trying reference after reference meets
/// a quota per person; each refusal is audited, and nothing more is found.
#[test]
fn enumerating_closed_cases_stops_at_the_quota() {
    let (server, mut unit, case) = closed_case();
    let (per_hour, _) = (provide_sync_server::service::fetch::FETCH_QUOTAS[0].1, ());
    let mut link = HttpTransport::new(&server.url, None).unwrap();
    for n in 0..per_hour {
        let reference = format!("WE-FETCH-{n:04}");
        fetch_closed(&mut unit.store, &mut link, Some(&reference), None).unwrap();
    }
    // the next, even the right one, is refused: 429, and audited
    let err = fetch_closed(&mut unit.store, &mut link, Some(REFERENCE), None).unwrap_err();
    assert_eq!(err.code(), "server_busy", "{err}");
    assert!(!unit.holds(&case));
    assert_eq!(audited(&server, "fetch_refused").len(), 1);
    assert_eq!(audited(&server, "search").len() as u64, per_hour);
}
