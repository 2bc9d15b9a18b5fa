//! Numbered schema migrations for the SQLite stores: the device store here, and the sync
//! server's embedded store, which runs its own list through the same runner.
//!
//! A store's schema version is SQLite's `PRAGMA user_version` (0 for a store made before
//! migrations existed). Every time a store opens, `run` applies the migrations above that
//! version, in order, and sets the new version, all in one `BEGIN IMMEDIATE` transaction: a
//! failure anywhere leaves the store exactly as it was, and two processes opening one store
//! at once migrate it once (the second waits, then finds nothing to do). A store whose version
//! is above the last migration this build knows was written by a newer release: it is refused
//! before anything reads it, and left untouched.
//!
//! Rules for a new migration: append it (never edit or reorder a released one), give it the
//! next number, keep it to schema and data changes SQLite can do inside a transaction, and
//! add a fixture of the release before it (`scripts/make-upgrade-fixtures.sh`).

use rusqlite::Connection;

use crate::error::{Error, Result};

/// One step of a store's schema.
pub struct Migration {
    /// 1, 2, 3… in order: the store's version after it ran.
    pub version: u32,
    /// What it changes, for the log of an upgrade.
    pub about: &'static str,
    pub apply: fn(&Connection) -> rusqlite::Result<()>,
}

/// What `run` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub from: u32,
    pub to: u32,
}

/// The version a store would reach with `migrations` (the last one's number).
pub fn latest(migrations: &[Migration]) -> u32 {
    migrations.last().map_or(0, |m| m.version)
}

/// The schema version recorded in the store.
pub fn version(conn: &Connection) -> Result<u32> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    u32::try_from(v).map_err(|_| Error::Database(format!("the schema version {v} is not valid")))
}

/// Brings the store on `conn` up to the last of `migrations` (see the module notes). `store`
/// names it in the error a newer store gets ("device store", "sync server store").
pub fn run(conn: &Connection, store: &str, migrations: &[Migration]) -> Result<Upgrade> {
    debug_assert!(migrations
        .iter()
        .enumerate()
        .all(|(i, m)| m.version as usize == i + 1));
    let supported = latest(migrations);
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        let from = version(conn)?;
        if from > supported {
            return Err(Error::StoreTooNew {
                store: store.to_string(),
                found: from,
                supported,
            });
        }
        for m in migrations.iter().filter(|m| m.version > from) {
            (m.apply)(conn).map_err(|e| {
                Error::Database(format!("migration {} ({}) failed: {e}", m.version, m.about))
            })?;
        }
        if supported > from {
            conn.execute_batch(&format!("PRAGMA user_version = {supported}"))?;
        }
        Ok(Upgrade {
            from,
            to: supported.max(from),
        })
    })();
    match result {
        Ok(upgrade) => {
            conn.execute_batch("COMMIT")?;
            Ok(upgrade)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(c: &Connection) -> rusqlite::Result<()> {
        c.execute_batch("CREATE TABLE a (x TEXT); INSERT INTO a VALUES ('kept');")
    }
    fn two(c: &Connection) -> rusqlite::Result<()> {
        c.execute_batch("ALTER TABLE a ADD COLUMN y TEXT NOT NULL DEFAULT 'new'")
    }
    fn three(c: &Connection) -> rusqlite::Result<()> {
        c.execute_batch("UPDATE a SET y = x || '+' || y")
    }
    fn broken(c: &Connection) -> rusqlite::Result<()> {
        c.execute_batch("UPDATE a SET y = 'half-done'; SELECT * FROM no_such_table")
    }
    const STEPS: [Migration; 3] = [
        Migration {
            version: 1,
            about: "a",
            apply: one,
        },
        Migration {
            version: 2,
            about: "a.y",
            apply: two,
        },
        Migration {
            version: 3,
            about: "fill a.y",
            apply: three,
        },
    ];

    fn y(c: &Connection) -> String {
        c.query_row("SELECT y FROM a", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn pending_migrations_run_in_order_once() {
        let c = Connection::open_in_memory().unwrap();
        assert_eq!(
            run(&c, "test store", &STEPS[..1]).unwrap(),
            Upgrade { from: 0, to: 1 }
        );
        assert_eq!(
            run(&c, "test store", &STEPS).unwrap(),
            Upgrade { from: 1, to: 3 }
        );
        assert_eq!(y(&c), "kept+new");
        // opening again changes nothing
        assert_eq!(
            run(&c, "test store", &STEPS).unwrap(),
            Upgrade { from: 3, to: 3 }
        );
        assert_eq!(y(&c), "kept+new");
        assert_eq!(version(&c).unwrap(), 3);
    }

    #[test]
    fn a_failing_migration_leaves_the_store_as_it_was() {
        let c = Connection::open_in_memory().unwrap();
        run(&c, "test store", &STEPS[..2]).unwrap();
        let with_broken = [
            Migration {
                apply: one,
                ..STEPS[0]
            },
            Migration {
                apply: two,
                ..STEPS[1]
            },
            Migration {
                version: 3,
                about: "broken",
                apply: broken,
            },
        ];
        let err = run(&c, "test store", &with_broken).unwrap_err();
        assert!(
            err.to_string().contains("migration 3 (broken) failed"),
            "{err}"
        );
        assert_eq!(version(&c).unwrap(), 2);
        assert_eq!(y(&c), "new", "the half-done update was rolled back");
    }

    #[test]
    fn a_store_from_a_newer_release_is_refused_untouched() {
        let c = Connection::open_in_memory().unwrap();
        run(&c, "test store", &STEPS).unwrap();
        let err = run(&c, "test store", &STEPS[..2]).unwrap_err();
        assert_eq!(err.code(), "store_too_new");
        assert!(
            err.to_string().contains("test store") && err.to_string().contains("schema 3"),
            "{err}"
        );
        assert_eq!(version(&c).unwrap(), 3);
        assert_eq!(y(&c), "kept+new");
    }
}
