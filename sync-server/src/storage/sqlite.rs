//! The default storage backend: one SQLCipher database in the data folder, encrypted under the
//! key file's key, needing no setup. One connection behind a mutex: SQLite has one writer at a
//! time anyway, every operation here is short, and `update_doc`'s read-decide-write is atomic
//! because it holds the connection throughout one transaction.
//!
//! Documents are kept as chunks (the first save, then the changes of each update) and compacted
//! into one snapshot by the service now and then; the `docs` row holds the columns scope and
//! paging need, so "what changed" is answered without opening a document.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use automerge::ChangeHash;
use provide_core::audit::server::{Anchor, ServerEntry};
use provide_core::audit::Entry;
use provide_core::model::{RecordKind, Role};
use provide_core::record::heads::{heads_text, parse_heads};
use provide_core::report::{Attendance, Sighting, PROJECTION_VERSION};
use provide_core::store::migrations::{self, Migration};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::record_keys::{is_sealed, key_name, RecordKeys, SEALED_MAGIC, SEALED_MARK};
use super::*;
use crate::error::{Result, ServerError};
use crate::keyfile::StoreKey;

pub const DB_FILE: &str = "server.db";

/// The embedded store's migrations, in order, run by provide-core's SQLite migration runner
/// (its rules: `provide_core::store::migrations`). Append only.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        about: "the 0.1 tables",
        apply: |c| c.execute_batch(SCHEMA),
    },
    Migration {
        version: 2,
        about: "published reference data: forms and the directory",
        apply: |c| {
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS reference_data (kind TEXT NOT NULL, id TEXT NOT NULL,
                 version INTEGER NOT NULL, body TEXT NOT NULL, published_at TEXT NOT NULL,
                 PRIMARY KEY (kind, id, version))",
            )
        },
    },
    Migration {
        version: 3,
        about: "devices to resynchronise after a restore",
        apply: |c| c.execute_batch(RESYNC_TABLE),
    },
    Migration {
        version: 4,
        about: "the audit log hash-chained",
        apply: chain_audit,
    },
    Migration {
        version: 5,
        about: "where each case stands (status and since when), division retention policies",
        apply: |c| {
            add_column(c, "docs", "status", "TEXT")?;
            add_column(c, "docs", "status_since_ms", "INTEGER")?;
            c.execute_batch(STANDING)
        },
    },
    Migration {
        version: 6,
        about: "closed cases found by keyed digests; fetches on request",
        apply: |c| {
            add_column(c, "deliveries", "fetched_ms", "INTEGER")?;
            add_column(c, "deliveries", "purged", "INTEGER NOT NULL DEFAULT 0")?;
            c.execute_batch(LOOKUP)
        },
    },
    Migration {
        version: 7,
        about: "retention review: divisions' review periods and review decisions",
        apply: |c| c.execute_batch(REVIEW),
    },
    Migration {
        version: 8,
        about: "erased records (tombstones, devices to confirm their purge); rectified ones (epochs, struck values)",
        apply: |c| {
            add_column(c, "docs", "epoch", "INTEGER NOT NULL DEFAULT 0")?;
            c.execute_batch(ERASURE)
        },
    },
];

/// Migration 7: the review periods divisions set for retention classes, and every retention
/// review decision (kept after the record is erased: what was decided, by whom, and why).
const REVIEW: &str = "
CREATE TABLE IF NOT EXISTS review_periods (
    division TEXT NOT NULL,
    class TEXT NOT NULL,
    review_after_months INTEGER NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (division, class)
);
CREATE TABLE IF NOT EXISTS review_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    class TEXT NOT NULL,
    decision TEXT NOT NULL,
    retain_until TEXT,
    reason TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    device_id TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    decided_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS review_decisions_by_record ON review_decisions (record_id, decided_ms);
";

/// Migration 8: the tombstones of erased records, and per device whether it confirmed purging
/// one (`Storage::erase`); each rectified record's struck values, by path and digest, and who
/// re-rooted it with which actor (`Storage::reroot`), with `docs.epoch`.
pub(crate) const ERASURE: &str = "
CREATE TABLE IF NOT EXISTS erasures (
    doc_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    erased_at TEXT NOT NULL,
    erased_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erasure_holders (
    doc_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    confirmed_at TEXT,
    PRIMARY KEY (doc_id, device_id)
);
CREATE INDEX IF NOT EXISTS erasure_holders_pending ON erasure_holders (device_id)
    WHERE confirmed_at IS NULL;
CREATE TABLE IF NOT EXISTS rectifications (
    doc_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    path TEXT NOT NULL,
    digest TEXT NOT NULL,
    actor TEXT NOT NULL,
    by_user TEXT NOT NULL,
    role TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (doc_id, epoch, path, digest)
);
CREATE INDEX IF NOT EXISTS rectifications_by_actor ON rectifications (actor);
CREATE INDEX IF NOT EXISTS deliveries_by_doc ON deliveries (doc_id);
CREATE INDEX IF NOT EXISTS held_for_review_by_record ON held_for_review (record_id);
";

/// Migration 6: the digests a case can be found by (filled for every case when the store
/// opens: the reporting projection's version went up) and when a device fetched a case.
const LOOKUP: &str = "
CREATE TABLE IF NOT EXISTS case_keys (
    digest TEXT NOT NULL,
    case_id TEXT NOT NULL,
    PRIMARY KEY (digest, case_id)
);
CREATE INDEX IF NOT EXISTS case_keys_by_case ON case_keys (case_id);
CREATE TABLE IF NOT EXISTS fetch_quota (user_name TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS fetch_quota_by_user ON fetch_quota (user_name, at_ms);
";

/// Adds a column unless the table has it: a migration run again (a store whose version was
/// lost) changes nothing.
fn add_column(c: &Connection, table: &str, column: &str, decl: &str) -> rusqlite::Result<()> {
    let has: bool = c
        .prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
        ))?
        .exists([column])?;
    if !has {
        c.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    }
    Ok(())
}

/// Migration 5: each document's standing (a health record's is its case's), filled from the
/// reporting rows with the time of the upgrade (the grace period of a case already handed
/// over or closed starts then), and the divisions' retention policies.
const STANDING: &str = "
UPDATE docs SET status = (SELECT a.status FROM attendance a WHERE a.case_id = docs.id),
    status_since_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000
    WHERE kind = 'case' AND status IS NULL;
UPDATE docs SET status = (SELECT c.status FROM docs c WHERE c.id = substr(docs.id, 1, length(docs.id) - 7)),
    status_since_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000
    WHERE kind = 'health' AND status IS NULL;
CREATE INDEX IF NOT EXISTS docs_by_standing ON docs (status, status_since_ms);
CREATE TABLE IF NOT EXISTS retention (
    division TEXT PRIMARY KEY,
    handover_grace_hours INTEGER NOT NULL,
    set_at TEXT NOT NULL
);
";

/// Migration 3: the devices a restored store must bring level again (`Storage::mark_restored`).
pub const RESYNC_TABLE: &str = "CREATE TABLE IF NOT EXISTS resync (device_id TEXT PRIMARY KEY);";

/// Migration 4: gives the audit log its `prev_hash` and `hash` columns and chains the entries
/// already there, in order of their numbers (provide-core's `audit::server`), so the log from
/// before the upgrade is the start of the chain.
fn chain_audit(c: &Connection) -> rusqlite::Result<()> {
    let has_hash: bool = c.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('audit') WHERE name = 'hash'",
        [],
        |r| r.get(0),
    )?;
    if !has_hash {
        c.execute_batch(
            "ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
             ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';",
        )?;
    }
    let mut prev = Anchor::empty();
    loop {
        let page = audit_page(c, prev.seq, 1000)?;
        if page.is_empty() {
            return Ok(());
        }
        let mut update =
            c.prepare_cached("UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3")?;
        for mut e in page {
            e.relink(&prev.hash);
            update.execute(params![e.prev_hash, e.hash, e.seq])?;
            prev = e.anchor();
        }
    }
}

/// Up to `limit` audit entries after number `after`, oldest first, with their chain columns.
fn audit_page(c: &Connection, after: i64, limit: i64) -> rusqlite::Result<Vec<ServerEntry>> {
    let mut stmt = c.prepare_cached(
        "SELECT seq, at, device, user_name, action, record, detail, prev_hash, hash FROM audit
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map([after, limit], |r| {
        Ok(ServerEntry {
            seq: r.get(0)?,
            at: r.get(1)?,
            device: r.get(2)?,
            user: r.get(3)?,
            action: r.get(4)?,
            record: r.get(5)?,
            detail: r.get(6)?,
            prev_hash: r.get(7)?,
            hash: r.get(8)?,
        })
    })?;
    rows.collect()
}

/// The audit log's last entry (`None`: the log is empty).
fn audit_head_in(c: &Connection) -> Result<Option<Anchor>> {
    Ok(c.query_row(
        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
        [],
        |r| {
            Ok(Anchor {
                seq: r.get(0)?,
                hash: r.get(1)?,
            })
        },
    )
    .optional()?)
}

/// Makes a new store's tables or brings an existing store's up to date; refuses a store made
/// by a newer release.
pub fn migrate(conn: &Connection) -> Result<migrations::Upgrade> {
    Ok(migrations::run(conn, "sync server store", MIGRATIONS)?)
}

/// The 0.1 schema (migration 1; every statement is `IF NOT EXISTS`, so a store made before
/// migrations, by any 0.1 build, is made whole).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('change_seq', 0);
CREATE TABLE IF NOT EXISTS enrolments (
    code_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    role TEXT NOT NULL,
    division TEXT NOT NULL,
    team TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    used_by TEXT
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    role TEXT NOT NULL,
    division TEXT NOT NULL,
    team TEXT NOT NULL,
    actor TEXT NOT NULL UNIQUE,
    credential_hash TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    enrolled_at TEXT NOT NULL,
    last_seen TEXT,
    last_request_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS devices_by_user ON devices (user_name);
CREATE TABLE IF NOT EXISTS device_users (
    device_id TEXT NOT NULL REFERENCES devices (id),
    user_name TEXT NOT NULL,
    role TEXT NOT NULL,
    division TEXT NOT NULL,
    team TEXT NOT NULL,
    actor TEXT NOT NULL UNIQUE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (device_id, user_name)
);
CREATE INDEX IF NOT EXISTS device_users_by_user ON device_users (user_name);
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    division TEXT NOT NULL,
    team TEXT NOT NULL,
    heads TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_by_division_seq ON docs (division, seq);
CREATE INDEX IF NOT EXISTS docs_by_seq ON docs (seq);
CREATE INDEX IF NOT EXISTS docs_by_team_seq ON docs (division, team, seq);
CREATE TABLE IF NOT EXISTS doc_chunks (
    doc_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (doc_id, n)
);
CREATE TABLE IF NOT EXISTS deliveries (
    device_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    heads TEXT NOT NULL,
    pending_heads TEXT,
    pending_cursor INTEGER,
    purge_cursor INTEGER,
    PRIMARY KEY (device_id, doc_id)
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (device_id, pending_cursor);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    device TEXT NOT NULL,
    user_name TEXT NOT NULL,
    action TEXT NOT NULL,
    record TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_record ON audit (record);
CREATE TABLE IF NOT EXISTS device_audit (
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    user_name TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    record TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS final_uploads (device_id TEXT PRIMARY KEY, opened_at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS held_for_review (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    changes BLOB NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attendance (
    case_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    division TEXT NOT NULL,
    status TEXT NOT NULL,
    incident_date TEXT,
    victim_digest TEXT,
    facts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attendance_by_division_date ON attendance (division, incident_date);
CREATE INDEX IF NOT EXISTS attendance_by_victim
    ON attendance (victim_digest, incident_date, division, status, case_id);
";

const UPSERT_ATTENDANCE: &str = "INSERT INTO attendance
    (case_id, version, division, status, incident_date, victim_digest, facts)
    VALUES (?1,?2,?3,?4,?5,?6,?7)
    ON CONFLICT(case_id) DO UPDATE SET version = excluded.version,
    division = excluded.division, status = excluded.status,
    incident_date = excluded.incident_date, victim_digest = excluded.victim_digest,
    facts = excluded.facts";

fn put_attendance(tx: &Connection, a: &Attendance) -> Result<()> {
    tx.prepare_cached(UPSERT_ATTENDANCE)?.execute(params![
        a.case_id,
        PROJECTION_VERSION,
        a.division,
        a.status.as_str(),
        a.incident_date,
        a.victim_digest,
        facts_json(a)?
    ])?;
    tx.prepare_cached("DELETE FROM case_keys WHERE case_id = ?1")?
        .execute([&a.case_id])?;
    let mut put =
        tx.prepare_cached("INSERT OR IGNORE INTO case_keys (digest, case_id) VALUES (?1, ?2)")?;
    for d in &a.lookup {
        put.execute(params![d, a.case_id])?;
    }
    Ok(())
}

pub struct SqliteStorage {
    conn: Mutex<Connection>,
    /// Seals and opens records' bytes under their own keys, kept in a file of their own.
    keys: RecordKeys,
    /// Held while open, so `rotate-key` does not re-key the store under it.
    _lock: crate::rotate::FolderLock,
    identity_key: IdentityKey,
}

fn kind(text: &str) -> rusqlite::Result<RecordKind> {
    RecordKind::parse(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

fn decision(text: &str) -> rusqlite::Result<Decision> {
    Decision::parse(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

fn role(text: &str) -> rusqlite::Result<Role> {
    Role::parse(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

const DEVICE_COLUMNS: &str =
    "id, user_name, role, division, team, actor, credential_hash, revoked, enrolled_at, last_seen";

fn device_row(r: &rusqlite::Row) -> rusqlite::Result<Device> {
    Ok(Device {
        id: r.get(0)?,
        user: r.get(1)?,
        role: role(&r.get::<_, String>(2)?)?,
        division: r.get(3)?,
        team: r.get(4)?,
        actor: r.get(5)?,
        credential_hash: r.get(6)?,
        revoked: r.get::<_, i64>(7)? != 0,
        enrolled_at: r.get(8)?,
        last_seen: r.get(9)?,
    })
}

fn meta_row(r: &rusqlite::Row) -> rusqlite::Result<DocMeta> {
    Ok(DocMeta {
        id: r.get(0)?,
        kind: kind(&r.get::<_, String>(1)?)?,
        division: r.get(2)?,
        team: r.get(3)?,
        heads: parse_heads(&r.get::<_, String>(4)?),
        seq: r.get::<_, i64>(5)? as u64,
        standing: Standing::of(r.get::<_, Option<String>>(6)?.as_deref(), r.get(7)?),
        epoch: r.get::<_, i64>(8)?.clamp(0, i64::from(u32::MAX)) as u32,
    })
}

/// Appends events to the audit log, each chained to the one before (provide-core's
/// `audit::server`). Call inside the transaction that makes the change they record: the one
/// connection, and SQLite's single writer, serialise appenders, so the head read here is
/// still the head when the entries are written.
fn insert_audit(tx: &Connection, events: &[AuditEvent]) -> Result<()> {
    let at = now_text();
    let mut head = audit_head_in(tx)?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO audit (seq, at, device, user_name, action, record, detail, prev_hash, hash)
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    )?;
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
        stmt.execute(params![
            entry.seq,
            entry.at,
            entry.device,
            entry.user,
            entry.action,
            entry.record,
            entry.detail,
            entry.prev_hash,
            entry.hash
        ])?;
        head = Some(entry.anchor());
    }
    Ok(())
}

/// A transaction that writes: `BEGIN IMMEDIATE`, so it holds SQLite's write lock from its
/// first statement. A deferred transaction that reads and then writes cannot take the lock
/// if another process (an admin command beside `serve`: `enrol`, `revoke`…) committed since
/// its read began, and fails at once with "database is locked" whatever the busy timeout:
/// the nemesis test saw enrolments answered 500 while codes were being issued. Taken
/// immediately, the lock is waited for (up to the busy timeout) instead. Read-only
/// transactions stay deferred.
fn write_tx(conn: &Connection) -> rusqlite::Result<Transaction<'_>> {
    Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
}

fn meta_of(tx: &Transaction, id: &str) -> Result<Option<DocMeta>> {
    Ok(tx
        .query_row(
            &format!("SELECT {DOC_COLUMNS} FROM docs WHERE id = ?1"),
            [id],
            meta_row,
        )
        .optional()?)
}

impl SqliteStorage {
    /// Opens (creating if needed) the encrypted store in `dir` with `key`; records' bytes are
    /// sealed under their own keys, kept in `keys`.
    pub fn open(dir: &Path, key: &StoreKey, keys: RecordKeys) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let lock = crate::rotate::serving_lock(dir)?;
        let conn = Connection::open(dir.join(DB_FILE))?;
        provide_core::store::schema::apply_key(&conn, key).map_err(|_| {
            ServerError::Key("the server store cannot be decrypted with this key".into())
        })?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;
             PRAGMA temp_store = MEMORY; PRAGMA busy_timeout = 10000;",
        )?;
        migrate(&conn)?;
        conn.execute(
            "INSERT OR IGNORE INTO secrets (name, value) VALUES (?1, ?2)",
            params![IDENTITY_KEY_NAME, new_identity_key_hex().as_str()],
        )?;
        let stored = zeroize::Zeroizing::new(conn.query_row(
            "SELECT value FROM secrets WHERE name = ?1",
            [IDENTITY_KEY_NAME],
            |r| r.get::<_, String>(0),
        )?);
        let identity_key = identity_key_from_hex(&stored)?;
        seal_pass(&conn, &keys)?;
        backfill(&conn, &identity_key, &keys)?;
        Ok(SqliteStorage {
            conn: Mutex::new(conn),
            keys,
            _lock: lock,
            identity_key,
        })
    }

    /// The store's schema version (its last migration).
    pub fn schema_version(&self) -> Result<u32> {
        Ok(migrations::version(&self.conn())?)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // a panic while holding the lock leaves SQLite itself consistent (transactions roll
        // back on drop), so a poisoned lock is still safe to use
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Storage for SqliteStorage {
    fn publish_reference(&self, item: &PublishedItem, audit: &AuditEvent) -> Result<()> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        let added = tx.execute(
            "INSERT OR IGNORE INTO reference_data (kind, id, version, body, published_at) VALUES (?1,?2,?3,?4,?5)",
            params![item.kind, item.id, item.version, item.body, item.published_at],
        )?;
        if added == 0 {
            return Err(ServerError::InvalidInput(format!(
                "{} {} version {} is already published, and a published version never changes",
                item.kind, item.id, item.version
            )));
        }
        insert_audit(&tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    fn published_reference(&self) -> Result<Vec<PublishedItem>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT kind, id, version, body, published_at FROM reference_data ORDER BY published_at, kind, id, version",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PublishedItem {
                kind: r.get(0)?,
                id: r.get(1)?,
                version: r.get(2)?,
                body: r.get(3)?,
                published_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn create_enrolment(
        &self,
        code_hash: &str,
        user: &UserProfile,
        expires_at_ms: i64,
        audit: &AuditEvent,
    ) -> Result<()> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        tx.execute(
            "INSERT INTO enrolments (code_hash, user_name, role, division, team, expires_at_ms) VALUES (?1,?2,?3,?4,?5,?6)",
            params![code_hash, user.name, user.role.as_str(), user.division, user.team, expires_at_ms],
        )?;
        insert_audit(&tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    fn redeem_code(
        &self,
        code_hash: &str,
        redemption: &Redemption,
        decide: &dyn Fn(Option<&EnrolmentCode>) -> Result<AuditEvent>,
    ) -> Result<UserProfile> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        let code = tx
            .query_row(
                "SELECT user_name, role, division, team, expires_at_ms, used_by FROM enrolments WHERE code_hash = ?1",
                [code_hash],
                |r| {
                    Ok(EnrolmentCode {
                        user: UserProfile {
                            name: r.get(0)?,
                            role: role(&r.get::<_, String>(1)?)?,
                            division: r.get(2)?,
                            team: r.get(3)?,
                        },
                        expires_at_ms: r.get(4)?,
                        spent: r.get::<_, Option<String>>(5)?.is_some(),
                    })
                },
            )
            .optional()?;
        let event = decide(code.as_ref())?;
        let Some(code) = code else {
            return Err(ServerError::EnrolmentRefused);
        };
        let user = code.user;
        let found = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<bool> {
            Ok(tx.query_row(sql, p, |_| Ok(())).optional()?.is_some())
        };
        let device_id = redemption.device_id();
        if found(
            "SELECT 1 FROM devices WHERE id = ?1 AND user_name = ?2 UNION ALL SELECT 1 FROM device_users WHERE device_id = ?1 AND user_name = ?2",
            &[&device_id, &user.name],
        )? {
            return Err(ServerError::Forbidden(
                "this user is already on this device".into(),
            ));
        }
        if found(
            "SELECT 1 FROM devices WHERE actor = ?1 UNION ALL SELECT 1 FROM device_users WHERE actor = ?1",
            &[&redemption.actor()],
        )? {
            return Err(ServerError::InvalidInput(
                "this actor id is already registered".into(),
            ));
        }
        tx.execute(
            "UPDATE enrolments SET used_by = ?2 WHERE code_hash = ?1",
            params![code_hash, device_id],
        )?;
        match redemption {
            Redemption::Device(d) => tx.execute(
                "INSERT INTO devices (id, user_name, role, division, team, actor, credential_hash, enrolled_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                params![d.id, user.name, user.role.as_str(), user.division, user.team, d.actor, d.credential_hash, now_text()],
            )?,
            Redemption::DeviceUser(u) => tx.execute(
                "INSERT INTO device_users (device_id, user_name, role, division, team, actor, added_at) VALUES (?1,?2,?3,?4,?5,?6,?7)",
                params![u.device_id, user.name, user.role.as_str(), user.division, user.team, u.actor, now_text()],
            )?,
        };
        insert_audit(&tx, std::slice::from_ref(&event))?;
        tx.commit()?;
        Ok(user)
    }

    fn device(&self, id: &str) -> Result<Option<Device>> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1"),
                [id],
                device_row,
            )
            .optional()?)
    }

    fn devices(&self) -> Result<Vec<Device>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY enrolled_at, id"
        ))?;
        let rows = stmt.query_map([], device_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn revoke(
        &self,
        which: Revoke,
        void_codes_of: Option<&str>,
        audit: &dyn Fn(&[RevokedDevice]) -> Vec<AuditEvent>,
    ) -> Result<Vec<RevokedDevice>> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        let (sql, key) = match which {
            Revoke::Device(id) => (
                "UPDATE devices SET revoked = 1 WHERE id = ?1 RETURNING id, user_name",
                id,
            ),
            Revoke::DevicesOf(user) => (
                "UPDATE devices SET revoked = 1 WHERE user_name = ?1 AND revoked = 0 RETURNING id, user_name",
                user,
            ),
        };
        let revoked = {
            let mut stmt = tx.prepare(sql)?;
            let rows = stmt.query_map([key], |r| {
                Ok(RevokedDevice {
                    id: r.get(0)?,
                    user: r.get(1)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        if let Some(user) = void_codes_of {
            tx.execute(
                "UPDATE enrolments SET used_by = 'revoked' WHERE user_name = ?1 AND used_by IS NULL",
                [user],
            )?;
        }
        insert_audit(&tx, &audit(&revoked))?;
        tx.commit()?;
        Ok(revoked)
    }

    fn actors_of_user(&self, user: &str) -> Result<HashSet<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT actor FROM devices WHERE user_name = ?1 UNION SELECT actor FROM device_users WHERE user_name = ?1")?;
        let rows = stmt.query_map([user], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn actors_of_device(&self, device: &str) -> Result<HashSet<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT actor FROM devices WHERE id = ?1 UNION SELECT actor FROM device_users WHERE device_id = ?1",
        )?;
        let rows = stmt.query_map([device], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn team_actors(&self, division: &str, team: &str) -> Result<HashMap<String, ActorOwner>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT actor, id, user_name, role, enrolled_at FROM devices
               WHERE division = ?1 AND team = ?2 AND revoked = 0
             UNION ALL
             SELECT u.actor, u.device_id, u.user_name, u.role, u.added_at
               FROM device_users u JOIN devices d ON d.id = u.device_id
               WHERE d.division = ?1 AND d.team = ?2 AND d.revoked = 0",
        )?;
        let rows = stmt.query_map([division, team], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ),
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (actor, owner) = row?;
            out.insert(actor, owner_of(owner)?);
        }
        Ok(out)
    }

    fn actor_owner(&self, actor: &str) -> Result<Option<ActorOwner>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT id, user_name, role, enrolled_at FROM devices WHERE actor = ?1 UNION ALL SELECT device_id, user_name, role, added_at FROM device_users WHERE actor = ?1",
                [actor.to_lowercase()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()?;
        row.map(owner_of).transpose()
    }

    fn open_final_upload(&self, device: &str, now_ms: i64) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO final_uploads (device_id, opened_at_ms) VALUES (?1, ?2)",
            params![device, now_ms],
        )?;
        Ok(conn.query_row(
            "SELECT opened_at_ms FROM final_uploads WHERE device_id = ?1",
            [device],
            |r| r.get(0),
        )?)
    }

    fn hold_for_review(
        &self,
        device: &str,
        record: &str,
        kind: RecordKind,
        changes: &[u8],
        at: &str,
    ) -> Result<()> {
        let conn = self.conn();
        let epoch: i64 = conn
            .query_row("SELECT epoch FROM docs WHERE id = ?1", [record], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0);
        let sealed = self.keys.seal(&key_name(record, epoch as u32), changes)?;
        conn.execute(
            "INSERT INTO held_for_review (device_id, record_id, kind, changes, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![device, record, kind.as_str(), sealed, at],
        )?;
        Ok(())
    }

    fn mark_restored(&self) -> Result<usize> {
        self.reconcile_erasures()?;
        let conn = self.conn();
        Ok(conn.execute(
            "INSERT OR IGNORE INTO resync (device_id) SELECT id FROM devices",
            [],
        )?)
    }

    fn erase(
        &self,
        ids: &[String],
        at: &str,
        by: &str,
        audit: &EraseAudit,
    ) -> Result<Vec<(String, RecordKind)>> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        let mut erased = Vec::new();
        for id in ids {
            if is_erased(&tx, id)? {
                continue;
            }
            let kind: Option<String> = tx
                .query_row(
                    "SELECT kind FROM docs WHERE id = ?1
                     UNION ALL SELECT kind FROM held_for_review WHERE record_id = ?1 LIMIT 1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(kind) = kind else { continue };
            let kind = RecordKind::parse(&kind).map_err(ServerError::Storage)?;
            erase_rows(&tx, id, kind, at, by)?;
            erased.push((id.clone(), kind));
        }
        insert_audit(&tx, &audit(&erased))?;
        tx.commit()?;
        // every id asked for that is erased loses its key, also one an interrupted erasure
        // left behind
        let gone: Vec<String> = ids
            .iter()
            .filter(|id| is_erased(&conn, id).unwrap_or(false))
            .cloned()
            .collect();
        self.keys.destroy(&gone)?;
        checkpoint(&conn);
        Ok(erased)
    }

    fn reroot(&self, id: &str, decide: &mut dyn FnMut(StoredDoc) -> Result<Reroot>) -> Result<u32> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        if is_erased(&tx, id)? {
            return Err(ServerError::Erased(id.to_string()));
        }
        let Some(stored) = load_in(&tx, id, &self.keys)? else {
            return Err(ServerError::InvalidInput(format!(
                "there is no record {id}"
            )));
        };
        let old = stored.meta.epoch;
        let epoch = old.checked_add(1).ok_or_else(|| {
            ServerError::InvalidInput("the record cannot be re-rooted again".into())
        })?;
        let r = decide(stored)?;
        let sealed = self.keys.seal(&key_name(id, epoch), &r.bytes)?;
        let seq: i64 = tx.query_row(
            "UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value",
            [],
            |row| row.get(0),
        )?;
        tx.execute(
            "UPDATE docs SET heads = ?2, seq = ?3, epoch = ?4 WHERE id = ?1",
            params![id, heads_text(&r.heads), seq, epoch],
        )?;
        tx.execute("DELETE FROM doc_chunks WHERE doc_id = ?1", [id])?;
        tx.execute(
            "INSERT INTO doc_chunks (doc_id, n, bytes) VALUES (?1, 0, ?2)",
            params![id, sealed],
        )?;
        if let Some(a) = &r.attendance {
            put_attendance(&tx, a)?;
        }
        tx.execute("DELETE FROM held_for_review WHERE record_id = ?1", [id])?;
        // every device is to be sent the new epoch whole
        tx.execute(
            "UPDATE deliveries SET heads = '', pending_heads = NULL, pending_cursor = NULL
             WHERE doc_id = ?1 AND purged = 0",
            [id],
        )?;
        let at = now_text();
        for (path, digest) in &r.struck {
            tx.execute(
                "INSERT OR IGNORE INTO rectifications (doc_id, epoch, path, digest, actor, by_user, role, at)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                params![id, epoch, path, digest, r.actor, r.by, r.role.as_str(), at],
            )?;
        }
        insert_audit(&tx, std::slice::from_ref(&r.audit))?;
        tx.commit()?;
        self.keys.destroy_epoch(id, old)?;
        checkpoint(&conn);
        Ok(epoch)
    }

    fn struck(&self, id: &str, epoch: u32) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        let rows = conn
            .prepare_cached(
                "SELECT path, digest FROM rectifications WHERE doc_id = ?1 AND epoch = ?2 ORDER BY path, digest",
            )?
            .query_map(params![id, epoch], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn rectifier(&self, actor: &str) -> Result<Option<(String, Role)>> {
        let conn = self.conn();
        let row: Option<(String, String)> = conn
            .query_row(
                "SELECT by_user, role FROM rectifications WHERE actor = ?1 LIMIT 1",
                [actor],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(u, r)| Ok((u, role(&r)?)))
            .transpose()
            .map_err(|e: rusqlite::Error| e.into())
    }

    fn erasure(&self, id: &str) -> Result<Option<Erasure>> {
        let conn = self.conn();
        let Some((kind, erased_at, erased_by)) = conn
            .query_row(
                "SELECT kind, erased_at, erased_by FROM erasures WHERE doc_id = ?1",
                [id],
                |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
        else {
            return Ok(None);
        };
        let devices = conn
            .prepare(
                "SELECT device_id, confirmed_at FROM erasure_holders WHERE doc_id = ?1 ORDER BY device_id",
            )?
            .query_map([id], |r| {
                Ok(ErasureHolder {
                    device: r.get(0)?,
                    confirmed_at: r.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(Erasure {
            record: id.to_string(),
            kind: RecordKind::parse(&kind).map_err(ServerError::Storage)?,
            erased_at,
            erased_by,
            devices,
        }))
    }

    fn erased_among(&self, ids: &[String]) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut out = Vec::new();
        for id in ids {
            if is_erased(&conn, id)? {
                out.push(id.clone());
            }
        }
        Ok(out)
    }

    fn erasures_pending(&self, device: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let ids = conn
            .prepare_cached(
                "SELECT doc_id FROM erasure_holders WHERE device_id = ?1 AND confirmed_at IS NULL
                 ORDER BY doc_id LIMIT 500",
            )?
            .query_map([device], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    fn erasure_holder(&self, id: &str, device: &str) -> Result<()> {
        self.conn().execute(
            "INSERT OR IGNORE INTO erasure_holders (doc_id, device_id) VALUES (?1, ?2)",
            params![id, device],
        )?;
        Ok(())
    }

    fn confirm_erasures(&self, device: &str, ids: &[String], at: &str) -> Result<usize> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        let mut n = 0;
        for id in ids {
            n += tx.execute(
                "UPDATE erasure_holders SET confirmed_at = ?3
                 WHERE device_id = ?1 AND doc_id = ?2 AND confirmed_at IS NULL",
                params![device, id, at],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    fn resync_pending(&self, device: &str) -> Result<bool> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT 1 FROM resync WHERE device_id = ?1",
                [device],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn resync_done(&self, device: &str) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM resync WHERE device_id = ?1", [device])?;
        Ok(())
    }

    fn held_for_review(&self) -> Result<Vec<HeldRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT h.device_id, h.record_id, h.kind, h.changes, h.at, COALESCE(d.epoch, 0)
             FROM held_for_review h LEFT JOIN docs d ON d.id = h.record_id ORDER BY h.n",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (device, record, kind, changes, at, epoch) = r?;
            let changes = self.keys.open(&key_name(&record, epoch as u32), changes)?;
            out.push(held_of(device, record, &kind, changes, at)?);
        }
        Ok(out)
    }

    fn claim_request(&self, device: &str, seq: u64, now: &str) -> Result<bool> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE devices SET last_request_seq = ?2, last_seen = ?3 WHERE id = ?1 AND last_request_seq < ?2",
            params![device, seq as i64, now],
        )?;
        Ok(n == 1)
    }

    fn doc_meta(&self, id: &str) -> Result<Option<DocMeta>> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                &format!("SELECT {DOC_COLUMNS} FROM docs WHERE id = ?1"),
                [id],
                meta_row,
            )
            .optional()?)
    }

    fn load_doc(&self, id: &str) -> Result<Option<StoredDoc>> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let doc = load_in(&tx, id, &self.keys)?;
        tx.commit()?;
        Ok(doc)
    }

    fn update_doc(&self, id: &str, decide: &mut Decide) -> Result<Option<u64>> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        if is_erased(&tx, id)? {
            return Err(ServerError::Erased(id.to_string()));
        }
        let stored = load_in(&tx, id, &self.keys)?;
        let chunk_count = stored.as_ref().map(|s| s.chunks.len()).unwrap_or(0);
        let epoch = stored.as_ref().map_or(0, |s| s.meta.epoch);
        let Some(write) = decide(stored)? else {
            return Ok(None);
        };
        let sealed = if write.bytes.is_empty() {
            vec![]
        } else {
            self.keys.seal(&key_name(id, epoch), &write.bytes)?
        };
        let seq: i64 = tx.query_row(
            "UPDATE counters SET value = value + 1 WHERE name = 'change_seq' RETURNING value",
            [],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO docs (id, kind, division, team, heads, seq, status, status_since_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)
             ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, division = excluded.division,
             team = excluded.team, heads = excluded.heads, seq = excluded.seq,
             status = excluded.status, status_since_ms = excluded.status_since_ms",
            params![
                id,
                write.kind.as_str(),
                write.division,
                write.team,
                heads_text(&write.heads),
                seq,
                write.standing.status.map(|s| s.as_str()),
                write.standing.status.map(|_| write.standing.since_ms),
            ],
        )?;
        if write.replace {
            tx.execute("DELETE FROM doc_chunks WHERE doc_id = ?1", [id])?;
            tx.execute(
                "INSERT INTO doc_chunks (doc_id, n, bytes) VALUES (?1, 0, ?2)",
                params![id, sealed],
            )?;
        } else if !sealed.is_empty() {
            tx.execute(
                "INSERT INTO doc_chunks (doc_id, n, bytes) VALUES (?1, ?2, ?3)",
                params![id, chunk_count as i64, sealed],
            )?;
        }
        if let Some(a) = &write.attendance {
            put_attendance(&tx, a)?;
        }
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
        let conn = self.conn();
        let tx = conn.unchecked_transaction()?;
        let upper: i64 = tx.query_row(
            "SELECT value FROM counters WHERE name = 'change_seq'",
            [],
            |r| r.get(0),
        )?;
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {DOC_COLUMNS} FROM docs
             WHERE seq > ?1 AND seq <= ?2
               AND ((division = ?3 AND (?6 IS NULL OR team = ?6))
                    OR id IN (SELECT doc_id FROM deliveries WHERE device_id = ?4))
             ORDER BY seq LIMIT ?5"
        ))?;
        let rows = stmt.query_map(
            params![
                cursor as i64,
                upper,
                division,
                device,
                (limit + 1) as i64,
                team
            ],
            meta_row,
        )?;
        let mut docs: Vec<DocMeta> = rows.collect::<Result<_, _>>()?;
        let truncated = docs.len() > limit;
        docs.truncate(limit);
        drop(stmt);
        tx.commit()?;
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
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {}, v.fetched_ms FROM docs d JOIN deliveries v ON v.doc_id = d.id
             WHERE v.device_id = ?1 AND v.purge_cursor IS NULL AND v.purged = 0
               AND d.status IN (SELECT value FROM json_each(?2)) AND d.status_since_ms <= ?3
               AND (v.fetched_ms IS NULL OR v.fetched_ms <= ?3)
             ORDER BY d.status_since_ms, d.id LIMIT ?4",
            doc_columns_of("d")
        ))?;
        let statuses = serde_json::to_string(statuses)
            .map_err(|_| ServerError::Internal("statuses could not be written".into()))?;
        let rows = stmt.query_map(params![device, statuses, before_ms, limit as i64], |r| {
            Ok((meta_row(r)?, r.get(DOC_COLUMN_COUNT)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn holding(&self, device: &str, doc: &str) -> Result<Option<Holding>> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT fetched_ms FROM deliveries WHERE device_id = ?1 AND doc_id = ?2 AND purge_cursor IS NULL AND purged = 0",
                params![device, doc],
                |r| Ok(Holding { fetched_ms: r.get(0)? }),
            )
            .optional()?)
    }

    fn find_cases(&self, digests: &[String], division: &str, limit: usize) -> Result<Vec<DocMeta>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM docs d WHERE d.kind = 'case' AND d.division = ?2 AND d.id IN
             (SELECT case_id FROM case_keys WHERE digest IN (SELECT value FROM json_each(?1)))
             ORDER BY d.status_since_ms DESC, d.id LIMIT ?3",
            doc_columns_of("d")
        ))?;
        let digests = serde_json::to_string(digests)
            .map_err(|_| ServerError::Internal("digests could not be written".into()))?;
        let rows = stmt.query_map(params![digests, division, limit as i64], meta_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn claim_fetch(&self, user: &str, now_ms: i64, quotas: &[(i64, u64)]) -> Result<Option<i64>> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        let longest = quotas.iter().map(|q| q.0).max().unwrap_or(0);
        tx.execute(
            "DELETE FROM fetch_quota WHERE user_name = ?1 AND at_ms <= ?2",
            params![user, now_ms - longest],
        )?;
        let mut wait: Option<i64> = None;
        for (window, max) in quotas {
            let (n, oldest): (i64, Option<i64>) = tx.query_row(
                "SELECT count(*), min(at_ms) FROM fetch_quota WHERE user_name = ?1 AND at_ms > ?2",
                params![user, now_ms - window],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if n as u64 >= *max {
                let until = oldest.unwrap_or(now_ms) + window - now_ms;
                wait = Some(wait.map_or(until, |w| w.max(until)));
            }
        }
        if wait.is_none() {
            tx.execute(
                "INSERT INTO fetch_quota (user_name, at_ms) VALUES (?1, ?2)",
                params![user, now_ms],
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
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO deliveries (device_id, doc_id, heads, pending_heads, pending_cursor, fetched_ms) VALUES (?1,?2,'',?3,?4,?5)
                 ON CONFLICT(device_id, doc_id) DO UPDATE SET pending_heads = excluded.pending_heads,
                 pending_cursor = excluded.pending_cursor, fetched_ms = excluded.fetched_ms,
                 purge_cursor = NULL, purged = 0",
            )?;
            for (doc, heads) in delivered {
                put.execute(params![
                    device,
                    doc,
                    heads_text(heads),
                    cursor as i64,
                    now_ms
                ])?;
            }
        }
        insert_audit(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn set_retention(&self, division: &str, grace_hours: u32, audit: &AuditEvent) -> Result<()> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        tx.execute(
            "INSERT INTO retention (division, handover_grace_hours, set_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(division) DO UPDATE SET handover_grace_hours = excluded.handover_grace_hours,
             set_at = excluded.set_at",
            params![division, grace_hours, now_text()],
        )?;
        insert_audit(&tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    fn retentions(&self) -> Result<Vec<RetentionPolicy>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT division, handover_grace_hours, set_at FROM retention ORDER BY division",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(RetentionPolicy {
                division: r.get(0)?,
                handover_grace_hours: r.get(1)?,
                set_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_review_period(
        &self,
        division: &str,
        class: &str,
        months: u32,
        audit: &AuditEvent,
    ) -> Result<()> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        tx.execute(
            "INSERT INTO review_periods (division, class, review_after_months, set_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(division, class) DO UPDATE SET review_after_months = excluded.review_after_months,
             set_at = excluded.set_at",
            params![division, class, months, now_text()],
        )?;
        insert_audit(&tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    fn review_periods(&self) -> Result<Vec<ReviewPeriod>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT division, class, review_after_months, set_at FROM review_periods
             ORDER BY division, class",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ReviewPeriod {
                division: r.get(0)?,
                class: r.get(1)?,
                review_after_months: r.get(2)?,
                set_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_review(&self, d: &ReviewDecision, audit: &AuditEvent) -> Result<()> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        tx.execute(
            "INSERT INTO review_decisions (record_id, kind, class, decision, retain_until, reason,
             decided_by, device_id, decided_at, decided_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
            params![
                d.record,
                d.kind.as_str(),
                d.class,
                d.decision.as_str(),
                d.retain_until,
                d.reason,
                d.decided_by,
                d.device,
                d.decided_at,
                d.decided_ms
            ],
        )?;
        insert_audit(&tx, std::slice::from_ref(audit))?;
        tx.commit()?;
        Ok(())
    }

    fn review_decisions(&self, record: &str) -> Result<Vec<ReviewDecision>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT record_id, kind, class, decision, retain_until, reason, decided_by, device_id,
             decided_at, decided_ms FROM review_decisions WHERE record_id = ?1
             ORDER BY decided_ms, id",
        )?;
        let rows = stmt.query_map([record], |r| {
            Ok(ReviewDecision {
                record: r.get(0)?,
                kind: kind(&r.get::<_, String>(1)?)?,
                class: r.get(2)?,
                decision: decision(&r.get::<_, String>(3)?)?,
                retain_until: r.get(4)?,
                reason: r.get(5)?,
                decided_by: r.get(6)?,
                device: r.get(7)?,
                decided_at: r.get(8)?,
                decided_ms: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn due_for_review(&self, q: &DueQuery) -> Result<Vec<DueCandidate>> {
        let conn = self.conn();
        // the latest decision since the closure, and the division's own cutoff if it has one
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DOC_COLUMNS}, held FROM (
                 SELECT {}, (SELECT r.retain_until FROM review_decisions r
                     WHERE r.record_id = d.id AND r.decided_ms >= d.status_since_ms
                     ORDER BY r.decided_ms DESC, r.id DESC LIMIT 1) AS held,
                   COALESCE((SELECT o.value FROM json_each(?4) o WHERE o.key = d.division), ?3)
                     AS before_ms
                 FROM docs d WHERE d.kind = ?1 AND d.status = 'closed'
                   AND (?2 IS NULL OR d.division = ?2))
             WHERE (held IS NULL AND status_since_ms < before_ms) OR held <= ?5
             ORDER BY status_since_ms, id LIMIT ?6",
            doc_columns_of("d")
        ))?;
        let cutoffs: serde_json::Map<String, serde_json::Value> = q
            .division_closed_before_ms
            .iter()
            .map(|(d, ms)| (d.clone(), serde_json::Value::from(*ms)))
            .collect();
        let cutoffs = serde_json::Value::Object(cutoffs).to_string();
        let rows = stmt.query_map(
            params![
                q.kind.as_str(),
                q.division,
                q.closed_before_ms,
                cutoffs,
                q.as_of,
                q.limit as i64
            ],
            |r| {
                Ok(DueCandidate {
                    meta: meta_row(r)?,
                    retained_until: r.get(DOC_COLUMN_COUNT)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn known_heads(&self, device: &str, doc: &str) -> Result<Option<Vec<ChangeHash>>> {
        let conn = self.conn();
        let heads: Option<String> = conn
            .query_row(
                "SELECT heads FROM deliveries WHERE device_id = ?1 AND doc_id = ?2 AND purged = 0",
                [device, doc],
                |r| r.get(0),
            )
            .optional()?;
        Ok(heads.map(|h| parse_heads(&h)))
    }

    fn ever_held(&self, device: &str, doc: &str) -> Result<bool> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT 1 FROM deliveries WHERE device_id = ?1 AND doc_id = ?2",
                [device, doc],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn set_known_heads(&self, device: &str, doc: &str, heads: &[ChangeHash]) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO deliveries (device_id, doc_id, heads) VALUES (?1,?2,?3)
             ON CONFLICT(device_id, doc_id) DO UPDATE SET heads = excluded.heads, purged = 0,
             purge_cursor = NULL",
            params![device, doc, heads_text(heads)],
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
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO deliveries (device_id, doc_id, heads, pending_heads, pending_cursor) VALUES (?1,?2,'',?3,?4)
                 ON CONFLICT(device_id, doc_id) DO UPDATE SET pending_heads = excluded.pending_heads,
                 pending_cursor = excluded.pending_cursor, purge_cursor = NULL, purged = 0",
            )?;
            for (doc, heads) in delivered {
                put.execute(params![device, doc, heads_text(heads), cursor as i64])?;
            }
            let mut purge = tx.prepare_cached(
                "UPDATE deliveries SET purge_cursor = ?3 WHERE device_id = ?1 AND doc_id = ?2",
            )?;
            for doc in purged {
                purge.execute(params![device, doc, cursor as i64])?;
            }
        }
        insert_audit(&tx, audit)?;
        tx.commit()?;
        Ok(())
    }

    fn confirm_deliveries(&self, device: &str, cursor: u64) -> Result<()> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        let c = cursor as i64;
        tx.execute(
            // kept as a mark that the device held the record and was told to let it go: what
            // it hands in for it later (edits it held back) is kept for review, not refused
            "UPDATE deliveries SET purged = 1, heads = '', pending_heads = NULL, pending_cursor = NULL,
             purge_cursor = NULL, fetched_ms = NULL
             WHERE device_id = ?1 AND purge_cursor IS NOT NULL AND purge_cursor <= ?2",
            params![device, c],
        )?;
        tx.execute(
            "UPDATE deliveries SET heads = pending_heads, pending_heads = NULL, pending_cursor = NULL
             WHERE device_id = ?1 AND pending_cursor IS NOT NULL AND pending_cursor <= ?2",
            params![device, c],
        )?;
        tx.execute(
            "UPDATE deliveries SET pending_heads = NULL, pending_cursor = NULL
             WHERE device_id = ?1 AND pending_cursor > ?2",
            params![device, c],
        )?;
        tx.execute(
            "UPDATE deliveries SET purge_cursor = NULL WHERE device_id = ?1 AND purge_cursor > ?2",
            params![device, c],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn append_audit(&self, events: &[AuditEvent]) -> Result<()> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        insert_audit(&tx, events)?;
        tx.commit()?;
        Ok(())
    }

    fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditRow>> {
        let conn = self.conn();
        let order = if f.newest_first { "DESC" } else { "ASC" };
        let mut stmt = conn.prepare(&format!(
            "SELECT seq, at, device, user_name, action, record, detail FROM audit
             WHERE (?1 IS NULL OR device = ?1) AND (?2 IS NULL OR user_name = ?2)
               AND (?3 IS NULL OR record = ?3) AND (?4 IS NULL OR action = ?4)
               AND (?6 IS NULL OR at >= ?6) AND (?7 IS NULL OR at < ?7)
               AND (?8 IS NULL
                    OR (record <> '' AND record IN
                        (SELECT id FROM docs WHERE division = ?8 AND kind <> 'health'))
                    OR (record = '' AND device IN (SELECT id FROM devices WHERE division = ?8)))
             ORDER BY seq {order} LIMIT ?5"
        ))?;
        let q = &f.entries;
        let limit = q.limit.map(i64::from).unwrap_or(i64::MAX);
        let rows = stmt.query_map(
            params![q.device, q.user, q.record, q.action, limit, q.from, q.until, f.division],
            |r| {
                Ok(AuditRow {
                    seq: r.get::<_, i64>(0)? as u64,
                    at: r.get(1)?,
                    device: r.get(2)?,
                    user: r.get(3)?,
                    action: r.get(4)?,
                    record: r.get(5)?,
                    detail: r.get(6)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit_chain(&self, after: i64, limit: i64) -> Result<Vec<ServerEntry>> {
        Ok(audit_page(&self.conn(), after, limit)?)
    }

    fn audit_head(&self) -> Result<Option<Anchor>> {
        audit_head_in(&self.conn())
    }

    fn device_audit_head(&self, device: &str) -> Result<Option<(i64, String)>> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT seq, hash FROM device_audit WHERE device_id = ?1 ORDER BY seq DESC LIMIT 1",
                [device],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    fn append_device_audit(&self, device: &str, entries: &[Entry]) -> Result<()> {
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO device_audit (device_id, seq, at, user_name, role, action, record, detail, prev_hash, hash)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
            )?;
            for e in entries {
                stmt.execute(params![
                    device,
                    e.seq,
                    e.at,
                    e.user,
                    e.role,
                    e.action,
                    e.record,
                    e.detail,
                    e.prev_hash,
                    e.hash
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn device_audit(&self, device: &str) -> Result<Vec<Entry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, at, user_name, role, action, record, detail, prev_hash, hash FROM device_audit WHERE device_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([device], |r| {
            Ok(Entry {
                seq: r.get(0)?,
                at: r.get(1)?,
                user: r.get(2)?,
                role: r.get(3)?,
                action: r.get(4)?,
                record: r.get(5)?,
                detail: r.get(6)?,
                prev_hash: r.get(7)?,
                hash: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn identity_key(&self) -> &[u8; 32] {
        &self.identity_key
    }

    fn attendances(&self, division: Option<&str>, from: &str, to: &str) -> Result<Vec<Attendance>> {
        let conn = self.conn();
        let div = division_clause(division);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT facts FROM attendance
             WHERE {div} AND status <> 'triaged'
               AND incident_date >= ?2 AND incident_date <= ?3"
        ))?;
        let texts = stmt
            .query_map(params![division, from, to], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        texts.iter().map(|t| facts_of(t)).collect()
    }

    fn sightings(&self, division: Option<&str>, from: &str, to: &str) -> Result<Vec<Sighting>> {
        let conn = self.conn();
        let div = division_clause(division);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT victim_digest, case_id, incident_date FROM attendance
             WHERE {div} AND status <> 'triaged'
               AND incident_date < ?2
               AND victim_digest IN (SELECT victim_digest FROM attendance
                   WHERE {div} AND status <> 'triaged'
                     AND incident_date >= ?2 AND incident_date <= ?3
                     AND victim_digest IS NOT NULL)"
        ))?;
        let rows = stmt.query_map(params![division, from, to], |r| {
            Ok(Sighting {
                victim_digest: r.get(0)?,
                case_id: r.get(1)?,
                incident_date: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn cases_of_victim(&self, digest: &str, limit: usize) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT case_id FROM attendance WHERE victim_digest = ?1 ORDER BY case_id LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let ids = stmt
            .query_map(params![digest, limit], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids)
    }

    fn ping(&self) -> Result<()> {
        self.conn().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn count_docs(&self) -> Result<u64> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM docs", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn pool_use(&self) -> super::PoolUse {
        // one connection behind a lock: in use while the lock is held
        let in_use = usize::from(self.conn.try_lock().is_err());
        super::PoolUse {
            in_use,
            idle: 1 - in_use,
            max: 1,
        }
    }
}

/// The division condition on `?1`: a plain comparison, so the planner can use the indexes (a
/// bound `?1 IS NULL OR division = ?1` defeats them).
fn division_clause(division: Option<&str>) -> &'static str {
    if division.is_some() {
        "division = ?1"
    } else {
        "?1 IS NULL"
    }
}

/// Derives the reporting rows of case documents that have none, or one from an older build.
fn backfill(conn: &Connection, identity_key: &[u8; 32], keys: &RecordKeys) -> Result<()> {
    let tx = write_tx(conn)?;
    let ids: Vec<String> = tx
        .prepare(
            "SELECT d.id FROM docs d WHERE d.kind = 'case' AND NOT EXISTS
             (SELECT 1 FROM attendance a WHERE a.case_id = d.id AND a.version >= ?1)",
        )?
        .query_map([PROJECTION_VERSION], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in ids {
        if let Some(stored) = load_in(&tx, &id, keys)? {
            if let Some(a) = project(&id, &stored.chunks, identity_key) {
                put_attendance(&tx, &a)?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

fn load_in(tx: &Transaction, id: &str, keys: &RecordKeys) -> Result<Option<StoredDoc>> {
    let Some(meta) = meta_of(tx, id)? else {
        return Ok(None);
    };
    let mut stmt =
        tx.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY n")?;
    let chunks = stmt
        .query_map([id], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let chunks = keys.open_all(&key_name(id, meta.epoch), chunks)?;
    Ok(Some(StoredDoc { meta, chunks }))
}

/// Deletes every row of the record, keeping the tombstone of its id and the devices that held
/// it (`Storage::erase`).
fn erase_rows(tx: &Connection, id: &str, kind: RecordKind, at: &str, by: &str) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO erasures (doc_id, kind, erased_at, erased_by) VALUES (?1,?2,?3,?4)",
        params![id, kind.as_str(), at, by],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO erasure_holders (doc_id, device_id)
         SELECT doc_id, device_id FROM deliveries WHERE doc_id = ?1 AND purged = 0",
        [id],
    )?;
    for (table, column) in [
        ("doc_chunks", "doc_id"),
        ("docs", "id"),
        ("deliveries", "doc_id"),
        ("attendance", "case_id"),
        ("case_keys", "case_id"),
        ("held_for_review", "record_id"),
    ] {
        tx.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), [id])?;
    }
    Ok(())
}

impl SqliteStorage {
    /// After a restore from a backup taken before some erasures: every record the key store
    /// says was erased is erased here too
    /// (its rows, if the backup has them, deleted; its tombstone kept).
    fn reconcile_erasures(&self) -> Result<()> {
        let ids = self.keys.destroyed()?;
        let mut missing = 0;
        {
            let conn = self.conn();
            let stored: Vec<(String, i64)> = conn
                .prepare("SELECT id, epoch FROM docs")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            for (id, epoch) in stored {
                let sealed: bool = conn
                    .prepare_cached(
                        "SELECT 1 FROM doc_chunks WHERE doc_id = ?1 AND substr(bytes, 1, 4) = ?2",
                    )?
                    .exists(params![id, &SEALED_MAGIC[..]])?;
                if sealed
                    && !ids.contains(&id)
                    && !self.keys.has_key(&key_name(&id, epoch as u32))?
                {
                    missing += 1;
                }
            }
        }
        if missing > 0 {
            return Err(missing_keys(missing));
        }
        let conn = self.conn();
        let tx = write_tx(&conn)?;
        let at = now_text();
        for id in &ids {
            if is_erased(&tx, id)? {
                continue;
            }
            let kind = if id.ends_with(".health") {
                RecordKind::Health
            } else {
                tx.query_row("SELECT kind FROM docs WHERE id = ?1", [id], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?
                .and_then(|k| RecordKind::parse(&k).ok())
                .unwrap_or(RecordKind::Case)
            };
            erase_rows(&tx, id, kind, &at, "restore")?;
        }
        tx.commit()?;
        checkpoint(&conn);
        Ok(())
    }
}

fn is_erased(tx: &Connection, id: &str) -> Result<bool> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM erasures WHERE doc_id = ?1")?
        .exists([id])?)
}

/// Seals what an older release stored unsealed (every chunk, and what is held for review),
/// once: the store remembers it was done.
fn seal_pass(conn: &Connection, keys: &RecordKeys) -> Result<()> {
    let tx = write_tx(conn)?;
    if tx
        .prepare("SELECT 1 FROM secrets WHERE name = ?1")?
        .exists([SEALED_MARK])?
    {
        return Ok(());
    }
    let chunks: Vec<(String, i64, Vec<u8>)> = tx
        .prepare("SELECT doc_id, n, bytes FROM doc_chunks")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (id, n, bytes) in chunks.into_iter().filter(|c| !is_sealed(&c.2)) {
        tx.execute(
            "UPDATE doc_chunks SET bytes = ?3 WHERE doc_id = ?1 AND n = ?2",
            params![id, n, keys.seal(&id, &bytes)?],
        )?;
    }
    let held: Vec<(i64, String, Vec<u8>)> = tx
        .prepare("SELECT n, record_id, changes FROM held_for_review")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (n, id, bytes) in held.into_iter().filter(|h| !is_sealed(&h.2)) {
        tx.execute(
            "UPDATE held_for_review SET changes = ?2 WHERE n = ?1",
            params![n, keys.seal(&id, &bytes)?],
        )?;
    }
    tx.execute(
        "INSERT INTO secrets (name, value) VALUES (?1, ?2)",
        params![SEALED_MARK, now_text()],
    )?;
    tx.commit()?;
    // the plain bytes' pages were overwritten (secure_delete); the WAL's copies go now
    checkpoint(conn);
    Ok(())
}

/// Moves the WAL into the store and empties it, so no page image of deleted rows stays there;
/// a reader in the way is waited for a little.
pub(crate) fn checkpoint(conn: &Connection) {
    for _ in 0..50 {
        let busy: i64 = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
            .unwrap_or(1);
        if busy == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    tracing::warn!("the WAL could not be emptied after an erasure; it is at the next checkpoint");
}
