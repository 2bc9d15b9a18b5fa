//! TLS between the sync server and PostgreSQL (rustls): the throwaway cluster is switched to
//! TLS with a certificate made here by rcgen, and the server's store connects with
//! `sslmode=verify-full` / `require` and a CA file, refuses a certificate from another CA or
//! (under `verify-full`) for another name, and a `sslmode=require` URL against a database that
//! does not offer TLS fails with a clear error rather than falling back to plain text.
//!
//! Needs PostgreSQL: `make test` runs it in its PostgreSQL pass (scripts/with-postgres.sh).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use provide_sync_server::admin::{self, DataDir};
use provide_sync_server::service::{Config, Service};
use provide_sync_server::ServerError;
use provide_tests::binaries;
use provide_tests::server::fresh_database;

/// A CA and a server certificate for `localhost` only, signed by it, as PEM files in `dir`.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Provide database test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let write = |name: &str, text: &str, mode: u32| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    };
    let ca_file = write("ca.pem", &ca.pem(), 0o644);
    let cert_file = write("server.crt", &cert.pem(), 0o644);
    let key_file = write("server.key", &key.serialize_pem(), 0o600);
    if std::fs::metadata(&key_file).unwrap().uid() == 0 {
        // the cluster runs as nobody (scripts/with-postgres.sh): PostgreSQL accepts a key
        // owned by root and readable by its group
        std::os::unix::fs::chown(&key_file, Some(0), Some(65534)).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    (ca_file, cert_file, key_file)
}

/// Turns the cluster's TLS on (with these files) or off, and waits until it has.
fn set_ssl(base: &str, files: Option<(&Path, &Path)>) {
    let mut admin = postgres::Client::connect(base, postgres::NoTls).unwrap();
    // one statement at a time: ALTER SYSTEM refuses to run inside a transaction block
    let statements = match files {
        Some((cert, key)) => vec![
            format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert.display()),
            format!("ALTER SYSTEM SET ssl_key_file = '{}'", key.display()),
            "ALTER SYSTEM SET ssl = on".to_string(),
        ],
        None => vec!["ALTER SYSTEM SET ssl = off".to_string()],
    };
    for s in statements
        .iter()
        .map(String::as_str)
        .chain(["SELECT pg_reload_conf()"])
    {
        admin.batch_execute(s).unwrap();
    }
    let want = if files.is_some() { "on" } else { "off" };
    let start = Instant::now();
    loop {
        let mut c = postgres::Client::connect(base, postgres::NoTls).unwrap();
        let now: String = c.query_one("SHOW ssl", &[]).unwrap().get(0);
        if now == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the cluster did not turn ssl {want} (see its log)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn open(url: &str, ca: Option<&Path>) -> Result<Service, ServerError> {
    let dir = tempfile::tempdir().unwrap();
    let mut data = DataDir::new(dir.path());
    data.database_url = Some(url.to_string());
    data.database_ca_cert = ca.map(Path::to_path_buf);
    data.open(Config::default())
}

fn tls_error(r: Result<Service, ServerError>) -> String {
    match r {
        Err(ServerError::Tls(m)) => m,
        Err(other) => panic!("expected a TLS error, got {other}"),
        Ok(_) => panic!("expected a TLS error, but the store opened"),
    }
}

/// Connections to `db` that use TLS, as the database sees them.
fn tls_connections(base: &str, db: &str) -> i64 {
    let mut admin = postgres::Client::connect(base, postgres::NoTls).unwrap();
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND datname = $1",
            &[&db],
        )
        .unwrap()
        .get(0)
}

#[test]
fn the_store_reaches_postgresql_over_verified_tls_only() {
    let Ok(base) = std::env::var("PROVIDE_TEST_DATABASE_URL") else {
        eprintln!("skipped here: runs in make test's PostgreSQL pass (PROVIDE_TEST_DATABASE_URL)");
        return;
    };
    let db_url = fresh_database(&base);
    let db = db_url.rsplit('/').next().unwrap().to_string();
    let port = base
        .rsplit_once(':')
        .unwrap()
        .1
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let url = |host: &str, query: &str| format!("postgres://provide@{host}:{port}/{db}?{query}");

    // a database without TLS: `require` fails clearly, never falls back to plain text
    set_ssl(&base, None);
    let m = tls_error(open(&url("127.0.0.1", "sslmode=require"), None));
    assert!(m.contains("database") && m.contains("TLS"), "{m}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = certificates(other.path());
    set_ssl(&base, Some((&cert, &key)));

    // verify-full: the right CA and the name in the certificate
    let service = open(&url("localhost", "sslmode=verify-full"), Some(&ca)).unwrap();
    admin::enrol(&service, "pc.tls.fictional", "officer", "west", "t1", 1).unwrap();
    assert!(tls_connections(&base, &db) >= 1);
    drop(service);
    // the CA named in the URL instead
    let named = format!(
        "sslmode=verify-full&sslrootcert={}",
        ca.display().to_string().replace('/', "%2F")
    );
    open(&url("localhost", &named), None).unwrap();
    // verify-full refuses a certificate that does not name the host; require checks the chain
    let m = tls_error(open(&url("127.0.0.1", "sslmode=verify-full"), Some(&ca)));
    assert!(m.to_lowercase().contains("certificate"), "{m}");
    open(&url("127.0.0.1", "sslmode=require"), Some(&ca)).unwrap();
    // a certificate from a CA not trusted here is refused in every mode
    for mode in ["require", "verify-ca", "verify-full"] {
        let m = tls_error(open(
            &url("localhost", &format!("sslmode={mode}")),
            Some(&other_ca),
        ));
        assert!(m.to_lowercase().contains("certificate"), "{mode}: {m}");
    }

    // the real binary takes the same URL and CA file
    let out = Command::new(binaries::bin("provide-sync-server"))
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(["--database-url", &url("localhost", "sslmode=verify-full")])
        .args(["--database-ca-cert", ca.to_str().unwrap()])
        .args(["devices", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let devices: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(devices.as_array().unwrap().len(), 0);
    let out = Command::new(binaries::bin("provide-sync-server"))
        .args(["--data-dir", dir.path().to_str().unwrap()])
        .args(["--database-url", &url("localhost", "sslmode=verify-full")])
        .args(["--database-ca-cert", other_ca.to_str().unwrap()])
        .args(["devices"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLS"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    set_ssl(&base, None);
}
