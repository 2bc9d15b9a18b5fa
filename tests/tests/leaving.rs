//! The case list says when a handed-over or closed case leaves a device (issue 15, item 5),
//! against a real server on both backends: before its first sync a device goes by the default
//! policy and says so; a sync brings the division's policy (`policy set`); a case handed over
//! by the safeguarding unit shows, on the officer's device, a time the grace period after the
//! sync that brought the hand-over, and none on the unit's own device; closed, it leaves the
//! unit's too.

use provide_core::model::Deployment;
use provide_core::store::{CaseFilter, CaseSummary, DevicePolicy};
use provide_tests::binaries::admin;
use provide_tests::{sets, Device, TestServer};

const HOUR_MS: i64 = 3_600_000;

fn ms(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .timestamp_millis()
}

fn row(d: &mut Device, id: &str) -> CaseSummary {
    d.store
        .list_cases(&CaseFilter::default())
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .expect("the case is listed")
}

/// Syncs and returns the time span (ms, whole seconds) the sync ran in.
fn timed_sync(d: &mut Device) -> std::ops::RangeInclusive<i64> {
    let before = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
    d.sync().unwrap();
    before..=chrono::Utc::now().timestamp_millis()
}

#[test]
fn a_handed_over_case_shows_when_it_leaves_the_officer_s_device() {
    let server = TestServer::start();
    let mut unit = Device::enrol(&server, "sg.sol.fictional", "safeguarding", "west", "");
    let mut officer = Device::enrol(&server, "pc.paz.fictional", "officer", "west", "t1");
    // not yet heard from the server: the default, said so
    assert_eq!(
        officer.store.device_policy().unwrap(),
        DevicePolicy {
            grace_hours: 72,
            heard_from_server: false
        }
    );
    let out = admin(
        &server,
        &[
            "policy",
            "set",
            "--division",
            "west",
            "--handover-grace-hours",
            "24",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let case = unit
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("team", "t1"),
                ("status", "active"),
                ("victim.name", "Orla Fictional"),
            ]),
        )
        .unwrap();
    unit.sync().unwrap();
    officer.sync().unwrap();
    let heard = DevicePolicy {
        grace_hours: 24,
        heard_from_server: true,
    };
    assert_eq!(officer.store.device_policy().unwrap(), heard);
    assert_eq!(
        row(&mut officer, &case).leaves_device,
        None,
        "open work stays"
    );

    unit.store
        .set_case_fields(&case, &sets(&[("status", "handed_over")]))
        .unwrap();
    unit.sync().unwrap();
    assert_eq!(
        row(&mut unit, &case).leaves_device,
        None,
        "the unit keeps it"
    );
    let during = timed_sync(&mut officer);
    let r = row(&mut officer, &case);
    assert_eq!(r.status, "handed_over");
    let left = r.leaves_device.expect("a handed-over case leaves");
    assert_eq!(left.policy, heard);
    assert!(!left.due);
    let at = ms(&left.at);
    assert!(
        (during.start() + 24 * HOUR_MS..=during.end() + 24 * HOUR_MS).contains(&at),
        "{} is not 24 hours after the sync that brought the hand-over",
        left.at
    );
    // the case screen says the same
    assert_eq!(
        officer.store.show_case(&case).unwrap().leaves_device,
        Some(left)
    );
    // a later sync that changes nothing does not move it
    officer.sync().unwrap();
    assert_eq!(ms(&row(&mut officer, &case).leaves_device.unwrap().at), at);

    // closed: the unit lets it go after the grace period too
    unit.sync().unwrap();
    let before = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
    unit.store
        .set_case_fields(&case, &sets(&[("status", "closed")]))
        .unwrap();
    let after = chrono::Utc::now().timestamp_millis();
    let closed = row(&mut unit, &case)
        .leaves_device
        .expect("closed leaves the unit");
    assert!((before + 24 * HOUR_MS..=after + 24 * HOUR_MS).contains(&ms(&closed.at)));
    unit.sync().unwrap();
    let during = timed_sync(&mut officer);
    let at = ms(&row(&mut officer, &case).leaves_device.unwrap().at);
    assert!((during.start() + 24 * HOUR_MS..=during.end() + 24 * HOUR_MS).contains(&at));
}
