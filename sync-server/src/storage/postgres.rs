//! The PostgreSQL backend, for a force that runs several sync-server processes over one
//! database. Same tables as the SQLite backend; the guarantees of the `Storage` trait come
//! from PostgreSQL itself:
//! - a document's read-decide-write holds a transaction-scoped advisory lock on its id, so
//!   concurrent updates of one document (from any process) run one after another, including
//!   two creations of the same new document;
//! - change numbers come from one counter row, incremented as the last statement before each
//!   commit: its row lock orders commits, so every number up to the committed counter value
//!   belongs to a committed transaction and a cursor can never skip one;
//! - request numbers are claimed by one conditional UPDATE.
//!
//! Connections come from an `r2d2` pool (`Connector` makes them; a caller waits at most
//! `POOL_WAIT` for one, then gets a storage error, never an endless queue); each keeps the
//! statements it has prepared (`pg_conn`), so a statement is one round trip to the database.
//! A sync's work is as few statements as it can be: a document read with its chunks and
//! whether it was erased in one, its counter and row written in one, a page of changes with
//! its bound in one, every delivery (and every audit entry) of an answer in one, a device's
//! deliveries confirmed in one; actors' owners, which never change, are read once. Migrations
//! run once, under an advisory lock. TLS to the database follows the URL's `sslmode` (see
//! `pg_tls`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ::postgres::{Client, NoTls, Row};
use automerge::ChangeHash;
use provide_core::audit::server::{Anchor, ServerEntry};
use provide_core::audit::Entry;
use provide_core::model::{RecordKind, Role};
use provide_core::record::heads::{heads_text, parse_heads};
use provide_core::report::{Attendance, Sighting, PROJECTION_VERSION};

use super::pg_conn::{Conn, Sql};
use super::pg_tls::{self, Mode};
use super::record_keys::{is_sealed, key_name, PgKeyStore, RecordKeys, SEALED_MAGIC, SEALED_MARK};
use super::*;
use crate::error::{Result, ServerError};

/// One step of the database's schema; applied steps are listed in `schema_migrations`.
struct PgMigration {
    version: i32,
    about: &'static str,
    sql: &'static str,
    /// A step SQL alone should not do, run after `sql` in the same transaction.
    then: Option<fn(&mut ::postgres::Transaction) -> Result<()>>,
}

/// The database's migrations, in order, applied by `migrate`. Append only (never edit or
/// reorder a released one); each comes with a fixture of the release before it.
const MIGRATIONS: &[PgMigration] = &[
    PgMigration {
        version: 1,
        about: "the 0.1 tables",
        sql: RELEASE_0_1,
        then: None,
    },
    PgMigration {
        version: 2,
        about: "published reference data: forms and the directory",
        sql: "CREATE TABLE IF NOT EXISTS reference_data (kind TEXT NOT NULL, id TEXT NOT NULL,
              version BIGINT NOT NULL, body TEXT NOT NULL, published_at TEXT NOT NULL,
              PRIMARY KEY (kind, id, version))",
        then: None,
    },
    PgMigration {
        version: 3,
        about: "devices to resynchronise after a restore",
        sql: "CREATE TABLE IF NOT EXISTS resync (device_id TEXT PRIMARY KEY);",
        then: None,
    },
    PgMigration {
        version: 4,
        about: "the audit log hash-chained",
        // numbers are given under the appenders' lock from now on (`insert_audit`): no default
        // lets a write skip the chain
        sql: "ALTER TABLE audit ADD COLUMN IF NOT EXISTS prev_hash TEXT NOT NULL DEFAULT '';
              ALTER TABLE audit ADD COLUMN IF NOT EXISTS hash TEXT NOT NULL DEFAULT '';
              ALTER TABLE audit ALTER COLUMN seq DROP DEFAULT;",
        then: Some(chain_audit),
    },
    PgMigration {
        version: 5,
        about: "where each case stands (status and since when), division retention policies",
        // filled from the reporting rows with the time of the upgrade: the grace period of a
        // case already handed over or closed starts then
        sql: "ALTER TABLE docs ADD COLUMN IF NOT EXISTS status TEXT;
              ALTER TABLE docs ADD COLUMN IF NOT EXISTS status_since_ms BIGINT;
              UPDATE docs SET status = a.status,
                  status_since_ms = (extract(epoch FROM now()) * 1000)::bigint
                  FROM attendance a WHERE a.case_id = docs.id AND docs.kind = 'case'
                  AND docs.status IS NULL;
              UPDATE docs SET status = c.status, status_since_ms = c.status_since_ms
                  FROM docs c WHERE docs.kind = 'health' AND docs.status IS NULL
                  AND c.id = left(docs.id, length(docs.id) - 7) AND c.kind = 'case';
              CREATE INDEX IF NOT EXISTS docs_by_standing ON docs (status, status_since_ms);
              CREATE TABLE IF NOT EXISTS retention (division TEXT PRIMARY KEY,
                  handover_grace_hours INTEGER NOT NULL, set_at TEXT NOT NULL);",
        then: None,
    },
    PgMigration {
        version: 6,
        about: "closed cases found by keyed digests; fetches on request",
        // the digests are filled for every case when the store opens (the reporting
        // projection's version went up)
        sql: "CREATE TABLE IF NOT EXISTS case_keys (digest TEXT NOT NULL, case_id TEXT NOT NULL,
                  PRIMARY KEY (digest, case_id));
              CREATE INDEX IF NOT EXISTS case_keys_by_case ON case_keys (case_id);
              ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS fetched_ms BIGINT;
              ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS purged INTEGER NOT NULL DEFAULT 0;
              CREATE TABLE IF NOT EXISTS fetch_quota (user_name TEXT NOT NULL, at_ms BIGINT NOT NULL);
              CREATE INDEX IF NOT EXISTS fetch_quota_by_user ON fetch_quota (user_name, at_ms);",
        then: None,
    },
    PgMigration {
        version: 7,
        about: "retention review: divisions' review periods and review decisions",
        // decisions are kept after the record is erased: what was decided, by whom, and why
        sql: "CREATE TABLE IF NOT EXISTS review_periods (division TEXT NOT NULL,
                  class TEXT NOT NULL, review_after_months INTEGER NOT NULL,
                  set_at TEXT NOT NULL, PRIMARY KEY (division, class));
              CREATE TABLE IF NOT EXISTS review_decisions (id BIGSERIAL PRIMARY KEY,
                  record_id TEXT NOT NULL, kind TEXT NOT NULL, class TEXT NOT NULL,
                  decision TEXT NOT NULL, retain_until TEXT, reason TEXT NOT NULL,
                  decided_by TEXT NOT NULL, device_id TEXT NOT NULL, decided_at TEXT NOT NULL,
                  decided_ms BIGINT NOT NULL);
              CREATE INDEX IF NOT EXISTS review_decisions_by_record
                  ON review_decisions (record_id, decided_ms);",
        then: None,
    },
    PgMigration {
        version: 8,
        about: "erased records (tombstones, devices to confirm their purge); rectified ones (epochs, struck values)",
        sql: "CREATE TABLE IF NOT EXISTS erasures (doc_id TEXT PRIMARY KEY, kind TEXT NOT NULL,
                  erased_at TEXT NOT NULL, erased_by TEXT NOT NULL);
              CREATE TABLE IF NOT EXISTS erasure_holders (doc_id TEXT NOT NULL,
                  device_id TEXT NOT NULL, confirmed_at TEXT, PRIMARY KEY (doc_id, device_id));
              CREATE INDEX IF NOT EXISTS erasure_holders_pending ON erasure_holders (device_id)
                  WHERE confirmed_at IS NULL;
              ALTER TABLE docs ADD COLUMN IF NOT EXISTS epoch INTEGER NOT NULL DEFAULT 0;
              CREATE TABLE IF NOT EXISTS rectifications (doc_id TEXT NOT NULL, epoch INTEGER NOT NULL,
                  path TEXT NOT NULL, digest TEXT NOT NULL, actor TEXT NOT NULL,
                  by_user TEXT NOT NULL, role TEXT NOT NULL, at TEXT NOT NULL,
                  PRIMARY KEY (doc_id, epoch, path, digest));
              CREATE INDEX IF NOT EXISTS rectifications_by_actor ON rectifications (actor);
              CREATE INDEX IF NOT EXISTS deliveries_by_doc ON deliveries (doc_id);
              CREATE INDEX IF NOT EXISTS held_for_review_by_record ON held_for_review (record_id);",
        then: None,
    },
];

/// Migration 4: chains the audit entries already there, in order of their numbers (gaps left
/// by rolled-back inserts stay: see provide-core's `audit::server`), so the log from before
/// the upgrade is the start of the chain.
fn chain_audit(tx: &mut ::postgres::Transaction) -> Result<()> {
    let mut prev = Anchor::empty();
    loop {
        let page = audit_page(tx, prev.seq, 1000)?;
        if page.is_empty() {
            return Ok(());
        }
        let update = tx.prepare("UPDATE audit SET prev_hash = $1, hash = $2 WHERE seq = $3")?;
        for mut e in page {
            e.relink(&prev.hash);
            tx.execute(&update, &[&e.prev_hash, &e.hash, &e.seq])?;
            prev = e.anchor();
        }
    }
}

/// Up to `limit` audit entries after number `after`, oldest first, with their chain columns.
fn audit_page(c: &mut impl Sql, after: i64, limit: i64) -> Result<Vec<ServerEntry>> {
    Ok(c.query(
        "SELECT seq, at, device, user_name, action, record, detail, prev_hash, hash FROM audit
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&after, &limit],
    )?
    .iter()
    .map(|r| ServerEntry {
        seq: r.get(0),
        at: r.get(1),
        device: r.get(2),
        user: r.get(3),
        action: r.get(4),
        record: r.get(5),
        detail: r.get(6),
        prev_hash: r.get(7),
        hash: r.get(8),
    })
    .collect())
}

/// The audit log's last entry (`None`: the log is empty).
fn audit_head_in(c: &mut impl Sql) -> Result<Option<Anchor>> {
    Ok(
        c.query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?
            .map(|r| Anchor {
                seq: r.get(0),
                hash: r.get(1),
            }),
    )
}

/// The advisory lock key that serialises audit appenders, across every process.
const AUDIT_LOCK: i64 = 0x0050_524f_5649_4441;

/// The 0.1 schema (every statement `IF NOT EXISTS`: a database made before migrations, by
/// any 0.1 build, is made whole).
const RELEASE_0_1: &str = "
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO counters (name, value) VALUES ('change_seq', 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS enrolments (
    code_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, role TEXT NOT NULL,
    division TEXT NOT NULL, team TEXT NOT NULL, expires_at_ms BIGINT NOT NULL, used_by TEXT);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, user_name TEXT NOT NULL, role TEXT NOT NULL, division TEXT NOT NULL,
    team TEXT NOT NULL, actor TEXT NOT NULL UNIQUE, credential_hash TEXT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE, enrolled_at TEXT NOT NULL, last_seen TEXT,
    last_request_seq BIGINT NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS devices_by_user ON devices (user_name);
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, division TEXT NOT NULL, team TEXT NOT NULL,
    heads TEXT NOT NULL, seq BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS docs_by_division_seq ON docs (division, seq);
CREATE INDEX IF NOT EXISTS docs_by_seq ON docs (seq);
CREATE INDEX IF NOT EXISTS docs_by_team_seq ON docs (division, team, seq);
CREATE TABLE IF NOT EXISTS doc_chunks (
    doc_id TEXT NOT NULL, n BIGINT NOT NULL, bytes BYTEA NOT NULL, PRIMARY KEY (doc_id, n));
CREATE TABLE IF NOT EXISTS deliveries (
    device_id TEXT NOT NULL, doc_id TEXT NOT NULL, heads TEXT NOT NULL, pending_heads TEXT,
    pending_cursor BIGINT, purge_cursor BIGINT, PRIMARY KEY (device_id, doc_id));
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (device_id, pending_cursor);
CREATE TABLE IF NOT EXISTS audit (
    seq BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, device TEXT NOT NULL, user_name TEXT NOT NULL,
    action TEXT NOT NULL, record TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_record ON audit (record);
CREATE TABLE IF NOT EXISTS device_audit (
    device_id TEXT NOT NULL, seq BIGINT NOT NULL, at TEXT NOT NULL, user_name TEXT NOT NULL,
    role TEXT NOT NULL, action TEXT NOT NULL, record TEXT NOT NULL, detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (device_id, seq));
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS final_uploads (device_id TEXT PRIMARY KEY, opened_at_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS held_for_review (
    n BIGSERIAL PRIMARY KEY, device_id TEXT NOT NULL, record_id TEXT NOT NULL,
    kind TEXT NOT NULL, changes BYTEA NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attendance (
    case_id TEXT PRIMARY KEY, version BIGINT NOT NULL, division TEXT NOT NULL,
    status TEXT NOT NULL, incident_date TEXT, victim_digest TEXT, facts TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS attendance_by_division_date ON attendance (division, incident_date);
CREATE INDEX IF NOT EXISTS attendance_by_victim
    ON attendance (victim_digest, incident_date, division, status, case_id);
CREATE TABLE IF NOT EXISTS device_users (
    device_id TEXT NOT NULL REFERENCES devices (id), user_name TEXT NOT NULL,
    role TEXT NOT NULL, division TEXT NOT NULL, team TEXT NOT NULL,
    actor TEXT NOT NULL UNIQUE, added_at TEXT NOT NULL, PRIMARY KEY (device_id, user_name));
CREATE INDEX IF NOT EXISTS device_users_by_user ON device_users (user_name);
";

/// The advisory lock key that lets one process at a time backfill reporting rows.
const BACKFILL_LOCK: i64 = 0x0050_524f_5649_4446;

/// The advisory lock key that serialises registering actors (enrolments, users added to a
/// device), so an actor id is checked and registered as one step across processes.
const REGISTRATION_LOCK: i64 = 0x0050_524f_5649_4452;

/// A case's reporting row upserted and its lookup digests made exactly `$8` (the digests
/// deleted are never among those inserted, so the parts do not meet).
const PUT_ATTENDANCE: &str = "WITH upsert AS (INSERT INTO attendance
    (case_id, version, division, status, incident_date, victim_digest, facts)
    VALUES ($1,$2,$3,$4,$5,$6,$7)
    ON CONFLICT (case_id) DO UPDATE SET version = excluded.version,
    division = excluded.division, status = excluded.status,
    incident_date = excluded.incident_date, victim_digest = excluded.victim_digest,
    facts = excluded.facts),
  gone AS (DELETE FROM case_keys WHERE case_id = $1 AND digest <> ALL($8::text[]))
    INSERT INTO case_keys (digest, case_id) SELECT DISTINCT unnest($8::text[]), $1::text
    ON CONFLICT DO NOTHING";

/// The division condition on `$1`: a plain comparison, so the planner can use the indexes.
fn division_clause(division: Option<&str>) -> &'static str {
    if division.is_some() {
        "division = $1"
    } else {
        "$1::TEXT IS NULL"
    }
}

/// Writes a case's reporting row and its lookup digests, in one statement (the row upserted,
/// digests it no longer has deleted, new ones added).
fn put_attendance(c: &mut impl Sql, a: &Attendance) -> Result<()> {
    c.execute(
        PUT_ATTENDANCE,
        &[
            &a.case_id,
            &PROJECTION_VERSION,
            &a.division,
            &a.status.as_str(),
            &a.incident_date,
            &a.victim_digest,
            &facts_json(a)?,
            &a.lookup,
        ],
    )?;
    Ok(())
}

/// The advisory lock key that serialises migrations.
const MIGRATION_LOCK: i64 = 0x0050_524f_5649_4445;

/// Brings the database up to the last of `MIGRATIONS`, in the caller's transaction, under an
/// advisory lock: of several processes starting at once, the first migrates and the others
/// wait for it, then find nothing to do. A database a newer release has migrated is refused
/// before anything reads it.
fn migrate(tx: &mut ::postgres::Transaction) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,
         about TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let from: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    let supported = MIGRATIONS.last().map_or(0, |m| m.version);
    if from > supported {
        return Err(ServerError::StoreTooNew(
            provide_core::Error::StoreTooNew {
                store: "sync server database".into(),
                found: from as u32,
                supported: supported as u32,
            }
            .to_string(),
        ));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > from) {
        tx.batch_execute(m.sql).map_err(|e| {
            ServerError::Storage(format!("migration {} ({}) failed: {e}", m.version, m.about))
        })?;
        if let Some(then) = m.then {
            then(tx).map_err(|e| {
                ServerError::Storage(format!("migration {} ({}) failed: {e}", m.version, m.about))
            })?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, about) VALUES ($1, $2)",
            &[&m.version, &m.about],
        )?;
    }
    Ok(())
}

/// The longest a request waits for a free database connection.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// Makes (and checks) the pool's connections: the URL's settings and its TLS.
pub struct Connector {
    config: ::postgres::Config,
    tls: Option<pg_tls::RustlsMake>,
}

impl Connector {
    /// The connections `url` names (a `postgres://` URL, with `sslmode` and `sslrootcert` as
    /// libpq reads them); `ca_file` (PEM) is the CA to trust for TLS when the URL names none.
    pub fn from_url(url: &str, ca_file: Option<&std::path::Path>) -> Result<Self> {
        let parsed = pg_tls::parse(url)?;
        let mut config: ::postgres::Config =
            parsed.url.parse().map_err(|e: ::postgres::Error| {
                ServerError::InvalidInput(format!("the database URL is not valid ({e})"))
            })?;
        // a connection the network dropped silently (a firewall forgetting it, a failover
        // moving the address) is given up on in seconds, not after TCP's quarter of an hour of
        // retries: a request, and checking the pool's connections after a loss
        // (`lend`), never waits that long on one; the URL's own settings win
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(20));
        }
        if config.get_keepalives_interval().is_none() {
            config
                .keepalives(true)
                .keepalives_idle(Duration::from_secs(30))
                .keepalives_interval(Duration::from_secs(10))
                .keepalives_retries(3);
        }
        config.ssl_mode(match parsed.mode {
            Mode::Disable => ::postgres::config::SslMode::Disable,
            Mode::Prefer => ::postgres::config::SslMode::Prefer,
            Mode::VerifyCa | Mode::VerifyFull => ::postgres::config::SslMode::Require,
        });
        let tls = match parsed.mode {
            Mode::Disable => None,
            mode => {
                let ca = parsed
                    .root_cert
                    .as_deref()
                    .map(std::path::Path::new)
                    .or(ca_file);
                Some(pg_tls::RustlsMake(std::sync::Arc::new(
                    pg_tls::client_config(mode, ca)?,
                )))
            }
        };
        Ok(Connector { config, tls })
    }

    pub(crate) fn connect(&self) -> Result<Client> {
        let connected = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        };
        connected.map_err(|e| {
            // the driver's text, and its causes (the TLS layer's reason is only in a cause)
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                let more = c.to_string();
                if !text.contains(&more) {
                    text = format!("{text}: {more}");
                }
                cause = c.source();
            }
            if self.tls.is_some() && text.to_lowercase().contains("tls") {
                ServerError::Tls(format!(
                    "the connection to the database could not be secured ({text})"
                ))
            } else {
                e.into()
            }
        })
    }
}

impl r2d2::ManageConnection for Connector {
    type Connection = Conn;
    type Error = ServerError;

    fn connect(&self) -> Result<Conn> {
        let lost = CONNECTIONS_LOST.load(std::sync::atomic::Ordering::Relaxed);
        Connector::connect(self).map(|c| Conn::new(c, lost))
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<()> {
        conn.client.simple_query("")?;
        Ok(())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || conn.client.is_closed()
    }
}

/// The pool's connection failures go to the server's log (they name no record or person).
#[derive(Debug)]
struct LogPoolErrors;

impl r2d2::HandleError<ServerError> for LogPoolErrors {
    fn handle_error(&self, error: ServerError) {
        tracing::warn!(error = %error, "a database connection failed");
    }
}

pub(super) type Pooled = r2d2::PooledConnection<Connector>;

/// A connection from `pool` (the data's or the record keys'). One last used before a
/// connection was found lost (the database restarted, or the network failed) is checked first
/// with an empty query; a dead one is dropped from the pool and another taken. Connections
/// used since the last loss are lent as they are, with no round trip. `unavailable` says what
/// could not be had when the pool has nothing to lend in time.
pub(super) fn lend(pool: &r2d2::Pool<Connector>, unavailable: &str) -> Result<Pooled> {
    let lost = CONNECTIONS_LOST.load(std::sync::atomic::Ordering::Relaxed);
    // every connection of the pool, and one more (a fresh one), at most
    for _ in 0..=pool.max_size() {
        let mut c = pool
            .get()
            .map_err(|e| ServerError::Storage(format!("{unavailable} ({e})")))?;
        if c.checked_at_loss >= lost {
            return Ok(c);
        }
        if c.client.simple_query("").is_ok() {
            c.checked_at_loss = lost;
            return Ok(c);
        }
        // closed now: `has_broken` keeps it out of the pool when it is dropped
        c.broken = true;
    }
    Err(ServerError::Storage(format!(
        "{unavailable} (every connection was found closed)"
    )))
}

pub struct PostgresStorage {
    /// `None` only while being dropped.
    pool: Option<r2d2::Pool<Connector>>,
    identity_key: IdentityKey,
    /// Seals and opens records' bytes under their own keys, kept in `record_keys`.
    keys: RecordKeys,
    /// Actors' owners already read: a registration never changes once made (`actor_owner`
    /// answers several times a sync); only those found are kept.
    /// Kept with the count of lost connections they were read under (`CONNECTIONS_LOST`).
    owners: std::sync::Mutex<(u64, HashMap<String, ActorOwner>)>,
}

/// At most this many actors' owners are kept in memory (then `owners` starts again).
const OWNERS_MAX: usize = 65_536;

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        // a synchronous client closes its connection on its own runtime, which must not happen
        // on a thread inside another runtime (the server's, when it shuts down)
        let pool = self.pool.take();
        let _ = std::thread::spawn(move || drop(pool)).join();
    }
}

/// How many times a database connection was found lost (closed, or its socket failed) in this
/// process: a connection last used before the latest loss is checked before it is lent again
/// (`PostgresStorage::client`). After PostgreSQL restarts, the one request that finds its
/// connection dead fails, and the other connections idle in the pool from before the restart
/// are replaced instead of each failing a request of its own.
static CONNECTIONS_LOST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether `e` says the connection itself is gone (rather than a statement failed): closed,
/// its socket failed, or the database ended it (SQLSTATE class 08, connection exception, or
/// 57P, a shutdown or a terminated backend).
fn connection_lost(e: &::postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || code.starts_with("57P")
        }
        None => {
            e.is_closed() || std::error::Error::source(e).is_some_and(|c| c.is::<std::io::Error>())
        }
    }
}

impl From<::postgres::Error> for ServerError {
    fn from(e: ::postgres::Error) -> Self {
        if connection_lost(&e) {
            CONNECTIONS_LOST.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        // the database's own reason (its SQLSTATE and primary message, which name tables,
        // columns and constraints), never its DETAIL, which can quote a row's values
        match e.as_db_error() {
            Some(db) => {
                ServerError::Storage(format!("{} ({}): {}", e, db.code().code(), db.message()))
            }
            None => ServerError::Storage(e.to_string()),
        }
    }
}

/// Deliveries as two columns (documents, their heads as text), each document once with the
/// last heads given for it (as one statement per delivery in turn would leave it).
fn last_of_each(delivered: &[(String, Vec<ChangeHash>)]) -> (Vec<&str>, Vec<String>) {
    let mut at: HashMap<&str, usize> = HashMap::new();
    let (mut docs, mut heads) = (Vec::new(), Vec::new());
    for (doc, h) in delivered {
        match at.get(doc.as_str()) {
            Some(&i) => heads[i] = heads_text(h),
            None => {
                at.insert(doc, docs.len());
                docs.push(doc.as_str());
                heads.push(heads_text(h));
            }
        }
    }
    (docs, heads)
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_role(text: &str) -> Result<Role> {
    Role::parse(text).map_err(ServerError::Storage)
}

fn parse_kind(text: &str) -> Result<RecordKind> {
    RecordKind::parse(text).map_err(ServerError::Storage)
}

fn device_of(r: &Row) -> Result<Device> {
    Ok(Device {
        id: r.get(0),
        user: r.get(1),
        role: parse_role(r.get(2))?,
        division: r.get(3),
        team: r.get(4),
        actor: r.get(5),
        credential_hash: r.get(6),
        revoked: r.get(7),
        enrolled_at: r.get(8),
        last_seen: r.get(9),
    })
}

fn meta_of(r: &Row) -> Result<DocMeta> {
    Ok(DocMeta {
        id: r.get(0),
        kind: parse_kind(r.get(1))?,
        division: r.get(2),
        team: r.get(3),
        heads: parse_heads(r.get(4)),
        seq: r.get::<_, i64>(5) as u64,
        standing: Standing::of(r.get::<_, Option<&str>>(6), r.get(7)),
        epoch: r.get::<_, i32>(8).max(0) as u32,
    })
}

const DEVICE_COLUMNS: &str =
    "id, user_name, role, division, team, actor, credential_hash, revoked, enrolled_at, last_seen";

/// Appends events to the audit log, each chained to the one before (provide-core's
/// `audit::server`). Call inside the transaction that makes the change they record, as its
/// last step before the commit.
///
/// Several processes append at once, so the transaction first takes `AUDIT_LOCK`
/// (`pg_advisory_xact_lock`, held to its commit or rollback): appenders run one after another
/// from reading the head to committing, and each entry is chained to the entry committed
/// before it. Its number is the head's plus one, given here under the lock, not by a
/// sequence: a rolled-back append leaves no gap (the next appender reads the same head), so
/// the chain's numbers run without gaps. The lock is held only for this tail of the
/// transaction; nothing after it in the transaction waits on another lock, so no deadlock.
///
/// Three statements whatever the number of events: the lock, the head (read after the lock is
/// held, so it is the head committed last), and every entry in one insert.
fn insert_audit(c: &mut impl Sql, events: &[AuditEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])?;
    let at = now_text();
    let mut head = audit_head_in(c)?;
    let mut entries = Vec::with_capacity(events.len());
    for e in events {
        let entry = ServerEntry::after(
            head.as_ref(),
            &at,
            &e.device,
            &e.user,
            &e.action,
            &e.record,
            &e.detail,
        );
        head = Some(entry.anchor());
        entries.push(entry);
    }
    let column =
        |f: fn(&ServerEntry) -> &String| -> Vec<&String> { entries.iter().map(f).collect() };
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
    c.execute(
        "INSERT INTO audit (seq, at, device, user_name, action, record, detail, prev_hash, hash)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
             $6::text[], $7::text[], $8::text[], $9::text[])",
        &[
            &seqs,
            &column(|e| &e.at),
            &column(|e| &e.device),
            &column(|e| &e.user),
            &column(|e| &e.action),
            &column(|e| &e.record),
            &column(|e| &e.detail),
            &column(|e| &e.prev_hash),
            &column(|e| &e.hash),
        ],
    )?;
    Ok(())
}

fn load_in(c: &mut impl Sql, id: &str, keys: &RecordKeys) -> Result<Option<StoredDoc>> {
    load_unless_erased(c, id, keys).map(|(_, doc)| doc)
}

/// Whether the record was erased, and the stored document: one statement (one snapshot).
fn load_unless_erased(
    c: &mut impl Sql,
    id: &str,
    keys: &RecordKeys,
) -> Result<(bool, Option<StoredDoc>)> {
    let row = c.query_one(
        &format!(
            "SELECT {}, ARRAY(SELECT bytes FROM doc_chunks WHERE doc_id = $1 ORDER BY n),
                 EXISTS (SELECT 1 FROM erasures WHERE doc_id = $1)
             FROM (SELECT 1) one LEFT JOIN docs d ON d.id = $1",
            doc_columns_of("d")
        ),
        &[&id],
    )?;
    let erased: bool = row.get(DOC_COLUMN_COUNT + 1);
    if row.get::<_, Option<&str>>(0).is_none() {
        return Ok((erased, None));
    }
    let meta = meta_of(&row)?;
    let chunks: Vec<Vec<u8>> = row.get(DOC_COLUMN_COUNT);
    let chunks = keys.open_all(&key_name(id, meta.epoch), chunks)?;
    Ok((erased, Some(StoredDoc { meta, chunks })))
}

fn is_erased(c: &mut impl Sql, id: &str) -> Result<bool> {
    Ok(
        c.query_opt("SELECT 1 FROM erasures WHERE doc_id = $1", &[&id])?
            .is_some(),
    )
}

/// Deletes every row of the record, keeping the tombstone of its id and the devices that held
/// it (`Storage::erase`). The caller holds the record's lock.
fn erase_rows(tx: &mut impl Sql, id: &str, kind: RecordKind, at: &str, by: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO erasures (doc_id, kind, erased_at, erased_by) VALUES ($1,$2,$3,$4)
         ON CONFLICT DO NOTHING",
        &[&id, &kind.as_str(), &at, &by],
    )?;
    tx.execute(
        "INSERT INTO erasure_holders (doc_id, device_id)
         SELECT doc_id, device_id FROM deliveries WHERE doc_id = $1 AND purged = 0
         ON CONFLICT DO NOTHING",
        &[&id],
    )?;
    for (table, column) in [
        ("doc_chunks", "doc_id"),
        ("docs", "id"),
        ("deliveries", "doc_id"),
        ("attendance", "case_id"),
        ("case_keys", "case_id"),
        ("held_for_review", "record_id"),
    ] {
        tx.execute(&format!("DELETE FROM {table} WHERE {column} = $1"), &[&id])?;
    }
    Ok(())
}

impl PostgresStorage {
    /// Connects to `url` (a `postgres://` URL, with `sslmode` and `sslrootcert` as libpq
    /// reads them), runs the migrations, and keeps up to `max` connections. `ca_file` (PEM)
    /// is the CA to trust for TLS when the URL names none.
    pub fn open(
        url: &str,
        ca_file: Option<&std::path::Path>,
        max: usize,
        keys_url: Option<&str>,
    ) -> Result<Self> {
        let connector = Connector::from_url(url, ca_file)?;
        let keys_connector = Connector::from_url(keys_url.unwrap_or(url), ca_file)?;
        // the first connection is made here, so a database that cannot be reached (or
        // secured) is reported as what it is; it runs the migrations and reads the key
        let mut first = connector.connect()?;
        let key = (|| -> Result<IdentityKey> {
            let mut tx = first.transaction()?;
            migrate(&mut tx)?;
            // the first process to get here generates the key; every other one reads it
            tx.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&IDENTITY_KEY_NAME, &new_identity_key_hex().as_str()],
            )?;
            let stored = zeroize::Zeroizing::new(
                tx.query_one(
                    "SELECT value FROM secrets WHERE name = $1",
                    &[&IDENTITY_KEY_NAME],
                )?
                .get::<_, String>(0),
            );
            let key = identity_key_from_hex(&stored)?;
            tx.commit()?;
            Ok(key)
        })();
        let _ = std::thread::spawn(move || drop(first)).join();
        // the key store after the data's first connection: a database that cannot be reached
        // or secured is reported as exactly that
        let key = key?;
        let keys = RecordKeys::new(Box::new(PgKeyStore::open(keys_connector, max.div_ceil(4))?));
        let pool = r2d2::Pool::builder()
            .max_size(max.clamp(1, u32::MAX as usize) as u32)
            .min_idle(Some(0))
            .connection_timeout(POOL_WAIT)
            .test_on_check_out(false)
            .error_handler(Box::new(LogPoolErrors))
            .build_unchecked(connector);
        let storage = PostgresStorage {
            pool: Some(pool),
            identity_key: key,
            keys,
            owners: std::sync::Mutex::new((0, HashMap::new())),
        };
        storage.seal_pass()?;
        storage.backfill()?;
        Ok(storage)
    }

    /// Derives the reporting rows of case documents that have none, or one from an older
    /// build: one process at a time, each document under its own lock, so a concurrent update
    /// (which writes its own row) is never overwritten by an older reading.
    fn backfill(&self) -> Result<()> {
        let mut c = self.client()?;
        c.execute("SELECT pg_advisory_lock($1)", &[&BACKFILL_LOCK])?;
        let result = (|| -> Result<()> {
            let ids: Vec<String> = c
                .query(
                    "SELECT d.id FROM docs d WHERE d.kind = 'case' AND NOT EXISTS
                     (SELECT 1 FROM attendance a WHERE a.case_id = d.id AND a.version >= $1)",
                    &[&PROJECTION_VERSION],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for id in ids {
                let mut tx = c.transaction()?;
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    &[&id],
                )?;
                if let Some(stored) = load_in(&mut tx, &id, &self.keys)? {
                    if let Some(a) = project(&id, &stored.chunks, &self.identity_key) {
                        put_attendance(&mut tx, &a)?;
                    }
                }
                tx.commit()?;
            }
            Ok(())
        })();
        c.execute("SELECT pg_advisory_unlock($1)", &[&BACKFILL_LOCK])?;
        result
    }

    /// Seals what an older release stored unsealed (every chunk, and what is held for
    /// review), once, one process at a time, each record under its own lock.
    fn seal_pass(&self) -> Result<()> {
        let mut c = self.client()?;
        c.execute("SELECT pg_advisory_lock($1)", &[&BACKFILL_LOCK])?;
        let result = (|| -> Result<()> {
            if c.query_opt("SELECT 1 FROM secrets WHERE name = $1", &[&SEALED_MARK])?
                .is_some()
            {
                return Ok(());
            }
            let ids: Vec<String> = c
                .query("SELECT DISTINCT doc_id FROM doc_chunks", &[])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for id in ids {
                let mut tx = c.transaction()?;
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    &[&id],
                )?;
                let rows: Vec<(i64, Vec<u8>)> = tx
                    .query("SELECT n, bytes FROM doc_chunks WHERE doc_id = $1", &[&id])?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
                for (n, bytes) in rows.into_iter().filter(|r| !is_sealed(&r.1)) {
                    tx.execute(
                        "UPDATE doc_chunks SET bytes = $3 WHERE doc_id = $1 AND n = $2",
                        &[&id, &n, &self.keys.seal(&id, &bytes)?],
                    )?;
                }
                tx.commit()?;
            }
            let held: Vec<(i64, String, Vec<u8>)> = c
                .query("SELECT n, record_id, changes FROM held_for_review", &[])?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
            for (n, id, bytes) in held.into_iter().filter(|h| !is_sealed(&h.2)) {
                c.execute(
                    "UPDATE held_for_review SET changes = $2 WHERE n = $1",
                    &[&n, &self.keys.seal(&id, &bytes)?],
                )?;
            }
            c.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&SEALED_MARK, &now_text()],
            )?;
            Ok(())
        })();
        c.execute("SELECT pg_advisory_unlock($1)", &[&BACKFILL_LOCK])?;
        result
    }

    /// After a restore from a dump taken before some erasures: every record the key store
    /// says was erased is erased here too.
    fn reconcile_erasures(&self) -> Result<()> {
        let ids = self.keys.destroyed()?;
        let mut c = self.client()?;
        let sealed: Vec<(String, i32)> = c
            .query(
                "SELECT DISTINCT c.doc_id, d.epoch FROM doc_chunks c JOIN docs d ON d.id = c.doc_id
                 WHERE substr(c.bytes, 1, 4) = $1",
                &[&&SEALED_MAGIC[..]],
            )?
            .iter()
            .map(|r| (r.get(0), r.get::<_, i32>(1)))
            .collect();
        let mut missing = 0;
        for (id, epoch) in sealed {
            if !ids.contains(&id) && !self.keys.has_key(&key_name(&id, epoch.max(0) as u32))? {
                missing += 1;
            }
        }
        if missing > 0 {
            return Err(missing_keys(missing));
        }
        let at = now_text();
        for id in ids {
            let mut tx = c.transaction()?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&id],
            )?;
            if !is_erased(&mut tx, &id)? {
                let kind = if id.ends_with(".health") {
                    RecordKind::Health
                } else {
                    tx.query_opt("SELECT kind FROM docs WHERE id = $1", &[&id])?
                        .and_then(|r| RecordKind::parse(r.get::<_, &str>(0)).ok())
                        .unwrap_or(RecordKind::Case)
                };
                erase_rows(&mut tx, &id, kind, &at, "restore")?;
            }
            tx.commit()?;
        }
        Ok(())
    }

    fn pool(&self) -> &r2d2::Pool<Connector> {
        self.pool
            .as_ref()
            .expect("the pool is there until the storage is dropped")
    }

    fn client(&self) -> Result<Pooled> {
        lend(self.pool(), "no database connection is available")
    }
}

impl Storage for PostgresStorage {
    fn publish_reference(&self, item: &PublishedItem, audit: &AuditEvent) -> Result<()> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        let added = tx.execute(
            "INSERT INTO reference_data (kind, id, version, body, published_at) VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
            &[&item.kind, &item.id, &item.version, &item.body, &item.published_at],
        )?;
        if added == 0 {
            return Err(ServerError::InvalidInput(format!(
                "{} {} version {} is already published, and a published version never changes",
                item.kind, item.id, item.version
            )));
        }
        insert_audit(&mut tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    fn published_reference(&self) -> Result<Vec<PublishedItem>> {
        let mut c = self.client()?;
        let rows = c.query(
            "SELECT kind, id, version, body, published_at FROM reference_data ORDER BY published_at, kind, id, version",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| PublishedItem {
                kind: r.get(0),
                id: r.get(1),
                version: r.get(2),
                body: r.get(3),
                published_at: r.get(4),
            })
            .collect())
    }

    fn create_enrolment(
        &self,
        code_hash: &str,
        user: &UserProfile,
        expires_at_ms: i64,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        tx.execute(
            "INSERT INTO enrolments (code_hash, user_name, role, division, team, expires_at_ms) VALUES ($1,$2,$3,$4,$5,$6)",
            &[&code_hash, &user.name, &user.role.as_str(), &user.division, &user.team, &expires_at_ms],
        )?;
        insert_audit(&mut tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    fn redeem_code(
        &self,
        code_hash: &str,
        redemption: &Redemption,
        decide: &dyn Fn(Option<&EnrolmentCode>) -> Result<AuditEvent>,
    ) -> Result<UserProfile> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        let code = tx
            .query_opt(
                "SELECT user_name, role, division, team, expires_at_ms, used_by FROM enrolments WHERE code_hash = $1 FOR UPDATE",
                &[&code_hash],
            )?
            .map(|row| -> Result<EnrolmentCode> {
                Ok(EnrolmentCode {
                    user: UserProfile {
                        name: row.get(0),
                        role: parse_role(row.get(1))?,
                        division: row.get(2),
                        team: row.get(3),
                    },
                    expires_at_ms: row.get(4),
                    spent: row.get::<_, Option<String>>(5).is_some(),
                })
            })
            .transpose()?;
        let event = decide(code.as_ref())?;
        let Some(code) = code else {
            return Err(ServerError::EnrolmentRefused);
        };
        let user = code.user;
        let device_id = redemption.device_id();
        // two redemptions registering the same actor (or adding the same user to the same
        // device) run one after another, so the checks below see each other's rows
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&REGISTRATION_LOCK])?;
        if tx
            .query_opt(
                "SELECT 1 FROM devices WHERE id = $1 AND user_name = $2 UNION ALL SELECT 1 FROM device_users WHERE device_id = $1 AND user_name = $2",
                &[&device_id, &user.name],
            )?
            .is_some()
        {
            return Err(ServerError::Forbidden(
                "this user is already on this device".into(),
            ));
        }
        if tx
            .query_opt(
                "SELECT 1 FROM devices WHERE actor = $1 UNION ALL SELECT 1 FROM device_users WHERE actor = $1",
                &[&redemption.actor()],
            )?
            .is_some()
        {
            return Err(ServerError::InvalidInput(
                "this actor id is already registered".into(),
            ));
        }
        tx.execute(
            "UPDATE enrolments SET used_by = $2 WHERE code_hash = $1",
            &[&code_hash, &device_id],
        )?;
        match redemption {
            Redemption::Device(d) => tx.execute(
                "INSERT INTO devices (id, user_name, role, division, team, actor, credential_hash, enrolled_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                &[&d.id, &user.name, &user.role.as_str(), &user.division, &user.team, &d.actor, &d.credential_hash, &now_text()],
            )?,
            Redemption::DeviceUser(u) => tx.execute(
                "INSERT INTO device_users (device_id, user_name, role, division, team, actor, added_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
                &[&u.device_id, &user.name, &user.role.as_str(), &user.division, &user.team, &u.actor, &now_text()],
            )?,
        };
        insert_audit(&mut tx, std::slice::from_ref(&event))?;
        tx.commit()?;
        Ok(user)
    }

    fn device(&self, id: &str) -> Result<Option<Device>> {
        let mut c = self.client()?;
        c.query_opt(
            &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1"),
            &[&id],
        )?
        .map(|r| device_of(&r))
        .transpose()
    }

    fn devices(&self) -> Result<Vec<Device>> {
        let mut c = self.client()?;
        c.query(
            &format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY enrolled_at, id"),
            &[],
        )?
        .iter()
        .map(device_of)
        .collect()
    }

    fn revoke(
        &self,
        which: Revoke,
        void_codes_of: Option<&str>,
        audit: &dyn Fn(&[RevokedDevice]) -> Vec<AuditEvent>,
    ) -> Result<Vec<RevokedDevice>> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        let rows = match which {
            Revoke::Device(id) => tx.query(
                "UPDATE devices SET revoked = TRUE WHERE id = $1 RETURNING id, user_name",
                &[&id],
            )?,
            Revoke::DevicesOf(user) => tx.query(
                "UPDATE devices SET revoked = TRUE WHERE user_name = $1 AND NOT revoked RETURNING id, user_name",
                &[&user],
            )?,
        };
        let revoked: Vec<RevokedDevice> = rows
            .iter()
            .map(|r| RevokedDevice {
                id: r.get(0),
                user: r.get(1),
            })
            .collect();
        if let Some(user) = void_codes_of {
            tx.execute(
                "UPDATE enrolments SET used_by = 'revoked' WHERE user_name = $1 AND used_by IS NULL",
                &[&user],
            )?;
        }
        insert_audit(&mut tx, &audit(&revoked))?;
        tx.commit()?;
        Ok(revoked)
    }

    fn actors_of_user(&self, user: &str) -> Result<HashSet<String>> {
        let mut c = self.client()?;
        Ok(
            c.query("SELECT actor FROM devices WHERE user_name = $1 UNION SELECT actor FROM device_users WHERE user_name = $1", &[&user])?
                .iter()
                .map(|r| r.get(0))
                .collect(),
        )
    }

    fn actors_of_device(&self, device: &str) -> Result<HashSet<String>> {
        let mut c = self.client()?;
        Ok(c
            .query(
                "SELECT actor FROM devices WHERE id = $1 UNION SELECT actor FROM device_users WHERE device_id = $1",
                &[&device],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn team_actors(&self, division: &str, team: &str) -> Result<HashMap<String, ActorOwner>> {
        let mut c = self.client()?;
        let rows = c.query(
            "SELECT actor, id, user_name, role, enrolled_at FROM devices
               WHERE division = $1 AND team = $2 AND NOT revoked
             UNION ALL
             SELECT u.actor, u.device_id, u.user_name, u.role, u.added_at
               FROM device_users u JOIN devices d ON d.id = u.device_id
               WHERE d.division = $1 AND d.team = $2 AND NOT d.revoked",
            &[&division, &team],
        )?;
        let mut out = HashMap::new();
        for r in rows {
            out.insert(
                r.get(0),
                owner_of((r.get(1), r.get(2), r.get(3), r.get(4)))?,
            );
        }
        Ok(out)
    }

    fn actor_owner(&self, actor: &str) -> Result<Option<ActorOwner>> {
        let actor = actor.to_lowercase();
        let owners = || self.owners.lock().unwrap_or_else(|p| p.into_inner());
        {
            let mut kept = owners();
            // after a connection was lost the database may be another (a failover to a
            // replica behind the primary): what was read before is read again
            let lost = CONNECTIONS_LOST.load(std::sync::atomic::Ordering::Relaxed);
            if kept.0 != lost {
                kept.1.clear();
                kept.0 = lost;
            }
            if let Some(owner) = kept.1.get(&actor) {
                return Ok(Some(owner.clone()));
            }
        }
        let mut c = self.client()?;
        let row = c.query_opt(
            "SELECT id, user_name, role, enrolled_at FROM devices WHERE actor = $1 UNION ALL SELECT device_id, user_name, role, added_at FROM device_users WHERE actor = $1",
            &[&actor],
        )?;
        let owner = row
            .map(|r| owner_of((r.get(0), r.get(1), r.get(2), r.get(3))))
            .transpose()?;
        if let Some(o) = &owner {
            let mut kept = owners();
            if kept.1.len() >= OWNERS_MAX {
                kept.1.clear();
            }
            kept.1.insert(actor, o.clone());
        }
        Ok(owner)
    }

    fn open_final_upload(&self, device: &str, now_ms: i64) -> Result<i64> {
        let mut c = self.client()?;
        c.execute(
            "INSERT INTO final_uploads (device_id, opened_at_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&device, &now_ms],
        )?;
        Ok(c.query_one(
            "SELECT opened_at_ms FROM final_uploads WHERE device_id = $1",
            &[&device],
        )?
        .get(0))
    }

    fn hold_for_review(
        &self,
        device: &str,
        record: &str,
        kind: RecordKind,
        changes: &[u8],
        at: &str,
    ) -> Result<()> {
        let mut c = self.client()?;
        let epoch: i32 = c
            .query_opt("SELECT epoch FROM docs WHERE id = $1", &[&record])?
            .map_or(0, |r| r.get(0));
        let sealed = self
            .keys
            .seal(&key_name(record, epoch.max(0) as u32), changes)?;
        c.execute(
            "INSERT INTO held_for_review (device_id, record_id, kind, changes, at) VALUES ($1, $2, $3, $4, $5)",
            &[&device, &record, &kind.as_str(), &sealed, &at],
        )?;
        Ok(())
    }

    fn erase(
        &self,
        ids: &[String],
        at: &str,
        by: &str,
        audit: &EraseAudit,
    ) -> Result<Vec<(String, RecordKind)>> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        let mut sorted: Vec<&String> = ids.iter().collect();
        // locks taken in one order, so two erasures never wait on each other
        sorted.sort();
        sorted.dedup();
        let mut erased = Vec::new();
        for id in sorted {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[id],
            )?;
            if is_erased(&mut tx, id)? {
                continue;
            }
            let kind: Option<String> = tx
                .query_opt(
                    "SELECT kind FROM docs WHERE id = $1
                     UNION ALL SELECT kind FROM held_for_review WHERE record_id = $1 LIMIT 1",
                    &[id],
                )?
                .map(|r| r.get(0));
            let Some(kind) = kind else { continue };
            let kind = RecordKind::parse(&kind).map_err(ServerError::Storage)?;
            erase_rows(&mut tx, id, kind, at, by)?;
            erased.push((id.clone(), kind));
        }
        insert_audit(&mut tx, &audit(&erased))?;
        tx.commit()?;
        let gone = self.erased_among(ids)?;
        self.keys.destroy(&gone)?;
        Ok(erased)
    }

    fn reroot(&self, id: &str, decide: &mut dyn FnMut(StoredDoc) -> Result<Reroot>) -> Result<u32> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&id],
        )?;
        if is_erased(&mut tx, id)? {
            return Err(ServerError::Erased(id.to_string()));
        }
        let Some(stored) = load_in(&mut tx, id, &self.keys)? else {
            return Err(ServerError::InvalidInput(format!(
                "there is no record {id}"
            )));
        };
        let old = stored.meta.epoch;
        let epoch = old
            .checked_add(1)
            .filter(|e| *e <= i32::MAX as u32)
            .ok_or_else(|| {
                ServerError::InvalidInput("the record cannot be re-rooted again".into())
            })?;
        let r = decide(stored)?;
        let sealed = self.keys.seal(&key_name(id, epoch), &r.bytes)?;
        tx.execute("DELETE FROM doc_chunks WHERE doc_id = $1", &[&id])?;
        tx.execute(
            "INSERT INTO doc_chunks (doc_id, n, bytes) VALUES ($1, 0, $2)",
            &[&id, &sealed],
        )?;
        if let Some(a) = &r.attendance {
            put_attendance(&mut tx, a)?;
        }
        tx.execute("DELETE FROM held_for_review WHERE record_id = $1", &[&id])?;
        tx.execute(
            "UPDATE deliveries SET heads = '', pending_heads = NULL, pending_cursor = NULL
             WHERE doc_id = $1 AND purged = 0",
            &[&id],
        )?;
        let at = now_text();
        for (path, digest) in &r.struck {
            tx.execute(
                "INSERT INTO rectifications (doc_id, epoch, path, digest, actor, by_user, role, at)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT DO NOTHING",
                &[
                    &id,
                    &(epoch as i32),
                    path,
                    digest,
                    &r.actor,
                    &r.by,
                    &r.role.as_str(),
                    &at,
                ],
            )?;
        }
        insert_audit(&mut tx, std::slice::from_ref(&r.audit))?;
        // the counter last, as in update_doc
        let seq: i64 = tx
            .query_one(
                "UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value",
                &[],
            )?
            .get(0);
        tx.execute(
            "UPDATE docs SET heads = $2, seq = $3, epoch = $4 WHERE id = $1",
            &[&id, &heads_text(&r.heads), &seq, &(epoch as i32)],
        )?;
        tx.commit()?;
        self.keys.destroy_epoch(id, old)?;
        Ok(epoch)
    }

    fn struck(&self, id: &str, epoch: u32) -> Result<Vec<(String, String)>> {
        let mut c = self.client()?;
        Ok(c.query(
            "SELECT path, digest FROM rectifications WHERE doc_id = $1 AND epoch = $2 ORDER BY path, digest",
            &[&id, &(epoch as i32)],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
    }

    fn rectifier(&self, actor: &str) -> Result<Option<(String, Role)>> {
        let mut c = self.client()?;
        c.query_opt(
            "SELECT by_user, role FROM rectifications WHERE actor = $1 LIMIT 1",
            &[&actor],
        )?
        .map(|r| Ok((r.get(0), parse_role(r.get(1))?)))
        .transpose()
    }

    fn erasure(&self, id: &str) -> Result<Option<Erasure>> {
        let mut c = self.client()?;
        let Some(row) = c.query_opt(
            "SELECT kind, erased_at, erased_by FROM erasures WHERE doc_id = $1",
            &[&id],
        )?
        else {
            return Ok(None);
        };
        let devices = c
            .query(
                "SELECT device_id, confirmed_at FROM erasure_holders WHERE doc_id = $1 ORDER BY device_id",
                &[&id],
            )?
            .iter()
            .map(|r| ErasureHolder {
                device: r.get(0),
                confirmed_at: r.get(1),
            })
            .collect();
        Ok(Some(Erasure {
            record: id.to_string(),
            kind: parse_kind(row.get(0))?,
            erased_at: row.get(1),
            erased_by: row.get(2),
            devices,
        }))
    }

    fn erased_among(&self, ids: &[String]) -> Result<Vec<String>> {
        let mut c = self.client()?;
        Ok(c.query(
            "SELECT doc_id FROM erasures WHERE doc_id = ANY($1) ORDER BY doc_id",
            &[&ids],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect())
    }

    fn erasures_pending(&self, device: &str) -> Result<Vec<String>> {
        let mut c = self.client()?;
        Ok(c.query(
            "SELECT doc_id FROM erasure_holders WHERE device_id = $1 AND confirmed_at IS NULL
             ORDER BY doc_id LIMIT 500",
            &[&device],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect())
    }

    fn erasure_holder(&self, id: &str, device: &str) -> Result<()> {
        self.client()?.execute(
            "INSERT INTO erasure_holders (doc_id, device_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&id, &device],
        )?;
        Ok(())
    }

    fn confirm_erasures(&self, device: &str, ids: &[String], at: &str) -> Result<usize> {
        let n = self.client()?.execute(
            "UPDATE erasure_holders SET confirmed_at = $3
             WHERE device_id = $1 AND doc_id = ANY($2) AND confirmed_at IS NULL",
            &[&device, &ids, &at],
        )?;
        Ok(n as usize)
    }

    fn mark_restored(&self) -> Result<usize> {
        self.reconcile_erasures()?;
        let mut c = self.client()?;
        let n = c.execute(
            "INSERT INTO resync (device_id) SELECT id FROM devices ON CONFLICT DO NOTHING",
            &[],
        )?;
        Ok(n as usize)
    }

    fn resync_pending(&self, device: &str) -> Result<bool> {
        let mut c = self.client()?;
        Ok(
            c.query_opt("SELECT 1 FROM resync WHERE device_id = $1", &[&device])?
                .is_some(),
        )
    }

    fn resync_done(&self, device: &str) -> Result<()> {
        let mut c = self.client()?;
        c.execute("DELETE FROM resync WHERE device_id = $1", &[&device])?;
        Ok(())
    }

    fn held_for_review(&self) -> Result<Vec<HeldRecord>> {
        let mut c = self.client()?;
        c.query(
            "SELECT h.device_id, h.record_id, h.kind, h.changes, h.at, COALESCE(d.epoch, 0)
             FROM held_for_review h LEFT JOIN docs d ON d.id = h.record_id ORDER BY h.n",
            &[],
        )?
        .iter()
        .map(|r| {
            let record: String = r.get(1);
            let epoch: i32 = r.get(5);
            let changes = self
                .keys
                .open(&key_name(&record, epoch.max(0) as u32), r.get(3))?;
            held_of(
                r.get(0),
                record,
                r.get::<_, String>(2).as_str(),
                changes,
                r.get(4),
            )
        })
        .collect()
    }

    fn claim_request(&self, device: &str, seq: u64, now: &str) -> Result<bool> {
        let mut c = self.client()?;
        let seq = i64::try_from(seq)
            .map_err(|_| ServerError::BadRequest("request number too large".into()))?;
        let n = c.execute(
            "UPDATE devices SET last_request_seq = $2, last_seen = $3 WHERE id = $1 AND last_request_seq < $2",
            &[&device, &seq, &now],
        )?;
        Ok(n == 1)
    }

    fn doc_meta(&self, id: &str) -> Result<Option<DocMeta>> {
        let mut c = self.client()?;
        c.query_opt(
            &format!("SELECT {DOC_COLUMNS} FROM docs WHERE id = $1"),
            &[&id],
        )?
        .map(|r| meta_of(&r))
        .transpose()
    }

    fn load_doc(&self, id: &str) -> Result<Option<StoredDoc>> {
        // one statement: the document and its chunks as of one snapshot
        load_in(&mut *self.client()?, id, &self.keys)
    }

    fn update_doc(&self, id: &str, decide: &mut Decide) -> Result<Option<u64>> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&id],
        )?;
        let (erased, stored) = load_unless_erased(&mut tx, id, &self.keys)?;
        if erased {
            return Err(ServerError::Erased(id.to_string()));
        }
        let chunk_count = stored.as_ref().map(|s| s.chunks.len()).unwrap_or(0) as i64;
        let epoch = stored.as_ref().map_or(0, |s| s.meta.epoch);
        let Some(write) = decide(stored)? else {
            return Ok(None);
        };
        let sealed = if write.bytes.is_empty() {
            vec![]
        } else {
            self.keys.seal(&key_name(id, epoch), &write.bytes)?
        };
        if write.replace {
            tx.execute("DELETE FROM doc_chunks WHERE doc_id = $1", &[&id])?;
            tx.execute(
                "INSERT INTO doc_chunks (doc_id, n, bytes) VALUES ($1, 0, $2)",
                &[&id, &sealed],
            )?;
        } else if !sealed.is_empty() {
            tx.execute(
                "INSERT INTO doc_chunks (doc_id, n, bytes) VALUES ($1, $2, $3)",
                &[&id, &chunk_count, &sealed],
            )?;
        }
        if let Some(a) = &write.attendance {
            put_attendance(&mut tx, a)?;
        }
        // the counter last (one statement with the document's row): its row lock is held only
        // from here to the commit
        let seq: i64 = tx
            .query_one(
                "WITH next AS (UPDATE counters SET value = value + 1 WHERE name = 'change_seq'
                     RETURNING value)
                 INSERT INTO docs (id, kind, division, team, heads, seq, status, status_since_ms)
                 SELECT $1::text, $2::text, $3::text, $4::text, $5::text, next.value, $6::text,
                     $7::bigint FROM next
                 ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, division = excluded.division,
                 team = excluded.team, heads = excluded.heads, seq = excluded.seq,
                 status = excluded.status, status_since_ms = excluded.status_since_ms
                 RETURNING seq",
                &[
                    &id,
                    &write.kind.as_str(),
                    &write.division,
                    &write.team,
                    &heads_text(&write.heads),
                    &write.standing.status.map(|s| s.as_str()),
                    &write.standing.status.map(|_| write.standing.since_ms),
                ],
            )?
            .get(0);
        tx.commit()?;
        Ok(Some(seq as u64))
    }

    fn changed_since(
        &self,
        cursor: u64,
        division: &str,
        team: Option<&str>,
        device: &str,
        limit: usize,
    ) -> Result<ChangedPage> {
        let mut c = self.client()?;
        // the committed counter and the page below it in one statement (one snapshot): every
        // number up to the counter's value belongs to a committed transaction
        let rows = c.query(
            &format!(
                "SELECT {}, upper.value FROM
                 (SELECT value FROM counters WHERE name = 'change_seq') upper
                 LEFT JOIN LATERAL (SELECT {DOC_COLUMNS} FROM docs
                     WHERE seq > $1 AND seq <= upper.value
                       AND ((division = $2 AND ($5::text IS NULL OR team = $5))
                            OR id IN (SELECT doc_id FROM deliveries WHERE device_id = $3))
                     ORDER BY seq LIMIT $4) d ON TRUE
                 ORDER BY d.seq",
                doc_columns_of("d")
            ),
            &[
                &(cursor as i64),
                &division,
                &device,
                &((limit + 1) as i64),
                &team,
            ],
        )?;
        let upper: i64 = rows
            .first()
            .map(|r| r.get(DOC_COLUMN_COUNT))
            .ok_or_else(|| ServerError::Storage("the change counter is missing".into()))?;
        let mut docs = rows
            .iter()
            .filter(|r| r.get::<_, Option<&str>>(0).is_some())
            .map(meta_of)
            .collect::<Result<Vec<_>>>()?;
        let truncated = docs.len() > limit;
        docs.truncate(limit);
        Ok(ChangedPage {
            docs,
            upper: upper as u64,
            truncated,
        })
    }

    fn held_in_status_before(
        &self,
        device: &str,
        statuses: &[&str],
        before_ms: i64,
        limit: usize,
    ) -> Result<Vec<(DocMeta, Option<i64>)>> {
        let mut c = self.client()?;
        let statuses: Vec<String> = statuses.iter().map(|s| s.to_string()).collect();
        c.query(
            &format!(
                "SELECT {}, v.fetched_ms FROM docs d JOIN deliveries v ON v.doc_id = d.id
                 WHERE v.device_id = $1 AND v.purge_cursor IS NULL AND v.purged = 0
                   AND d.status = ANY($2) AND d.status_since_ms <= $3
                   AND (v.fetched_ms IS NULL OR v.fetched_ms <= $3)
                 ORDER BY d.status_since_ms, d.id LIMIT $4",
                doc_columns_of("d")
            ),
            &[&device, &statuses, &before_ms, &(limit as i64)],
        )?
        .iter()
        .map(|r| Ok((meta_of(r)?, r.get(DOC_COLUMN_COUNT))))
        .collect()
    }

    fn holding(&self, device: &str, doc: &str) -> Result<Option<Holding>> {
        let mut c = self.client()?;
        Ok(c.query_opt(
            "SELECT fetched_ms FROM deliveries WHERE device_id = $1 AND doc_id = $2 AND purge_cursor IS NULL AND purged = 0",
            &[&device, &doc],
        )?
        .map(|r| Holding {
            fetched_ms: r.get(0),
        }))
    }

    fn find_cases(&self, digests: &[String], division: &str, limit: usize) -> Result<Vec<DocMeta>> {
        let mut c = self.client()?;
        c.query(
            &format!(
                "SELECT {} FROM docs d WHERE d.kind = 'case' AND d.division = $2 AND d.id IN
                 (SELECT case_id FROM case_keys WHERE digest = ANY($1))
                 ORDER BY d.status_since_ms DESC NULLS LAST, d.id LIMIT $3",
                doc_columns_of("d")
            ),
            &[&digests, &division, &(limit as i64)],
        )?
        .iter()
        .map(meta_of)
        .collect()
    }

    fn claim_fetch(&self, user: &str, now_ms: i64, quotas: &[(i64, u64)]) -> Result<Option<i64>> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        // one user's fetches are counted one at a time, across processes
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 1))",
            &[&format!("fetch:{user}")],
        )?;
        let longest = quotas.iter().map(|q| q.0).max().unwrap_or(0);
        tx.execute(
            "DELETE FROM fetch_quota WHERE user_name = $1 AND at_ms <= $2",
            &[&user, &(now_ms - longest)],
        )?;
        let mut wait: Option<i64> = None;
        for (window, max) in quotas {
            let row = tx.query_one(
                "SELECT count(*), min(at_ms) FROM fetch_quota WHERE user_name = $1 AND at_ms > $2",
                &[&user, &(now_ms - window)],
            )?;
            let (n, oldest): (i64, Option<i64>) = (row.get(0), row.get(1));
            if n as u64 >= *max {
                let until = oldest.unwrap_or(now_ms) + window - now_ms;
                wait = Some(wait.map_or(until, |w| w.max(until)));
            }
        }
        if wait.is_none() {
            tx.execute(
                "INSERT INTO fetch_quota (user_name, at_ms) VALUES ($1, $2)",
                &[&user, &now_ms],
            )?;
        }
        tx.commit()?;
        Ok(wait)
    }

    fn record_fetch(
        &self,
        device: &str,
        delivered: &[(String, Vec<ChangeHash>)],
        audit: &[AuditEvent],
        cursor: u64,
        now_ms: i64,
    ) -> Result<()> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        let cursor = cursor as i64;
        let (docs, heads) = last_of_each(delivered);
        if !docs.is_empty() {
            tx.execute(
                "INSERT INTO deliveries (device_id, doc_id, heads, pending_heads, pending_cursor, fetched_ms)
                 SELECT $1::text, u.doc, '', u.heads, $4::bigint, $5::bigint FROM unnest($2::text[], $3::text[]) AS u(doc, heads)
                 ON CONFLICT (device_id, doc_id) DO UPDATE SET pending_heads = excluded.pending_heads,
                 pending_cursor = excluded.pending_cursor, fetched_ms = excluded.fetched_ms,
                 purge_cursor = NULL, purged = 0",
                &[&device, &docs, &heads, &cursor, &now_ms],
            )?;
        }
        insert_audit(&mut tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn set_retention(&self, division: &str, grace_hours: u32, audit: &AuditEvent) -> Result<()> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        tx.execute(
            "INSERT INTO retention (division, handover_grace_hours, set_at) VALUES ($1, $2, $3)
             ON CONFLICT (division) DO UPDATE SET handover_grace_hours = excluded.handover_grace_hours,
             set_at = excluded.set_at",
            &[&division, &(grace_hours as i32), &now_text()],
        )?;
        insert_audit(&mut tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    fn retentions(&self) -> Result<Vec<RetentionPolicy>> {
        let mut c = self.client()?;
        Ok(c.query(
            "SELECT division, handover_grace_hours, set_at FROM retention ORDER BY division",
            &[],
        )?
        .iter()
        .map(|r| RetentionPolicy {
            division: r.get(0),
            handover_grace_hours: r.get::<_, i32>(1).max(0) as u32,
            set_at: r.get(2),
        })
        .collect())
    }

    fn set_review_period(
        &self,
        division: &str,
        class: &str,
        months: u32,
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        tx.execute(
            "INSERT INTO review_periods (division, class, review_after_months, set_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (division, class) DO UPDATE SET
             review_after_months = excluded.review_after_months, set_at = excluded.set_at",
            &[&division, &class, &(months as i32), &now_text()],
        )?;
        insert_audit(&mut tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    fn review_periods(&self) -> Result<Vec<ReviewPeriod>> {
        let mut c = self.client()?;
        Ok(c.query(
            "SELECT division, class, review_after_months, set_at FROM review_periods
             ORDER BY division, class",
            &[],
        )?
        .iter()
        .map(|r| ReviewPeriod {
            division: r.get(0),
            class: r.get(1),
            review_after_months: r.get::<_, i32>(2).max(0) as u32,
            set_at: r.get(3),
        })
        .collect())
    }

    fn record_review(&self, d: &ReviewDecision, audit: &AuditEvent) -> Result<()> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        tx.execute(
            "INSERT INTO review_decisions (record_id, kind, class, decision, retain_until, reason,
             decided_by, device_id, decided_at, decided_ms) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
            &[
                &d.record,
                &d.kind.as_str(),
                &d.class,
                &d.decision.as_str(),
                &d.retain_until,
                &d.reason,
                &d.decided_by,
                &d.device,
                &d.decided_at,
                &d.decided_ms,
            ],
        )?;
        insert_audit(&mut tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    fn review_decisions(&self, record: &str) -> Result<Vec<ReviewDecision>> {
        let mut c = self.client()?;
        c.query(
            "SELECT record_id, kind, class, decision, retain_until, reason, decided_by, device_id,
             decided_at, decided_ms FROM review_decisions WHERE record_id = $1
             ORDER BY decided_ms, id",
            &[&record],
        )?
        .iter()
        .map(|r| {
            Ok(ReviewDecision {
                record: r.get(0),
                kind: parse_kind(r.get(1))?,
                class: r.get(2),
                decision: Decision::parse(r.get(3)).map_err(ServerError::Storage)?,
                retain_until: r.get(4),
                reason: r.get(5),
                decided_by: r.get(6),
                device: r.get(7),
                decided_at: r.get(8),
                decided_ms: r.get(9),
            })
        })
        .collect()
    }

    fn due_for_review(&self, q: &DueQuery) -> Result<Vec<DueCandidate>> {
        let mut c = self.client()?;
        let (divisions, cutoffs): (Vec<String>, Vec<i64>) =
            q.division_closed_before_ms.iter().cloned().unzip();
        // the latest decision since the closure, and the division's own cutoff if it has one
        c.query(
            &format!(
                "SELECT {DOC_COLUMNS}, held FROM (
                     SELECT {}, (SELECT r.retain_until FROM review_decisions r
                         WHERE r.record_id = d.id AND r.decided_ms >= d.status_since_ms
                         ORDER BY r.decided_ms DESC, r.id DESC LIMIT 1) AS held,
                       COALESCE((SELECT o.ms FROM unnest($4::text[], $5::bigint[]) AS o(div, ms)
                         WHERE o.div = d.division), $3) AS before_ms
                     FROM docs d WHERE d.kind = $1 AND d.status = 'closed'
                       AND ($2::text IS NULL OR d.division = $2)) x
                 WHERE (held IS NULL AND status_since_ms < before_ms) OR held <= $6
                 ORDER BY status_since_ms, id LIMIT $7",
                doc_columns_of("d")
            ),
            &[
                &q.kind.as_str(),
                &q.division,
                &q.closed_before_ms,
                &divisions,
                &cutoffs,
                &q.as_of,
                &(q.limit as i64),
            ],
        )?
        .iter()
        .map(|r| {
            Ok(DueCandidate {
                meta: meta_of(r)?,
                retained_until: r.get(DOC_COLUMN_COUNT),
            })
        })
        .collect()
    }

    fn known_heads(&self, device: &str, doc: &str) -> Result<Option<Vec<ChangeHash>>> {
        let mut c = self.client()?;
        Ok(c.query_opt(
            "SELECT heads FROM deliveries WHERE device_id = $1 AND doc_id = $2 AND purged = 0",
            &[&device, &doc],
        )?
        .map(|r| parse_heads(r.get(0))))
    }

    fn ever_held(&self, device: &str, doc: &str) -> Result<bool> {
        let mut c = self.client()?;
        Ok(c.query_opt(
            "SELECT 1 FROM deliveries WHERE device_id = $1 AND doc_id = $2",
            &[&device, &doc],
        )?
        .is_some())
    }

    fn set_known_heads(&self, device: &str, doc: &str, heads: &[ChangeHash]) -> Result<()> {
        let mut c = self.client()?;
        c.execute(
            "INSERT INTO deliveries (device_id, doc_id, heads) VALUES ($1,$2,$3)
             ON CONFLICT (device_id, doc_id) DO UPDATE SET heads = excluded.heads, purged = 0,
             purge_cursor = NULL",
            &[&device, &doc, &heads_text(heads)],
        )?;
        Ok(())
    }

    fn record_delivery(
        &self,
        device: &str,
        delivered: &[(String, Vec<ChangeHash>)],
        purged: &[String],
        audit: &[AuditEvent],
        cursor: u64,
    ) -> Result<()> {
        if delivered.is_empty() && purged.is_empty() && audit.is_empty() {
            return Ok(());
        }
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        let cursor = cursor as i64;
        // each in one statement, however many documents
        let (docs, heads) = last_of_each(delivered);
        if !docs.is_empty() {
            tx.execute(
                "INSERT INTO deliveries (device_id, doc_id, heads, pending_heads, pending_cursor)
                 SELECT $1::text, u.doc, '', u.heads, $4::bigint FROM unnest($2::text[], $3::text[]) AS u(doc, heads)
                 ON CONFLICT (device_id, doc_id) DO UPDATE SET pending_heads = excluded.pending_heads,
                 pending_cursor = excluded.pending_cursor, purge_cursor = NULL, purged = 0",
                &[&device, &docs, &heads, &cursor],
            )?;
        }
        if !purged.is_empty() {
            tx.execute(
                "UPDATE deliveries SET purge_cursor = $3 WHERE device_id = $1 AND doc_id = ANY($2)",
                &[&device, &purged, &cursor],
            )?;
        }
        insert_audit(&mut tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn confirm_deliveries(&self, device: &str, cursor: u64) -> Result<()> {
        // one statement: each of the device's rows with something pending takes what the
        // cursor confirms, and drops what it does not
        self.client()?.execute(
            "UPDATE deliveries SET
                 -- a purge confirmed: kept as a mark that the device held the record and was
                 -- told to let it go: what it hands in for it later (edits it held back) is
                 -- kept for review, not refused
                 purged = CASE WHEN purge_cursor <= $2 THEN 1 ELSE purged END,
                 heads = CASE WHEN purge_cursor <= $2 THEN ''
                              WHEN pending_cursor <= $2 THEN pending_heads ELSE heads END,
                 fetched_ms = CASE WHEN purge_cursor <= $2 THEN NULL ELSE fetched_ms END,
                 -- a delivery confirmed, or one the cursor does not cover, is pending no more
                 pending_heads = CASE WHEN purge_cursor <= $2 OR pending_cursor IS NOT NULL
                                      THEN NULL ELSE pending_heads END,
                 pending_cursor = NULL,
                 purge_cursor = NULL
             WHERE device_id = $1 AND (purge_cursor IS NOT NULL OR pending_cursor IS NOT NULL)",
            &[&device, &(cursor as i64)],
        )?;
        Ok(())
    }

    fn append_audit(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        insert_audit(&mut tx, events)?;
        tx.commit()?;
        Ok(())
    }

    fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditRow>> {
        let mut c = self.client()?;
        let q = &f.entries;
        let limit = q.limit.map(i64::from).unwrap_or(i64::MAX);
        let order = if f.newest_first { "DESC" } else { "ASC" };
        c.query(
            &format!(
                "SELECT seq, at, device, user_name, action, record, detail FROM audit
                 WHERE ($1::TEXT IS NULL OR device = $1) AND ($2::TEXT IS NULL OR user_name = $2)
                   AND ($3::TEXT IS NULL OR record = $3) AND ($4::TEXT IS NULL OR action = $4)
                   AND ($6::TEXT IS NULL OR at >= $6) AND ($7::TEXT IS NULL OR at < $7)
                   AND ($8::TEXT IS NULL
                        OR (record <> '' AND record IN
                            (SELECT id FROM docs WHERE division = $8 AND kind <> 'health'))
                        OR (record = '' AND device IN
                            (SELECT id FROM devices WHERE division = $8)))
                 ORDER BY seq {order} LIMIT $5"
            ),
            &[
                &q.device,
                &q.user,
                &q.record,
                &q.action,
                &limit,
                &q.from,
                &q.until,
                &f.division,
            ],
        )?
        .iter()
        .map(|r| {
            Ok(AuditRow {
                seq: r.get::<_, i64>(0) as u64,
                at: r.get(1),
                device: r.get(2),
                user: r.get(3),
                action: r.get(4),
                record: r.get(5),
                detail: r.get(6),
            })
        })
        .collect()
    }

    fn audit_chain(&self, after: i64, limit: i64) -> Result<Vec<ServerEntry>> {
        audit_page(&mut *self.client()?, after, limit)
    }

    fn audit_head(&self) -> Result<Option<Anchor>> {
        audit_head_in(&mut *self.client()?)
    }

    fn device_audit_head(&self, device: &str) -> Result<Option<(i64, String)>> {
        let mut c = self.client()?;
        Ok(c.query_opt(
            "SELECT seq, hash FROM device_audit WHERE device_id = $1 ORDER BY seq DESC LIMIT 1",
            &[&device],
        )?
        .map(|r| (r.get(0), r.get(1))))
    }

    fn append_device_audit(&self, device: &str, entries: &[Entry]) -> Result<()> {
        let mut c = self.client()?;
        let mut tx = c.transaction()?;
        for e in entries {
            tx.execute(
                "INSERT INTO device_audit (device_id, seq, at, user_name, role, action, record, detail, prev_hash, hash)
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                &[&device, &e.seq, &e.at, &e.user, &e.role, &e.action, &e.record, &e.detail, &e.prev_hash, &e.hash],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn device_audit(&self, device: &str) -> Result<Vec<Entry>> {
        let mut c = self.client()?;
        Ok(c.query(
            "SELECT seq, at, user_name, role, action, record, detail, prev_hash, hash FROM device_audit WHERE device_id = $1 ORDER BY seq",
            &[&device],
        )?
        .iter()
        .map(|r| Entry {
            seq: r.get(0),
            at: r.get(1),
            user: r.get(2),
            role: r.get(3),
            action: r.get(4),
            record: r.get(5),
            detail: r.get(6),
            prev_hash: r.get(7),
            hash: r.get(8),
        })
        .collect())
    }

    fn identity_key(&self) -> &[u8; 32] {
        &self.identity_key
    }

    fn attendances(&self, division: Option<&str>, from: &str, to: &str) -> Result<Vec<Attendance>> {
        let mut c = self.client()?;
        let div = division_clause(division);
        c.query(
            &format!(
                "SELECT facts FROM attendance
                 WHERE {div} AND status <> 'triaged'
                   AND incident_date >= $2 AND incident_date <= $3"
            ),
            &[&division, &from, &to],
        )?
        .iter()
        .map(|r| facts_of(r.get(0)))
        .collect()
    }

    fn sightings(&self, division: Option<&str>, from: &str, to: &str) -> Result<Vec<Sighting>> {
        let mut c = self.client()?;
        let div = division_clause(division);
        Ok(c.query(
            &format!(
                "SELECT victim_digest, case_id, incident_date FROM attendance
                 WHERE {div} AND status <> 'triaged'
                   AND incident_date < $2
                   AND victim_digest IN (SELECT victim_digest FROM attendance
                       WHERE {div} AND status <> 'triaged'
                         AND incident_date >= $2 AND incident_date <= $3
                         AND victim_digest IS NOT NULL)"
            ),
            &[&division, &from, &to],
        )?
        .iter()
        .map(|r| Sighting {
            victim_digest: r.get(0),
            case_id: r.get(1),
            incident_date: r.get(2),
        })
        .collect())
    }

    fn cases_of_victim(&self, digest: &str, limit: usize) -> Result<Vec<String>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .client()?
            .query(
                "SELECT case_id FROM attendance WHERE victim_digest = $1 ORDER BY case_id LIMIT $2",
                &[&digest, &limit],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn ping(&self) -> Result<()> {
        self.client()?.client.simple_query("SELECT 1")?;
        Ok(())
    }

    fn count_docs(&self) -> Result<u64> {
        let n: i64 = self
            .client()?
            .query_one("SELECT COUNT(*) FROM docs", &[])?
            .get(0);
        Ok(n.max(0) as u64)
    }

    fn pool_use(&self) -> super::PoolUse {
        let state = self.pool().state();
        super::PoolUse {
            in_use: state.connections.saturating_sub(state.idle_connections) as usize,
            idle: state.idle_connections as usize,
            max: self.pool().max_size() as usize,
        }
    }
}
