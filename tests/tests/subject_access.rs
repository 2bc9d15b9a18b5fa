//! Subject access (issue 16, item 5), on both server backends: `provide-sync-server
//! subject-access` finds every case of one person by name and date of birth (case and spacing
//! ignored, as the report digests compare them) and nobody else's, even a namesake's; writes
//! each case whole with its health record, the history of who changed what (two authors, as
//! the server registered them) and the audit entries about them, as JSON and as an escaped
//! printable page, both 0600; lists what a revoked device handed over for review, and finds a
//! case that exists only there; audits each case disclosed without the name or date of birth;
//! and refuses bad requests with one line and a documented exit code, writing nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use provide_core::model::Deployment;
use provide_sync_server::storage::{AuditFilter, AuditRow};
use provide_tests::binaries::admin;
use provide_tests::{note, sets, Device, TestServer};
use sha2::Digest;

const NAME: &str = "Marigold Fenwick-Sample";
const DOB: &str = "1985-04-12";
/// A namesake: the same name, born another day.
const NAMESAKE_DOB: &str = "1990-09-30";
/// Stored with odd spacing and case; asked for plainly.
const SPACED_STORED: &str = "perpetua   QUINCEWORTH";
const SPACED_ASKED: &str = "Perpetua Quinceworth";
const SPACED_DOB: &str = "1979-01-01";

const NOTE_A: &str = "Sarnote-A: <script>alert('sar')</script> moved to the blue door";
const NOTE_A_IDVA: &str = "Sarnote-A-idva: agreed a safe word with her";
const HEALTH_A: &str = "Sarhealth-A: sees the practice nurse on Tuesdays";
const NOTE_A2: &str = "Sarnote-A2: referred by the school";
const NOTE_B: &str = "Sarnote-B: namesake's canary, never in A's export";
const HEALTH_B: &str = "Sarhealth-B: namesake's health canary";
const NOTE_C: &str = "Sarnote-C: spaced-name canary";
/// Written offline on a device revoked before it synced: held for review only.
const NOTE_A_HELD: &str = "Sarnote-A-held: a case made offline and handed over at revocation";
const NOTE_A1_HELD: &str = "Sarnote-A1-held: a late note on A's case";
const NOTE_B_HELD: &str = "Sarnote-B-held: a late note on the namesake's case";

struct World {
    server: TestServer,
    officer: Device,
    idva: Device,
    /// A's cases: one made by an officer and edited by an IDVA (with a health record), one
    /// made (triaged) by the safeguarding unit.
    a1: String,
    a2: String,
    /// A's case that exists only in a revoked device's final upload.
    a_held: String,
    /// That revoked device.
    revoked: String,
    b: String,
    c: String,
    out: tempfile::TempDir,
}

/// A case of team t1 (an officer's own team; the unit names it) with a victim and a note.
fn case(d: &mut Device, name: &str, dob: &str, text: &str) -> String {
    let mut fields = vec![("victim.name", name), ("victim.dob", dob)];
    if d.store.session().team.is_empty() {
        fields.push(("team", "t1"));
    }
    let id = d
        .store
        .create_case(Deployment::PostIncident, &sets(&fields))
        .unwrap();
    d.store.add_case_item(&id, "notes", &note(text)).unwrap();
    id
}

fn world() -> World {
    let server = TestServer::start();
    let mut unit = Device::enrol(&server, "sg.sable.fictional", "safeguarding", "west", "");
    let mut officer = Device::enrol(&server, "pc.olu.fictional", "officer", "west", "t1");
    let mut idva = Device::enrol(&server, "idva.iris.fictional", "idva", "west", "t1");
    let a1 = case(&mut officer, NAME, DOB, NOTE_A);
    let b = case(&mut officer, NAME, NAMESAKE_DOB, NOTE_B);
    let c = case(&mut officer, SPACED_STORED, SPACED_DOB, NOTE_C);
    officer.sync().unwrap();
    let a2 = case(&mut unit, NAME, DOB, NOTE_A2);
    unit.sync().unwrap();
    idva.sync().unwrap();
    idva.store
        .add_case_item(&a1, "notes", &note(NOTE_A_IDVA))
        .unwrap();
    idva.store.add_health_note(&a1, HEALTH_A).unwrap();
    idva.store.add_health_note(&b, HEALTH_B).unwrap();
    idva.sync().unwrap();
    officer.sync().unwrap();
    unit.sync().unwrap();
    // a device that goes offline with work the server has not seen, and is revoked
    let mut gale = Device::enrol(&server, "pc.gale.fictional", "officer", "west", "t1");
    gale.sync().unwrap();
    let a_held = case(&mut gale, NAME, DOB, NOTE_A_HELD);
    gale.store
        .add_case_item(&a1, "notes", &note(NOTE_A1_HELD))
        .unwrap();
    gale.store
        .add_case_item(&b, "notes", &note(NOTE_B_HELD))
        .unwrap();
    let revoked = gale.store.device_id().to_string();
    server.service.revoke_device(&revoked).unwrap();
    assert!(gale.sync().unwrap().revoked);
    let held = server.service.storage.held_for_review().unwrap();
    assert!(held.iter().any(|h| h.record == a_held) && held.iter().any(|h| h.record == b));
    World {
        server,
        officer,
        idva,
        a1,
        a2,
        a_held,
        revoked,
        b,
        c,
        out: tempfile::tempdir().unwrap(),
    }
}

/// Runs the command; returns its exit code and standard error.
fn sar(server: &TestServer, name: &str, dob: &str, out: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "subject-access",
        "--name",
        name,
        "--dob",
        dob,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = admin(server, &args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn exported(server: &TestServer, name: &str, dob: &str, out: &Path) -> serde_json::Value {
    let (code, err) = sar(server, name, dob, out, &[]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

fn case_ids(export: &serde_json::Value) -> BTreeSet<String> {
    export["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["case_id"].as_str().unwrap().to_string())
        .collect()
}

fn the_case<'a>(export: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    export["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case_id"] == id)
        .unwrap()
}

fn audited(server: &TestServer, action: &str) -> Vec<AuditRow> {
    let mut f = AuditFilter::default();
    f.entries.action = Some(action.into());
    server.service.storage.audit(&f).unwrap()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_export_holds_exactly_the_subjects_cases_their_history_and_disclosures_and_is_audited() {
    let w = world();
    let out = w.out.path().join("sar-a.json");
    // asked with other spacing and case: the same person
    let export = exported(&w.server, "  marigold   FENWICK-sample ", DOB, &out);
    assert_eq!(export["format"], 1);
    assert_eq!(export["kind"], "provide-subject-access");
    assert_eq!(
        case_ids(&export),
        set(&[&w.a1, &w.a2, &w.a_held]),
        "A's cases only, the one held for review included"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    for canary in [NOTE_A, NOTE_A_IDVA, HEALTH_A, NOTE_A2] {
        assert!(text.contains(canary), "{canary} is held");
    }
    for canary in [
        NOTE_B,
        HEALTH_B,
        NOTE_B_HELD,
        NOTE_C,
        "Quinceworth",
        "QUINCEWORTH",
        NAMESAKE_DOB,
    ] {
        assert!(!text.contains(canary), "another person's `{canary}` leaked");
    }
    for id in [&w.b, &w.c] {
        assert!(!text.contains(id.as_str()), "another person's case id");
    }

    // the record, typed; its health record; who changed what, as the server registered them
    let a1 = the_case(&export, &w.a1);
    assert_eq!(a1["case"]["record"]["victim"]["name"], NAME);
    assert_eq!(a1["case"]["record"]["victim"]["dob"], DOB);
    assert_eq!(a1["health"]["id"], format!("{}.health", w.a1));
    assert_eq!(a1["health"]["record"]["notes"][0]["text"], HEALTH_A);
    assert!(the_case(&export, &w.a2)["health"].is_null());
    assert_eq!(
        the_case(&export, &w.a2)["case"]["record"]["status"],
        "triaged"
    );
    let history = a1["case"]["history"].as_array().unwrap();
    let authors: BTreeSet<&str> = history
        .iter()
        .map(|h| h["user"].as_str().unwrap())
        .collect();
    assert_eq!(
        authors,
        BTreeSet::from(["idva.iris.fictional", "pc.olu.fictional"]),
        "two authors"
    );
    assert!(history.iter().all(|h| h["verified"] == true));
    assert!(history
        .iter()
        .any(|h| h["user"] == "pc.olu.fictional" && h["path"] == "victim.name"));
    assert!(history.iter().any(|h| h["user"] == "idva.iris.fictional"
        && h["path"].as_str().unwrap().starts_with("notes.")
        && h["value"] == NOTE_A_IDVA));
    // the disclosures: sent up by the officer, sent to the IDVA's device
    let audit = a1["case"]["audit"].as_array().unwrap();
    let officer_id = w.officer.store.device_id().to_string();
    let idva_id = w.idva.store.device_id().to_string();
    assert!(audit
        .iter()
        .any(|r| r["action"] == "receive" && r["device"] == officer_id.as_str()));
    assert!(audit
        .iter()
        .any(|r| r["action"] == "disclose" && r["device"] == idva_id.as_str()));
    assert!(audit.iter().all(|r| r["record"] == w.a1.as_str()));
    assert!(!a1["health"]["audit"].as_array().unwrap().is_empty());
    // what the revoked device handed over: listed under A's case, and A's case that exists
    // only there given whole, marked as not stored
    assert_eq!(a1["case"]["stored"], true);
    assert!(a1["case"]["held_for_review"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["device"] == w.revoked.as_str() && h["bytes"].as_u64().unwrap() > 0));
    let late = a1["case"]["held_history"].as_array().unwrap();
    assert!(
        late.iter()
            .any(|h| h["user"] == "pc.gale.fictional" && h["value"] == NOTE_A1_HELD),
        "what the held changes would write: {late:?}"
    );
    assert!(late.iter().all(|h| h["user"] == "pc.gale.fictional"));
    assert!(
        !a1["case"]["record"].to_string().contains(NOTE_A1_HELD),
        "not in the stored record"
    );
    let held = the_case(&export, &w.a_held);
    assert_eq!(held["case"]["stored"], false);
    assert_eq!(held["case"]["record"]["notes"][0]["text"], NOTE_A_HELD);
    assert!(held["case"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["user"] == "pc.gale.fictional" && h["verified"] == true));
    assert!(held["case"]["audit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["device"] == w.revoked.as_str()));

    // the printable page: beside it, escaped, self-contained; both files private
    let html_path = out.with_extension("html");
    let page = std::fs::read_to_string(&html_path).unwrap();
    assert!(page.contains("&lt;script&gt;alert(&#39;sar&#39;)&lt;/script&gt;"));
    assert!(!page.to_lowercase().contains("<script"), "nothing runs");
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("src="));
    assert!(page.contains(NOTE_A_IDVA) && page.contains(HEALTH_A));
    let escaped = provide_sync_server::service::subject_page::escape;
    assert!(page.contains(&escaped(NOTE_A1_HELD)) && page.contains(NOTE_A_HELD));
    assert!(!page.contains(NOTE_B) && !page.contains(NOTE_C));
    assert_eq!(mode(&out), 0o600);
    assert_eq!(mode(&html_path), 0o600);
    let leftovers: Vec<PathBuf> = std::fs::read_dir(w.out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(leftovers.len(), 2, "no temporary file left: {leftovers:?}");

    // audited: one entry per record disclosed, with the count and the JSON's hash prefix
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&out).unwrap()));
    let entries = audited(&w.server, "subject_access");
    let records: BTreeSet<String> = entries.iter().map(|e| e.record.clone()).collect();
    assert_eq!(
        records,
        set(&[&w.a1, &format!("{}.health", w.a1), &w.a2, &w.a_held])
    );
    for e in &entries {
        assert!(e.detail.contains("3 case(s)"), "{}", e.detail);
        assert!(e.detail.contains(&sha[..16]), "{} vs {sha}", e.detail);
        assert_eq!(e.device, "cli");
    }
    assert_no_identity_in_audit(&w.server);
    assert!(
        provide_sync_server::admin::verify_audit(&w.server.service, None)
            .unwrap()
            .verified,
        "the audit chain still verifies"
    );

    // the namesake and the oddly spaced name: each their own cases only
    let b = exported(&w.server, NAME, NAMESAKE_DOB, &w.out.path().join("b.json"));
    assert_eq!(case_ids(&b), set(&[&w.b]));
    let b_text = serde_json::to_string(&b).unwrap();
    assert!(b_text.contains(NOTE_B) && b_text.contains(HEALTH_B) && b_text.contains(NOTE_B_HELD));
    assert!(!b_text.contains("Sarnote-A") && !b_text.contains("Sarhealth-A"));
    let c = exported(
        &w.server,
        SPACED_ASKED,
        SPACED_DOB,
        &w.out.path().join("c.json"),
    );
    assert_eq!(case_ids(&c), set(&[&w.c]));
    assert!(!serde_json::to_string(&c).unwrap().contains("Sarnote-A"));

    // a later export shows the earlier one among the disclosures
    let again = exported(&w.server, NAME, DOB, &w.out.path().join("again.json"));
    assert!(the_case(&again, &w.a1)["case"]["audit"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["action"] == "subject_access"));
}

/// No audit entry names any of the people asked about or their dates of birth.
fn assert_no_identity_in_audit(server: &TestServer) {
    for row in server
        .service
        .storage
        .audit(&AuditFilter::default())
        .unwrap()
    {
        let text = format!("{} {} {}", row.record, row.detail, row.user).to_lowercase();
        for secret in [
            "marigold",
            "fenwick",
            "quinceworth",
            "nobody",
            DOB,
            NAMESAKE_DOB,
            SPACED_DOB,
        ] {
            assert!(!text.contains(secret), "`{secret}` in the audit: {text}");
        }
    }
}

#[test]
fn bad_requests_get_one_line_a_documented_exit_code_and_no_file() {
    let w = world();
    let dir = w.out.path();
    let out = dir.join("x.json");
    let one_line_without_identity = |err: &str| {
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        let lower = err.to_lowercase();
        for secret in ["marigold", "fenwick", "nobody", "atall", DOB, "1985"] {
            assert!(!lower.contains(secret), "`{secret}` in `{err}`");
        }
    };
    let nothing_written = || {
        assert_eq!(
            std::fs::read_dir(dir).unwrap().count(),
            0,
            "no file written"
        );
    };

    // nobody of that name and date of birth: exit 4, audited as a search that found nothing
    let (code, err) = sar(&w.server, "Nobody Atall", "1970-01-01", &out, &[]);
    assert_eq!(code, 4, "{err}");
    one_line_without_identity(&err);
    nothing_written();
    assert!(audited(&w.server, "subject_access")
        .iter()
        .any(|e| e.record.is_empty() && e.detail.contains("no case")));
    // the right name, the wrong date of birth: nobody either
    let (code, _) = sar(&w.server, NAME, "1985-04-13", &out, &[]);
    assert_eq!(code, 4);

    // malformed dates and empty names: exit 2
    for (name, dob) in [
        (NAME, "1985-13-01"),
        (NAME, "12/04/1985"),
        (NAME, "1985-4-12"),
        (NAME, ""),
        ("   ", DOB),
        ("", DOB),
    ] {
        let (code, err) = sar(&w.server, name, dob, &out, &[]);
        assert_eq!(code, 2, "{name:?} {dob:?}: {err}");
        one_line_without_identity(&err);
    }
    nothing_written();
    // an .html name for the JSON: exit 2
    let (code, err) = sar(&w.server, NAME, DOB, &dir.join("x.html"), &[]);
    assert_eq!(code, 2, "{err}");

    // an unwritable place (a folder that does not exist; a path named after the person):
    // exit 1, nothing disclosed, nothing audited
    let before = audited(&w.server, "subject_access").len();
    let unwritable = dir
        .join("no-such-folder")
        .join("marigold-fenwick-1985.json");
    let (code, err) = sar(&w.server, NAME, DOB, &unwritable, &[]);
    assert_eq!(code, 1, "{err}");
    one_line_without_identity(&err);
    nothing_written();
    assert_eq!(audited(&w.server, "subject_access").len(), before);

    // an existing file is never overwritten, unless --force
    std::fs::write(&out, "keep me").unwrap();
    let (code, err) = sar(&w.server, NAME, DOB, &out, &[]);
    assert_eq!(code, 2, "{err}");
    one_line_without_identity(&err);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    assert!(!out.with_extension("html").exists());
    std::fs::write(out.with_extension("html"), "keep me too").unwrap();
    std::fs::remove_file(&out).unwrap();
    let (code, _) = sar(&w.server, NAME, DOB, &out, &[]);
    assert_eq!(code, 2, "the page's file exists");
    assert!(!out.exists(), "nothing half written");
    std::fs::write(&out, "keep me").unwrap();
    let (code, err) = sar(&w.server, NAME, DOB, &out, &["--force"]);
    assert_eq!(code, 0, "{err}");
    let export: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(case_ids(&export), set(&[&w.a1, &w.a2, &w.a_held]));
    assert!(std::fs::read_to_string(out.with_extension("html"))
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    assert_eq!(mode(&out), 0o600);
    assert_no_identity_in_audit(&w.server);
}
