//! The server nemesis: 22 real devices in two teams (officers and IDVAs sharing their team's
//! cases) edit the same cases concurrently, some of them offline for a while, and sync through
//! real `provide-sync-server` processes while those are killed with SIGKILL at random moments
//! and started again on the same port and data. On PostgreSQL two processes serve one
//! database (the devices split between them), one of them is killed at a time, and PostgreSQL
//! itself is stopped in immediate mode and started again mid-load while both keep running:
//! they must find the database again by themselves. In the end every device converges, no
//! note is lost (acknowledged or not), the server's audit log verifies, and every failed sync
//! the devices saw (server gone, connection cut, 5xx) left their unsent changes pending.
//!
//! The SQLite form runs in `make test`'s SQLite pass, the PostgreSQL form in its PostgreSQL
//! pass (scripts/with-postgres.sh sets PROVIDE_TEST_DATABASE_URL and the stop and start
//! scripts). Length, kills, devices and seed come from the environment (`nemesis::Settings`).

use provide_tests::nemesis::{self, PostgresControl, ServerProcess, Settings};
use provide_tests::server::fresh_database;

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

#[test]
fn nothing_is_lost_while_the_sqlite_server_is_killed_at_random() {
    if std::env::var_os("PROVIDE_TEST_DATABASE_URL").is_some() {
        eprintln!("skipped here: the SQLite form runs in make test's SQLite pass");
        return;
    }
    let dir = nemesis::work_dir();
    let data = dir.path().join("data");
    let admin = strings(&["--data-dir", data.to_str().unwrap()]);
    let mut servers = vec![ServerProcess::start(
        "the server",
        &admin,
        &dir.path().join("server.log"),
    )];
    nemesis::run("sqlite", Settings::from_env(), &mut servers, &admin, None);
}

#[test]
fn nothing_is_lost_while_postgres_and_one_of_two_servers_go_down() {
    let Ok(base) = std::env::var("PROVIDE_TEST_DATABASE_URL") else {
        eprintln!("skipped: PROVIDE_TEST_DATABASE_URL is not set (scripts/with-postgres.sh)");
        return;
    };
    let postgres = PostgresControl::from_env()
        .expect("scripts/with-postgres.sh sets PROVIDE_TEST_PG_STOP and PROVIDE_TEST_PG_START");
    let url = fresh_database(&base);
    let dir = nemesis::work_dir();
    // both processes share the data folder (the device CA's and the report keys)
    let data = dir.path().join("data");
    let admin = strings(&["--data-dir", data.to_str().unwrap(), "--database-url", &url]);
    let mut servers: Vec<ServerProcess> = ["server A", "server B"]
        .iter()
        .map(|name| {
            let log = dir.path().join(format!("{}.log", name.replace(' ', "-")));
            ServerProcess::start(name, &admin, &log)
        })
        .collect();
    nemesis::run(
        "postgres",
        Settings::from_env(),
        &mut servers,
        &admin,
        Some(&postgres),
    );
}
