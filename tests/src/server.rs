//! A real sync server for tests: its own data folder and key, listening on a loopback port,
//! plain HTTP or TLS with a throwaway certificate authority.

use std::path::{Path, PathBuf};

use provide_sync_server::admin::{self, DataDir};
use provide_sync_server::serve::{start, Listen, Running};
use provide_sync_server::service::{Config, Service};
use tempfile::TempDir;

pub struct TestServer {
    pub dir: TempDir,
    /// Where its data lives (to open it again, or beside it from another process).
    pub data: DataDir,
    pub service: Service,
    pub url: String,
    /// The CA certificate (PEM file) devices must trust, for a TLS server.
    pub ca_cert: Option<PathBuf>,
    running: Option<Running>,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(Config::default())
    }

    pub fn start_with(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = data_dir(dir.path());
        Self::serve(dir, data, config)
    }

    /// Serves data that already exists (a restored backup, an older release's data folder),
    /// over plain HTTP; `dir` is kept for as long as the server.
    pub fn serve(dir: TempDir, data: DataDir, config: Config) -> Self {
        let service = data.open(config).unwrap();
        let running = start(
            service.clone(),
            Listen {
                addr: "127.0.0.1:0".parse().unwrap(),
                tls: None,
            },
        )
        .unwrap();
        TestServer {
            url: format!("http://{}", running.addr),
            data,
            dir,
            service,
            ca_cert: None,
            running: Some(running),
        }
    }

    /// A server over TLS, with a certificate for `localhost` signed by a new CA.
    pub fn start_tls() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (ca_pem, cert_pem, key_pem) = certificates();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ca = write("ca.pem", &ca_pem);
        let cert = write("cert.pem", &cert_pem);
        let key = write("key.pem", &key_pem);
        let data = data_dir(&dir.path().join("data"));
        let service = data.open(Config::default()).unwrap();
        let running = start(
            service.clone(),
            Listen {
                addr: "127.0.0.1:0".parse().unwrap(),
                tls: Some((cert, key)),
            },
        )
        .unwrap();
        TestServer {
            url: format!("https://localhost:{}", running.addr.port()),
            data,
            dir,
            service,
            ca_cert: Some(ca),
            running: Some(running),
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.running.as_ref().unwrap().addr
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A one-time enrolment code.
    pub fn code(&self, user: &str, role: &str, division: &str, team: &str) -> String {
        admin::enrol(&self.service, user, role, division, team, 24)
            .unwrap()
            .to_string()
    }

    /// Every server audit entry about a record, oldest first.
    pub fn audit_of(&self, record: &str) -> Vec<provide_sync_server::storage::AuditRow> {
        self.service
            .storage
            .audit(&provide_sync_server::storage::AuditFilter {
                entries: provide_core::report::CheckedAuditQuery {
                    record: Some(record.to_string()),
                    ..Default::default()
                },
                division: None,
                newest_first: false,
            })
            .unwrap()
    }

    /// Serves again after `stop`, at the same address (devices keep the URL they enrolled
    /// with). Plain HTTP servers only.
    pub fn restart(&mut self) {
        let addr = self
            .url
            .strip_prefix("http://")
            .expect("a plain HTTP test server")
            .parse()
            .unwrap();
        self.running = Some(start(self.service.clone(), Listen { addr, tls: None }).unwrap());
    }

    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
    }
}

/// The server's data: the embedded store in `dir`, or, when `PROVIDE_TEST_DATABASE_URL` names
/// a PostgreSQL server, a new database of its own there (so the same suite runs on both).
pub fn data_dir(dir: &Path) -> DataDir {
    let mut data = DataDir::new(dir);
    if let Ok(base) = std::env::var("PROVIDE_TEST_DATABASE_URL") {
        data.database_url = Some(fresh_database(&base));
    }
    data
}

/// Creates an empty database on the PostgreSQL server at `base`; returns its URL.
pub fn fresh_database(base: &str) -> String {
    let name = format!("provide_test_{}", rand::random::<u64>());
    let mut admin = postgres::Client::connect(base, postgres::NoTls)
        .expect("the test PostgreSQL server is reachable");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (head, _) = base
        .rsplit_once('/')
        .expect("a database URL ends in /dbname");
    format!("{head}/{name}")
}

/// A CA, and a server certificate for localhost and 127.0.0.1 signed by it, as PEM.
pub fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Provide test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// The newest installed PostgreSQL's programs (`pg_dump`, `pg_restore`).
pub fn pg_bin() -> PathBuf {
    let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/install-deps.sh)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_dump").exists())
        .collect();
    bins.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    bins.pop().expect("pg_dump is installed")
}
