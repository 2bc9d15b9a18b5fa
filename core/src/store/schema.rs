//! The device database's tables, their migrations and the connection settings.
//!
//! Each record's Automerge document is kept as chunks (a snapshot, then incremental changes)
//! in `chunks`; `records` holds one row per record with the fields needed for listing and
//! search copied into indexed columns, rewritten in the same transaction as every change.

use rusqlite::Connection;

use super::migrations::{self, Migration, Upgrade};
use crate::error::Result;

/// SQLCipher and SQLite settings applied to every connection after the key.
/// `synchronous = FULL` in WAL mode: a commit that returned survives power loss.
/// With `auto_vacuum = INCREMENTAL` (`NEW_DATABASE`), `secure_delete` lets a purge leave
/// nothing of a record in the file (`purge`).
pub const PRAGMAS: &str = "
PRAGMA secure_delete = ON;
PRAGMA temp_store = MEMORY;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;
";

/// Applied to a new database before its first table: `auto_vacuum` takes effect only then
/// (`purge::ensure_reclaimable` converts an older store, once). Setting it on an existing
/// database would write its header even when unchanged, so it is never applied there.
pub const NEW_DATABASE: &str = "PRAGMA auto_vacuum = INCREMENTAL;";

pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    division TEXT NOT NULL,
    team TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- a user added to the device through the server has an actor id of their own; NULL for
    -- the enrolling user (meta actor_id)
    actor TEXT
);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    audience TEXT NOT NULL,
    case_id TEXT,
    heads TEXT NOT NULL,
    acked_heads TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    status TEXT,
    risk_level TEXT,
    risk_rank INTEGER NOT NULL DEFAULT 0,
    deployment TEXT,
    victim_name TEXT,
    incident_reference TEXT,
    division TEXT,
    team TEXT,
    search_text TEXT,
    conflict_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS records_by_kind_updated ON records (kind, updated_at DESC);
CREATE INDEX IF NOT EXISTS records_by_status ON records (kind, status);
CREATE INDEX IF NOT EXISTS records_by_risk ON records (kind, risk_level);
CREATE INDEX IF NOT EXISTS records_by_deployment ON records (kind, deployment);
-- only the records with changes the server has not acknowledged: a sync finds them without
-- reading every row
CREATE INDEX IF NOT EXISTS records_unsynced ON records (id) WHERE heads != acked_heads;
CREATE TABLE IF NOT EXISTS chunks (
    record_id TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (record_id, seq)
);
";

/// Tables added during the 0.1 series, before numbered migrations; migration 1 makes them
/// where a store lacks them.
/// `authors`: who the server registered each actor id to, learned on sync.
/// `quarantine`: records a sync brought that this device cannot use (damaged, of another
/// kind, of a newer schema, outside its scope), set aside with the reason instead of stopping
/// the sync; their bytes are kept (a newer app may read them) except where the device may not
/// hold them at all.
pub const ADDED: &str = "
CREATE TABLE IF NOT EXISTS authors (
    actor TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    role TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    bytes BLOB,
    at TEXT NOT NULL
);
";

/// Keys a SQLCipher connection with a raw 256-bit key (SQLCipher's own KDF is skipped) and
/// reads from it once: an error means the file is damaged or the key is not its key. The
/// device store and the sync server's store both open this way.
pub fn apply_key(conn: &Connection, key: &[u8; 32]) -> rusqlite::Result<()> {
    let pragma = zeroize::Zeroizing::new(format!("PRAGMA key = \"x'{}'\";", hex::encode(key)));
    conn.execute_batch(&pragma)?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(())
}

/// Gives a store made before per-user actor ids its `users.actor` column. Idempotent: stores of
/// the 0.1 series may or may not have it.
fn add_user_actor_column(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('users') WHERE name = 'actor'")?
        .exists([])?;
    if !has {
        conn.execute_batch("ALTER TABLE users ADD COLUMN actor TEXT")?;
    }
    Ok(())
}

/// The 0.1 schema, made whole: every table and column any 0.1 build had (stores made before
/// migrations have `user_version` 0 and any subset of them).
fn release_0_1(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(TABLES)?;
    conn.execute_batch(crate::audit::SCHEMA)?;
    conn.execute_batch(ADDED)?;
    add_user_actor_column(conn)
}

/// Adds `column` to `table` unless it is there already: a migration may meet a store that has
/// it (a store made by a build that had it, then marked older), and must still succeed.
fn add_column_if_missing(
    conn: &Connection,
    table: &str,
    column: &str,
    decl: &str,
) -> rusqlite::Result<()> {
    let has = conn
        .prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?
        .exists([table, column])?;
    if !has {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
    }
    Ok(())
}

/// The device store's migrations, in order (rules in `migrations`). Append only.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        about: "the 0.1 tables: records, chunks, users, audit, authors, quarantine",
        apply: release_0_1,
    },
    Migration {
        version: 2,
        about: "reference data received from the server: forms and the directory",
        apply: |c| c.execute_batch(super::reference::SCHEMA),
    },
    Migration {
        version: 3,
        about: "records.status_since: since when each case stands where it does",
        apply: add_status_since,
    },
    Migration {
        version: 4,
        about: "tombstones of records erased at the server; records' epochs (rectification)",
        apply: |c| {
            c.execute_batch(super::purge::ERASED_SCHEMA)?;
            super::purge::add_epoch(c)
        },
    },
    Migration {
        version: 5,
        about: "records.list_row: a case's contact rules, area, triage and last visit for its list rows",
        // filled from each case's document when the store is next unlocked (`fill_list_rows`)
        apply: |c| add_column_if_missing(c, "records", "list_row", "TEXT"),
    },
    Migration {
        version: 6,
        about: "drafts: work in progress of each user, kept through the lock",
        apply: |c| c.execute_batch(super::drafts::SCHEMA),
    },
    Migration {
        version: 7,
        about: "peer sync in the car: the device key and certificate, the CA and revocations, the shift's pairing, kept attestations, the ids of records purged from the device",
        apply: |c| c.execute_batch(super::peer::SCHEMA),
    },
];

/// Gives each case row the time (RFC 3339, device clock) its status last changed on this
/// device, so the case list can say when a handed-over or closed case leaves it. Cases already
/// here get the time of the upgrade: the grace period is counted from then, never from a
/// guess at the past. Health records and shifts are not listed and keep NULL.
fn add_status_since(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("ALTER TABLE records ADD COLUMN status_since TEXT")?;
    conn.execute(
        "UPDATE records SET status_since = ?1 WHERE kind = 'case'",
        [super::now_rfc3339()],
    )?;
    Ok(())
}

/// Makes a new store's tables, or brings an existing store's up to date; refuses a store
/// made by a newer release.
pub fn migrate(conn: &Connection) -> Result<Upgrade> {
    migrations::run(conn, "device store", MIGRATIONS)
}
