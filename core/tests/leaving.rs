//! When a case leaves this device (issue 15): each case's `status_since` is kept by the store
//! (set when its status changes, here or by a sync; migration 3 gives cases already on an
//! older store the time of the upgrade), and the case list and case screen turn it into a
//! time with the policy the server last told the device, or the default before it has heard
//! one.

use provide_core::model::shift::Pattern;
use provide_core::model::{Deployment, Role};
use provide_core::store::{schema, CaseFilter, DevicePolicy, ShiftInput};
use provide_core::sync::protocol::SyncResponse;
use provide_core::sync::scope::Retention;
use provide_core::Store;

mod support;

const PASS: &str = "fictional passphrase 7";

fn since(conn: &rusqlite::Connection, id: &str) -> Option<String> {
    conn.query_row(
        "SELECT status_since FROM records WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .unwrap()
}

fn ms(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap()
        .timestamp_millis()
}

fn only_row(store: &mut Store) -> provide_core::store::CaseSummary {
    let mut rows = store.list_cases(&CaseFilter::default()).unwrap();
    assert_eq!(rows.len(), 1);
    rows.remove(0)
}

#[test]
fn a_handed_over_case_says_when_it_leaves_an_officer_s_device() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pc-1");
    let mut store = support::new_store(&dir, "officer1", Role::Officer, PASS);
    let id = store
        .create_case(
            Deployment::Live,
            &support::sets(&[("victim.name", "Ffion Fictional")]),
        )
        .unwrap();
    let row = only_row(&mut store);
    assert_eq!(row.status, "active");
    assert_eq!(row.leaves_device, None, "open work stays");
    let default = DevicePolicy {
        grace_hours: 72,
        heard_from_server: false,
    };
    assert_eq!(store.device_policy().unwrap(), default);

    let before = chrono::Utc::now().timestamp_millis();
    store
        .set_case_fields(&id, &support::sets(&[("status", "handed_over")]))
        .unwrap();
    let after = chrono::Utc::now().timestamp_millis();
    let left = only_row(&mut store)
        .leaves_device
        .expect("a handed-over case leaves");
    assert_eq!(left.policy, default, "the default before a server has said");
    assert!(!left.due);
    let hours72 = 72 * 3_600_000;
    // to the second (the time is shown to the minute)
    assert!((before / 1000 * 1000 + hours72..=after + hours72).contains(&ms(&left.at)));
    assert_eq!(
        store.show_case(&id).unwrap().leaves_device,
        Some(left.clone())
    );

    // an edit that leaves the status alone does not move the time
    store
        .set_case_fields(&id, &support::sets(&[("victim.phone", "07700 900123")]))
        .unwrap();
    assert_eq!(only_row(&mut store).leaves_device, Some(left.clone()));

    // the server's policy, once heard, counts from the same moment
    store
        .apply_sync_response(
            &[],
            &SyncResponse {
                cursor: 1,
                retention: Some(Retention { grace_hours: 0 }),
                ..Default::default()
            },
        )
        .unwrap();
    let policy = DevicePolicy {
        grace_hours: 0,
        heard_from_server: true,
    };
    assert_eq!(store.device_policy().unwrap(), policy);
    let now = only_row(&mut store).leaves_device.unwrap();
    assert_eq!(now.policy, policy);
    assert_eq!(ms(&now.at), ms(&left.at) - hours72);
    assert!(now.due, "grace 0: it leaves at the next sync");

    // set back to active: open work again
    store
        .set_case_fields(&id, &support::sets(&[("status", "active")]))
        .unwrap();
    assert_eq!(only_row(&mut store).leaves_device, None);
}

#[test]
fn the_safeguarding_unit_keeps_handed_over_cases_and_lets_closed_ones_go() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = support::new_store(&tmp.path().join("sg"), "sg1", Role::Safeguarding, PASS);
    let id = store.create_case(Deployment::Consultation, &[]).unwrap();
    store
        .set_case_fields(&id, &support::sets(&[("status", "handed_over")]))
        .unwrap();
    assert_eq!(only_row(&mut store).leaves_device, None);
    store
        .set_case_fields(&id, &support::sets(&[("status", "closed")]))
        .unwrap();
    assert!(only_row(&mut store).leaves_device.is_some());
}

#[test]
fn migration_3_gives_cases_on_an_older_store_the_time_of_the_upgrade() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pc-old");
    let mut store = support::new_store(&dir, "officer1", Role::Officer, PASS);
    let case = store.create_case(Deployment::Live, &[]).unwrap();
    store
        .set_case_fields(&case, &support::sets(&[("status", "closed")]))
        .unwrap();
    let shift = store
        .start_shift(&ShiftInput {
            pattern: Pattern::Early,
            call_sign: "Bravo 7".into(),
            partner: "idva1".into(),
            date: None,
        })
        .unwrap();
    drop(store);
    // made into a store of schema 2, as the release before this column wrote it
    let raw = support::open_raw(&dir, PASS);
    raw.execute_batch("ALTER TABLE records DROP COLUMN status_since; PRAGMA user_version = 2;")
        .unwrap();
    drop(raw);

    let upgraded_from = chrono::Utc::now().timestamp_millis();
    let mut store = Store::open(&dir, PASS, None).unwrap();
    let raw = support::open_raw(&dir, PASS);
    let version: u32 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        version,
        provide_core::store::migrations::latest(schema::MIGRATIONS)
    );
    let at = since(&raw, &case).expect("the case has a time");
    assert!(ms(&at) >= upgraded_from);
    assert_eq!(since(&raw, &shift), None, "only cases have one");
    drop(raw);
    // counted from the upgrade: the closed case stays its grace period from now (shown to
    // the second)
    let left = only_row(&mut store).leaves_device.unwrap();
    assert_eq!(ms(&left.at), ms(&at) / 1000 * 1000 + 72 * 3_600_000);
    assert!(!left.due);
}
