//! Automerge change times (issue 14, item 9): seconds since the epoch, as Automerge specifies,
//! from this release on. Devices of earlier releases wrote (and, until they upgrade, still
//! send) milliseconds: the server takes both within its clock window, and history dates both
//! right. Runs on SQLite and, in `make test`, on PostgreSQL.

use automerge::AutoCommit;
use provide_core::model::{Deployment, RecordKind};
use provide_core::sync::protocol::{DocOutcome, Refusal};
use provide_tests::attack::{message, now_ms, Attacker};
use provide_tests::{sets, Device, TestServer};

const OFFICER: &str = "pc.ned.fictional";
const IDVA: &str = "idva.ora.fictional";

fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[test]
fn a_new_change_is_dated_in_seconds_and_shown_as_today() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, OFFICER, "officer", "west", "t1");
    let mut idva = Device::enrol(&server, IDVA, "idva", "west", "t1");
    let case = officer
        .store
        .create_case(Deployment::Live, &sets(&[("victim.name", "Pia Fictional")]))
        .unwrap();
    officer
        .store
        .set_case_fields(&case, &sets(&[("victim.phone", "01632 960222")]))
        .unwrap();
    let (_, bytes) = officer.store.record_bytes(&case).unwrap();
    let changes = AutoCommit::load(&bytes).unwrap().get_changes(&[]);
    assert!(changes.len() >= 2);
    let now = chrono::Utc::now().timestamp();
    for c in &changes {
        assert!(
            (c.timestamp() - now).abs() <= 60,
            "a raw change time of {} is not seconds near {now}",
            c.timestamp()
        );
    }
    // the server takes them, and the partner's history dates them now
    officer.sync().unwrap();
    idva.sync().unwrap();
    let history = idva
        .store
        .case_history(&case, Some("victim.phone"))
        .unwrap();
    let at: chrono::DateTime<chrono::Utc> = history.last().unwrap().at.parse().unwrap();
    assert!((at.timestamp() - now).abs() <= 60, "{at}");
}

#[test]
fn changes_in_milliseconds_from_older_devices_and_in_seconds_are_both_taken_and_dated_right() {
    let server = TestServer::start();
    let mut officer = Device::enrol(&server, OFFICER, "officer", "west", "t1");
    let mut idva = Device::enrol(&server, IDVA, "idva", "west", "t1");
    let case = officer
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[("victim.name", "Quin Fictional")]),
        )
        .unwrap();
    officer.sync().unwrap();
    // the officer's own credential and actor, committing as each release does
    let device = Attacker::of(&server, &officer);
    let mut doc = device.load(&mut officer, &case);
    let mut edit = |officer: &mut Device, phone: &str, at: i64| {
        let base = doc.get_heads();
        Attacker::put(&mut doc, &["victim", "phone"], phone);
        let changes = Attacker::commit(&mut doc, &base, &message(OFFICER, "officer"), at);
        let seq = officer.store.next_request_seq().unwrap();
        device.upload(seq, &case, RecordKind::Case, base, changes)
    };

    // a device before issue 14: milliseconds, a minute ago
    let old_ms = now_ms() - 60_000;
    let answer = edit(&mut officer, "01632 960333", old_ms);
    assert_eq!(answer.first_outcome(), DocOutcome::Accepted);
    idva.sync().unwrap();
    let history = idva
        .store
        .case_history(&case, Some("victim.phone"))
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.value, "01632 960333");
    assert_eq!(last.at, rfc3339_ms(old_ms));
    assert_eq!(last.user, OFFICER);

    // this release: seconds, just now
    let new_s = chrono::Utc::now().timestamp();
    let answer = edit(&mut officer, "01632 960444", new_s);
    assert_eq!(answer.first_outcome(), DocOutcome::Accepted);
    idva.sync().unwrap();
    let history = idva
        .store
        .case_history(&case, Some("victim.phone"))
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.value, "01632 960444");
    assert_eq!(last.at, rfc3339_ms(new_s * 1000));

    // the clock window holds in both units: an hour ahead is refused either way
    for ahead in [new_s + 3600, now_ms() + 3_600_000] {
        let mut doc = doc.clone();
        let base = doc.get_heads();
        Attacker::put(&mut doc, &["victim", "phone"], "01632 960555");
        let changes = Attacker::commit(&mut doc, &base, &message(OFFICER, "officer"), ahead);
        let seq = officer.store.next_request_seq().unwrap();
        let answer = device.upload(seq, &case, RecordKind::Case, base, changes);
        assert_eq!(
            answer.first_outcome(),
            DocOutcome::Refused(Refusal::TimeOutOfRange),
            "{ahead}"
        );
    }
}
