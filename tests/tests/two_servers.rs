//! Several server processes over one PostgreSQL database give the same results as one server
//! on SQLite: the same offline edits, synced concurrently through two `provide-sync-server`
//! processes (devices alternating between them, and uploading the same case at the same
//! moment), converge to the same records and conflicts as through one SQLite server: every
//! note kept, and the last round's three concurrent values left as the same conflict.
//!
//! Needs PostgreSQL: `make test` runs this suite a second time beside a throwaway cluster
//! (scripts/with-postgres.sh), which sets PROVIDE_TEST_DATABASE_URL.

use provide_core::model::Deployment;
use provide_core::sync::transport::HttpTransport;
use provide_tests::binaries::{self, Serving};
use provide_tests::{Device, TestServer};

fn serve(url: &str, dir: &std::path::Path) -> (Serving, String) {
    binaries::serve(&["--data-dir", dir.to_str().unwrap(), "--database-url", url])
}

/// The scenario: three devices, offline edits, concurrent syncs. Returns each case's record
/// and conflicts (paths and values) as every device sees them, which must agree.
fn scenario(servers: &[String], issue: &dyn Fn(&str, &str, &str) -> String) -> Vec<String> {
    let mut devices: Vec<Device> = [
        ("pc.una.fictional", "officer", "t1"),
        ("idva.val.fictional", "idva", "t1"),
        ("sg.wes.fictional", "safeguarding", ""),
    ]
    .iter()
    .enumerate()
    .map(|(i, (user, role, team))| {
        Device::enrol_at(&servers[i % servers.len()], None, &issue(user, role, team)).unwrap()
    })
    .collect();
    let mut cases = Vec::new();
    for n in 0..3 {
        let id = devices[0]
            .store
            .create_case(
                Deployment::PostIncident,
                // the officer's own team (only the safeguarding unit names another)
                &[("victim.name".into(), format!("Fictional Person {n}"))],
            )
            .unwrap();
        cases.push(id);
    }
    devices[0].sync().unwrap();
    for d in devices.iter_mut().skip(1) {
        d.sync().unwrap();
    }
    for round in 0..4 {
        for (i, d) in devices.iter_mut().enumerate() {
            for case in &cases {
                // a value never written before, so no write is a no-op whatever won last round
                let times = format!("round {round}, device {i}");
                d.store
                    .set_case_fields(case, &[("victim.safe_contact.safe_times".into(), times)])
                    .unwrap();
                d.store
                    .add_case_item(
                        case,
                        "notes",
                        &serde_json::json!({ "text": format!("round {round} device {i}") }),
                    )
                    .unwrap();
            }
        }
        // all three upload the same cases at the same moment, each through a different server
        std::thread::scope(|s| {
            for (i, d) in devices.iter_mut().enumerate() {
                let url = servers[(i + round) % servers.len()].clone();
                s.spawn(move || {
                    let mut t = HttpTransport::new(&url, None).unwrap();
                    d.sync_over(&mut t, &Default::default()).unwrap();
                });
            }
        });
        // then everyone catches up, so the next round's edits follow all of this round's
        // (which edits are concurrent is then the same whatever the timing above)
        for _ in 0..2 {
            for (i, d) in devices.iter_mut().enumerate() {
                let mut t = HttpTransport::new(&servers[(i + 1) % servers.len()], None).unwrap();
                d.sync_over(&mut t, &Default::default()).unwrap();
            }
        }
    }
    for _ in 0..2 {
        for (i, d) in devices.iter_mut().enumerate() {
            let mut t = HttpTransport::new(&servers[i % servers.len()], None).unwrap();
            d.sync_over(&mut t, &Default::default()).unwrap();
        }
    }
    let mut outcome = Vec::new();
    for case in &cases {
        let seen: Vec<String> = devices
            .iter_mut()
            .map(|d| {
                let v = d.store.show_case(case).unwrap();
                let mut notes: Vec<String> =
                    v.record.notes.iter().map(|n| n.text.clone()).collect();
                notes.sort();
                let mut conflicts: Vec<String> = v
                    .conflicts
                    .iter()
                    .map(|c| {
                        let mut vals: Vec<String> = c
                            .values
                            .iter()
                            .map(|x| format!("{}:{}", x.role, x.value))
                            .collect();
                        vals.sort();
                        format!("{}={}", c.path, vals.join("|"))
                    })
                    .collect();
                conflicts.sort();
                // the value shown for a conflicted field depends on the actor ids (random per
                // run), so it is compared between devices but not between the two runs
                let shown = v.record.victim.safe_contact.safe_times.clone();
                (
                    shown,
                    format!(
                        "{} notes={notes:?} conflicts={conflicts:?}",
                        v.record.victim.name
                    ),
                )
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(shown, rest)| format!("{rest} shown={shown}"))
            .collect();
        assert!(
            seen.windows(2).all(|w| w[0] == w[1]),
            "devices disagree: {seen:#?}"
        );
        let without_shown = seen[0].rsplit_once(" shown=").unwrap().0.to_string();
        for i in 0..3 {
            let value = format!("round 3, device {i}");
            assert!(without_shown.contains(&value), "{without_shown}");
        }
        outcome.push(without_shown);
    }
    outcome
}

#[test]
fn two_processes_over_postgres_agree_with_one_sqlite_server() {
    let Ok(base) = std::env::var("PROVIDE_TEST_DATABASE_URL") else {
        eprintln!("skipped here: runs in make test's PostgreSQL pass (PROVIDE_TEST_DATABASE_URL)");
        return;
    };
    // one server on its embedded SQLite store
    std::env::remove_var("PROVIDE_TEST_DATABASE_URL");
    let sqlite = TestServer::start();
    std::env::set_var("PROVIDE_TEST_DATABASE_URL", &base);
    assert!(sqlite.data.database_url.is_none());
    let expected = scenario(std::slice::from_ref(&sqlite.url), &|u, r, t| {
        sqlite.code(u, r, "west", t)
    });

    // two processes over one PostgreSQL database
    let shared = TestServer::start();
    let url = shared
        .data
        .database_url
        .clone()
        .expect("a PostgreSQL database");
    let dir = tempfile::tempdir().unwrap();
    let (_a, a) = serve(&url, dir.path());
    let (_b, b) = serve(&url, dir.path());
    let issue = |u: &str, r: &str, t: &str| shared.code(u, r, "west", t);
    let got = scenario(&[a, b], &issue);
    assert_eq!(got, expected);
}
