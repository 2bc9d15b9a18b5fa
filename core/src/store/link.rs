//! The device's link to its sync server, kept inside the encrypted database: the server's
//! address, the device credential, the request counter that makes every request unique, how
//! far the server has received the device's audit log, and when the server was last reached.
//!
//! A device that has not reached its server for longer than the server allows (72 hours by
//! default) is locked for case work until a sync succeeds.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use zeroize::Zeroizing;

use super::Store;
use crate::audit::{self, Entry};
use crate::error::{Error, Result};
use crate::model::Role;
use automerge::ActorId;

const URL: &str = "server_url";
const CREDENTIAL: &str = "server_credential";
const MAX_OFFLINE: &str = "max_offline_hours";
const REQUEST_SEQ: &str = "request_seq";
const AUDIT_ACKED: &str = "audit_acked";
const LAST_CONTACT: &str = "last_contact_ms";
const CA_CERT: &str = "server_ca_cert";

/// What enrolment with a server gave this device.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub user: String,
    pub role: Role,
    pub division: String,
    pub team: String,
    pub actor: ActorId,
    pub device_id: String,
    pub server_url: String,
    pub credential: Zeroizing<String>,
    pub max_offline_hours: u64,
    /// The certificate authority (PEM) the device trusted for the server at enrolment, if not
    /// one of the built-in roots: kept, and trusted for every later sync.
    pub ca_cert: Option<String>,
}

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct ServerLink {
    pub url: String,
    pub credential: Zeroizing<String>,
    /// The server's certificate authority (PEM) kept since enrolment, if any.
    pub ca_cert: Option<String>,
}

/// The device's contact with its server, for the status line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct ContactStatus {
    pub enrolled: bool,
    pub server_url: Option<String>,
    pub last_contact: Option<String>,
    #[ts(type = "number")]
    pub max_offline_hours: u64,
    pub overdue: bool,
}

fn put(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

fn get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

fn get_u64(conn: &Connection, key: &str) -> Result<u64> {
    Ok(get(conn, key)?.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Writes the link when the store is created. Enrolment counts as contact.
pub(super) fn save(conn: &Connection, e: &Enrolled) -> Result<()> {
    put(conn, URL, &e.server_url)?;
    put(conn, CREDENTIAL, &e.credential)?;
    put(conn, MAX_OFFLINE, &e.max_offline_hours.to_string())?;
    if let Some(pem) = &e.ca_cert {
        put(conn, CA_CERT, pem)?;
    }
    put(
        conn,
        LAST_CONTACT,
        &chrono::Utc::now().timestamp_millis().to_string(),
    )?;
    Ok(())
}

impl Store {
    /// The server this device syncs with.
    pub fn server_link(&self) -> Result<ServerLink> {
        if self.erased {
            return Err(Error::Revoked);
        }
        let url = get(&self.conn, URL)?.ok_or(Error::NotEnrolled)?;
        let credential = Zeroizing::new(get(&self.conn, CREDENTIAL)?.ok_or(Error::NotEnrolled)?);
        let ca_cert = get(&self.conn, CA_CERT)?;
        Ok(ServerLink {
            url,
            credential,
            ca_cert,
        })
    }

    /// Replaces the server's certificate authority kept since enrolment (a force that moved
    /// its server to a new CA). True if it differed from the one kept.
    pub fn set_server_ca_cert(&mut self, pem: &str) -> Result<bool> {
        if self.erased {
            return Err(Error::Revoked);
        }
        get(&self.conn, URL)?.ok_or(Error::NotEnrolled)?;
        if get(&self.conn, CA_CERT)?.as_deref() == Some(pem) {
            return Ok(false);
        }
        put(&self.conn, CA_CERT, pem)?;
        Ok(true)
    }

    /// The next request number, stored before it is used so it is never used twice.
    pub fn next_request_seq(&mut self) -> Result<u64> {
        let next = get_u64(&self.conn, REQUEST_SEQ)? + 1;
        put(&self.conn, REQUEST_SEQ, &next.to_string())?;
        Ok(next)
    }

    /// Notes that the server answered, and how far it holds the device's audit log.
    pub fn record_contact(&mut self, audit_acked: u64) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        put(
            &tx,
            LAST_CONTACT,
            &chrono::Utc::now().timestamp_millis().to_string(),
        )?;
        if audit_acked > get_u64(&tx, AUDIT_ACKED)? {
            put(&tx, AUDIT_ACKED, &audit_acked.to_string())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Audit entries the server has not yet acknowledged, oldest first, at most `limit`.
    pub fn audit_to_upload(&self, limit: usize) -> Result<Vec<Entry>> {
        let after = get_u64(&self.conn, AUDIT_ACKED)? as i64;
        audit::entries_after(&self.conn, after, limit as i64)
    }

    pub fn contact_status(&self) -> Result<ContactStatus> {
        let url = get(&self.conn, URL)?;
        let max = get(&self.conn, MAX_OFFLINE)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let last = get(&self.conn, LAST_CONTACT)?.and_then(|v| v.parse::<i64>().ok());
        let now = chrono::Utc::now().timestamp_millis();
        let overdue = match (url.is_some(), last) {
            (true, Some(last)) => max > 0 && now - last > (max as i64) * 3_600_000,
            _ => false,
        };
        Ok(ContactStatus {
            enrolled: url.is_some(),
            server_url: url,
            last_contact: last
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            max_offline_hours: max,
            overdue,
        })
    }

    /// Refuses case work on an enrolled device that has been out of contact too long.
    pub(super) fn require_recent_contact(&self) -> Result<()> {
        let status = self.contact_status()?;
        if status.overdue {
            return Err(Error::ContactOverdue(status.max_offline_hours));
        }
        Ok(())
    }
}

/// Lowers the audit entry the server is known to hold to `held` (a server restored from a
/// backup holds less than it acknowledged before).
pub(super) fn rewind_audit_acked(conn: &rusqlite::Connection, held: u64) -> Result<()> {
    if held < get_u64(conn, AUDIT_ACKED)? {
        put(conn, AUDIT_ACKED, &held.to_string())?;
    }
    Ok(())
}
