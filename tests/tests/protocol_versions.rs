//! A fleet that upgrades gradually: the server speaks the current protocol version and the
//! previous one, so a car that has not upgraded keeps syncing, and its records converge with
//! devices on the current version; a device on a version the server no longer speaks is told
//! the app must be updated (not that it is offline), keeps everything, and syncs once it is.
//! Every answer names the versions the server speaks. Runs on both server backends.

use provide_core::model::Deployment;
use provide_core::sync::protocol::{self, SyncRequest, OLDEST_VERSION, VERSION};
use provide_core::sync::transport::CONTENT_TYPE;
use provide_core::sync::SyncOptions;
use provide_tests::{Device, TestServer};

fn sets(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn speaking(version: u16) -> SyncOptions {
    SyncOptions {
        protocol: version,
        ..SyncOptions::default()
    }
}

fn sync_as(device: &mut Device, server: &TestServer, version: u16) -> provide_core::Result<()> {
    let mut t = provide_core::sync::transport::HttpTransport::new(&server.url, None)?;
    device.sync_over(&mut t, &speaking(version)).map(|_| ())
}

#[test]
fn a_device_on_the_previous_version_keeps_syncing_and_converges_with_current_ones() {
    const { assert!(OLDEST_VERSION < VERSION, "the server speaks two versions") };
    let server = TestServer::start();
    let mut old = Device::enrol(&server, "pc.old.fictional", "officer", "west", "t1");
    let mut new = Device::enrol(&server, "idva.new.fictional", "idva", "west", "t1");
    let mut unit = Device::enrol(&server, "sg.new.fictional", "safeguarding", "west", "");
    // the previous version (the oldest still spoken has its own check below)
    let prev = VERSION - 1;

    let case = old
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[
                ("victim.name", "Nia Fictional"),
                ("incident.reference", "PV-0001-FICT"),
            ]),
        )
        .unwrap();
    sync_as(&mut old, &server, prev).unwrap();
    new.sync().unwrap();
    unit.sync().unwrap();
    // both edit the same field offline, and each adds a note
    old.store
        .set_case_fields(&case, &sets(&[("status", "handed_over")]))
        .unwrap();
    new.store
        .set_case_fields(&case, &sets(&[("status", "closed")]))
        .unwrap();
    old.store
        .add_case_item(
            &case,
            "notes",
            &serde_json::json!({"text": "from the old app"}),
        )
        .unwrap();
    new.store
        .add_case_item(
            &case,
            "notes",
            &serde_json::json!({"text": "from the new app"}),
        )
        .unwrap();
    // a case the new app makes reaches the old one too
    let second = new
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[("victim.name", "Ffion Fictional")]),
        )
        .unwrap();
    sync_as(&mut old, &server, prev).unwrap();
    new.sync().unwrap();
    sync_as(&mut old, &server, prev).unwrap();
    unit.sync().unwrap();
    for id in [&case, &second] {
        let heads = new.store.record_heads(id).unwrap();
        assert_eq!(
            old.store.record_heads(id).unwrap(),
            heads,
            "{id}: old and new converged"
        );
        assert_eq!(
            unit.store.record_heads(id).unwrap(),
            heads,
            "{id}: the unit too"
        );
    }
    let on_old = old.store.show_case(&case).unwrap();
    assert_eq!(
        on_old.conflicts.len(),
        1,
        "the status conflict shows on the old app"
    );
    let text = serde_json::to_value(&on_old.record).unwrap().to_string();
    assert!(text.contains("from the old app") && text.contains("from the new app"));
    assert_eq!(old.store.unsynced_count().unwrap(), 0);
}

#[test]
fn the_server_answers_each_device_in_its_own_version_and_names_the_versions_it_speaks() {
    let server = TestServer::start();
    let device = Device::enrol(&server, "pc.raw.fictional", "officer", "west", "t1");
    let credential = device.store.server_link().unwrap().credential.to_string();
    let client = reqwest::blocking::Client::new();
    let spoken = format!("{OLDEST_VERSION}-{VERSION}");
    for (seq, version) in (OLDEST_VERSION..=VERSION).enumerate() {
        let seq = seq as u64 + 1;
        let req = SyncRequest {
            request_seq: 1_000 + seq,
            ..Default::default()
        };
        let resp = client
            .post(format!("{}/v1/sync", server.url))
            .bearer_auth(&credential)
            .header("content-type", CONTENT_TYPE)
            .body(req.encode_as(version))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[protocol::VERSIONS_HEADER], spoken.as_str());
        let body = resp.bytes().unwrap();
        assert_eq!(
            protocol::version_of(&body),
            Some(version),
            "answered in its own version"
        );
        // version 6 added the division's retention policy; older versions read without it
        let answer = protocol::SyncResponse::decode(&body).unwrap();
        assert_eq!(answer.retention.is_some(), version >= 6, "version {version}");
    }
    // refusals and unknown routes say it too
    for resp in [
        client
            .get(format!("{}/v1/health", server.url))
            .send()
            .unwrap(),
        client
            .get(format!("{}/v1/nowhere", server.url))
            .send()
            .unwrap(),
        client
            .post(format!("{}/v1/sync", server.url))
            .bearer_auth("not-a-credential")
            .body(vec![1, 2, 3])
            .send()
            .unwrap(),
    ] {
        assert_eq!(resp.headers()[protocol::VERSIONS_HEADER], spoken.as_str());
    }
}

#[test]
fn a_device_the_server_no_longer_speaks_to_is_told_to_update_and_keeps_its_data() {
    let server = TestServer::start();
    let mut stale = Device::enrol(&server, "pc.stale.fictional", "officer", "west", "t1");
    let mut other = Device::enrol(&server, "pc.other.fictional", "officer", "west", "t1");
    let case = stale
        .store
        .create_case(
            Deployment::PostIncident,
            &sets(&[("victim.name", "Gwen Fictional")]),
        )
        .unwrap();
    let too_old = OLDEST_VERSION - 1;
    let err = sync_as(&mut stale, &server, too_old).unwrap_err();
    assert_eq!(err.code(), "update_required", "{err}");
    let words = err.to_string();
    assert!(
        words.contains("must be updated") && words.contains("kept"),
        "{words}"
    );
    assert!(!words.contains("cannot be reached"), "{words}");
    // nothing lost, nothing marked sent
    assert_eq!(stale.store.unsynced_count().unwrap(), 1);
    assert!(stale.store.show_case(&case).is_ok());
    other.sync().unwrap();
    assert!(
        other.store.show_case(&case).is_err(),
        "nothing reached the server"
    );
    // once updated, it syncs and its case arrives
    stale.sync().unwrap();
    assert_eq!(stale.store.unsynced_count().unwrap(), 0);
    other.sync().unwrap();
    assert!(other.store.show_case(&case).is_ok());
    // a device ahead of the server is told the server is the one to update
    let err = sync_as(&mut stale, &server, VERSION + 1).unwrap_err();
    assert_eq!(err.code(), "server_outdated", "{err}");
    assert!(err.to_string().contains("administrator"), "{err}");
}
