//! The server's storage, behind one trait so the handlers and the protocol never see which
//! database holds the data. `sqlite` (SQLCipher, the default) is the first backend; a
//! PostgreSQL backend implements the same trait.
//!
//! What every backend must guarantee:
//! - `update_doc` is atomic per document: the document is read, `decide` runs, and its write
//!   (changes appended, listing columns replaced, a new change number) commits as one, with
//!   concurrent updates of the same document serialised.
//! - Change numbers (`seq`) are assigned in commit order, and `changed_since` never returns an
//!   upper bound past a number whose transaction has not committed, so a cursor never skips.
//! - `claim_request` accepts each device's request numbers only in increasing order.
//! - A case's reporting row (`DocWrite::attendance`) commits with the document it was derived
//!   from, and rows missing or derived by an older build are derived again when the store opens
//!   (`backfill`), so the projection always matches the documents.
//! - The identity key that keys victim digests is generated once and kept in the database, so
//!   every process over one database derives the same digests.

pub mod pg_conn;
pub mod pg_tls;
pub mod postgres;
pub mod record_keys;
pub mod sqlite;

use std::collections::{HashMap, HashSet};

use automerge::ChangeHash;
use provide_core::audit::server::{Anchor, ServerEntry};
use provide_core::audit::Entry;
use provide_core::model::{RecordKind, Role};
use provide_core::record::RecordDoc;
pub use provide_core::report::AuditRow;
use provide_core::report::{Attendance, CheckedAuditQuery, Sighting};
pub use provide_core::retention::{Decision, ReviewDecision};
pub use provide_core::sync::scope::Standing;
use serde::Serialize;

use crate::error::Result;

/// Who a device belongs to, and so what it may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserProfile {
    pub name: String,
    pub role: Role,
    pub division: String,
    pub team: String,
}

/// An enrolled device.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub id: String,
    pub user: String,
    pub role: Role,
    pub division: String,
    pub team: String,
    pub actor: String,
    #[serde(skip)]
    pub credential_hash: String,
    pub revoked: bool,
    pub enrolled_at: String,
    pub last_seen: Option<String>,
}

impl Device {
    pub fn profile(&self) -> UserProfile {
        UserProfile {
            name: self.user.clone(),
            role: self.role,
            division: self.division.clone(),
            team: self.team.clone(),
        }
    }
}

/// Who an Automerge actor id belongs to: the device it writes from, the user and their role.
/// The device's enrolling user's actor is in `devices`; each further user of a shared device
/// has an actor of their own in `device_users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActorOwner {
    pub device_id: String,
    pub user: String,
    pub role: Role,
    /// When the actor was registered (milliseconds since the epoch).
    pub registered_at_ms: i64,
}

/// One record's changes from a revoked device's final upload, kept for review.
#[derive(Debug, Clone, Serialize)]
pub struct HeldRecord {
    pub device: String,
    pub record: String,
    pub kind: RecordKind,
    #[serde(skip)]
    pub changes: Vec<u8>,
    pub bytes: usize,
    pub at: String,
}

/// An actor's owner from a `devices` row: (device, user, role, enrolled at).
pub(crate) fn owner_of(row: (String, String, String, String)) -> Result<ActorOwner> {
    let (device_id, user, role, enrolled_at) = row;
    let role = Role::parse(&role).map_err(crate::error::ServerError::Storage)?;
    let registered_at_ms = chrono::DateTime::parse_from_rfc3339(&enrolled_at)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            crate::error::ServerError::Storage("a device's enrolment time is damaged".into())
        })?;
    Ok(ActorOwner {
        device_id,
        user,
        role,
        registered_at_ms,
    })
}

pub(crate) fn held_of(
    device: String,
    record: String,
    kind: &str,
    changes: Vec<u8>,
    at: String,
) -> Result<HeldRecord> {
    Ok(HeldRecord {
        device,
        record,
        kind: RecordKind::parse(kind).map_err(crate::error::ServerError::Storage)?,
        bytes: changes.len(),
        changes,
        at,
    })
}

/// A user being added to an enrolled device (a shared device), with their own actor id.
#[derive(Debug, Clone)]
pub struct NewDeviceUser {
    pub device_id: String,
    pub actor: String,
}

/// An enrolment code as stored: whom it enrols, until when, and whether it was spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentCode {
    pub user: UserProfile,
    pub expires_at_ms: i64,
    pub spent: bool,
}

/// What spending an enrolment code registers.
#[derive(Debug, Clone)]
pub enum Redemption {
    /// A new device, enrolled for the code's user.
    Device(NewDevice),
    /// The code's user, added to an enrolled device with an actor of their own.
    DeviceUser(NewDeviceUser),
}

impl Redemption {
    /// The device the code is spent by.
    pub fn device_id(&self) -> &str {
        match self {
            Redemption::Device(d) => &d.id,
            Redemption::DeviceUser(u) => &u.device_id,
        }
    }

    /// The actor id being registered.
    pub fn actor(&self) -> &str {
        match self {
            Redemption::Device(d) => &d.actor,
            Redemption::DeviceUser(u) => &u.actor,
        }
    }
}

/// Which devices a revocation reaches.
#[derive(Debug, Clone, Copy)]
pub enum Revoke<'a> {
    /// One device (marked again, and audited again, when it already was).
    Device(&'a str),
    /// Every device of a user not revoked yet.
    DevicesOf(&'a str),
}

/// A device a revocation reached: its id and its enrolling user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedDevice {
    pub id: String,
    pub user: String,
}

/// A device being enrolled.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub id: String,
    pub actor: String,
    pub credential_hash: String,
}

/// A stored document's listing columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocMeta {
    pub id: String,
    pub kind: RecordKind,
    pub division: String,
    pub team: String,
    pub heads: Vec<ChangeHash>,
    pub seq: u64,
    /// Where the case (for a health record, its case) stands: its status and since when.
    pub standing: Standing,
    /// How many times the record was re-rooted (rectified); its bytes are sealed under the
    /// key of this epoch.
    pub epoch: u32,
}

/// A document a device holds, as the server recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holding {
    /// When the device fetched it on request (a closed case), if it did.
    pub fetched_ms: Option<i64>,
}

/// A division's retention policy as stored: how long handed-over and closed cases stay on
/// devices, and when it was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    pub division: String,
    pub handover_grace_hours: u32,
    pub set_at: String,
}

/// An erased record: the tombstone of its id, and the devices that held it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erasure {
    pub record: String,
    pub kind: RecordKind,
    pub erased_at: String,
    /// The administrator (or reviewer) who erased it.
    pub erased_by: String,
    /// Every device that held the record when it was erased (or handed it in after), and when
    /// it confirmed purging it (`None`: still to confirm).
    pub devices: Vec<ErasureHolder>,
}

/// What re-rooting a record writes (`Storage::reroot`, rectification).
#[derive(Debug, Clone)]
pub struct Reroot {
    /// The new epoch's whole document.
    pub bytes: Vec<u8>,
    pub heads: Vec<ChangeHash>,
    /// A case's reporting row, derived from the new document.
    pub attendance: Option<Attendance>,
    /// What was struck: (path, SHA-256 of the value's JSON, hex).
    pub struck: Vec<(String, String)>,
    /// The actor (hex) the new root change was written with, and who it stands for.
    pub actor: String,
    pub by: String,
    pub role: Role,
    pub audit: AuditEvent,
}

/// A device that is to purge an erased record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasureHolder {
    pub device: String,
    pub confirmed_at: Option<String>,
}

/// A division's own review period for a retention class (`provide_core::retention`), as set
/// by the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewPeriod {
    pub division: String,
    pub class: String,
    pub review_after_months: u32,
    pub set_at: String,
}

/// Which closed records are due for review (`Storage::due_for_review`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueQuery {
    pub kind: RecordKind,
    /// One division only (every division when `None`).
    pub division: Option<String>,
    /// Records closed before this time are due, unless retained since their closure...
    pub closed_before_ms: i64,
    /// ...or, in these divisions (their own period), before these times.
    pub division_closed_before_ms: Vec<(String, i64)>,
    /// ...and records retained since their closure are due when the retain-until date
    /// (`YYYY-MM-DD`) of their latest decision is on or before this day.
    pub as_of: String,
    pub limit: usize,
}

/// A closed record due for review, and the retain-until date of its latest decision since
/// its closure (if that decision was to retain it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCandidate {
    pub meta: DocMeta,
    pub retained_until: Option<String>,
}

/// A stored document: its columns and its saved chunks, oldest first.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    pub meta: DocMeta,
    pub chunks: Vec<Vec<u8>>,
}

/// What `update_doc` writes.
#[derive(Debug, Clone)]
pub struct DocWrite {
    pub kind: RecordKind,
    pub division: String,
    pub team: String,
    pub heads: Vec<ChangeHash>,
    /// Bytes to append (new changes), or the whole document when `replace` is set; empty when
    /// only the columns change.
    pub bytes: Vec<u8>,
    pub replace: bool,
    /// The reporting row of a case, derived from the merged document; `None` leaves the row
    /// as it is.
    pub attendance: Option<Attendance>,
    /// Where the case stands (a health record: its case), as the service decided.
    pub standing: Standing,
}

/// Documents changed after a cursor, in change order, and the bound the page was read under.
#[derive(Debug, Clone)]
pub struct ChangedPage {
    pub docs: Vec<DocMeta>,
    /// Every change numbered up to here has committed; a device that received the whole page
    /// (and nothing was cut off) may take this as its new cursor.
    pub upper: u64,
    /// More documents matched than the limit.
    pub truncated: bool,
}

/// One server audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub device: String,
    pub user: String,
    /// `enrol`, `add_user` (a user added to a device), `revoke`, `receive` (changes accepted), `refuse`, `disclose` (sent to a
    /// device), `purge`, `audit_upload`, `audit_rejected`, `export`.
    pub action: String,
    pub record: String,
    pub detail: String,
}

/// Narrows an audit listing.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Which entries: by device, user, record, action and time, and how many.
    pub entries: CheckedAuditQuery,
    /// Only what a division's supervisor may read: entries about the division's shared
    /// records, and entries about no record made by the division's devices.
    pub division: Option<String>,
    /// Newest entries first (else oldest first).
    pub newest_first: bool,
}

/// The key of victim digests, kept in the database.
pub type IdentityKey = zeroize::Zeroizing<[u8; 32]>;

/// The name under which the identity key is kept in the `secrets` table.
pub const IDENTITY_KEY_NAME: &str = "victim_digest_key";

/// A new random identity key, as hex.
/// A form version or a directory an administrator published (`service::reference`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedItem {
    /// `form` or `directory`.
    pub kind: String,
    /// The form's id (`dash`), or `directory`.
    pub id: String,
    pub version: i64,
    /// The definition as JSON, as validated.
    pub body: String,
    pub published_at: String,
}

pub fn new_identity_key_hex() -> zeroize::Zeroizing<String> {
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, key.as_mut());
    zeroize::Zeroizing::new(hex::encode(key.as_ref()))
}

/// Reads the identity key from its stored hex.
pub fn identity_key_from_hex(text: &str) -> Result<IdentityKey> {
    let bytes = zeroize::Zeroizing::new(hex::decode(text.trim()).map_err(|_| {
        crate::error::ServerError::Storage("the stored identity key is not hex".into())
    })?);
    if bytes.len() != 32 {
        return Err(crate::error::ServerError::Storage(
            "the stored identity key is not 32 bytes".into(),
        ));
    }
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// The reporting row of a stored case document (for backfilling); `None` when the document
/// does not read as a case.
pub fn project(id: &str, chunks: &[Vec<u8>], identity_key: &[u8; 32]) -> Option<Attendance> {
    let rec = RecordDoc::load_unmigrated(id, RecordKind::Case, chunks).ok()?;
    let case = rec.case().ok()?;
    Some(Attendance::of(&case, identity_key))
}

/// The row's JSON, as kept in the `facts` column.
pub fn facts_json(a: &Attendance) -> Result<String> {
    serde_json::to_string(a).map_err(|_| {
        crate::error::ServerError::Internal("a reporting row could not be written".into())
    })
}

/// A row read back from the `facts` column.
pub fn facts_of(text: &str) -> Result<Attendance> {
    serde_json::from_str(text)
        .map_err(|_| crate::error::ServerError::Storage("a reporting row could not be read".into()))
}

/// The refusal of a restore whose record key store is older than its data.
pub(crate) fn missing_keys(n: usize) -> crate::error::ServerError {
    crate::error::ServerError::Key(format!(
        "{n} record(s) in the restored data have no key in the record key store, which is \
         older than the data: restore the newest record key backup (backup-keys) and try again; \
         nothing was changed"
    ))
}

/// A stored document's listing columns as both backends select them, in `DocMeta`'s order.
pub(crate) const DOC_COLUMNS: &str =
    "id, kind, division, team, heads, seq, status, status_since_ms, epoch";
/// How many columns `DOC_COLUMNS` names: a column selected after them is at this index.
pub(crate) const DOC_COLUMN_COUNT: usize = 9;

/// `DOC_COLUMNS` of the table named `alias` in a join.
pub(crate) fn doc_columns_of(alias: &str) -> String {
    DOC_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The function `erase` calls with the records it erases (id and kind); it returns their
/// audit events.
pub type EraseAudit<'a> = dyn Fn(&[(String, RecordKind)]) -> Vec<AuditEvent> + 'a;

/// The function `update_doc` calls with the stored document (if any); it returns the write to
/// commit, or `None` to leave the document as it is.
pub type Decide<'a> = dyn FnMut(Option<StoredDoc>) -> Result<Option<DocWrite>> + 'a;

pub trait Storage: Send + Sync {
    // ---- enrolment and devices
    /// Stores a new enrolment code (by its hash) for `user`, with its audit event, in one
    /// transaction.
    fn create_enrolment(
        &self,
        code_hash: &str,
        user: &UserProfile,
        expires_at_ms: i64,
        audit: &AuditEvent,
    ) -> Result<()>;
    /// Spends an enrolment code, atomically: the code's row is locked and handed to `decide`
    /// (`None` when no code has this hash), which applies the service's rules and returns
    /// the audit event to commit, or an error that leaves everything as it was. Then the code
    /// is marked spent by the device and `redemption` registered, with the event. Whatever
    /// `decide` allows, the store refuses an actor id already registered to anyone
    /// (`InvalidInput`) and a user already on the device (`Forbidden`). Returns the code's
    /// user.
    fn redeem_code(
        &self,
        code_hash: &str,
        redemption: &Redemption,
        decide: &dyn Fn(Option<&EnrolmentCode>) -> Result<AuditEvent>,
    ) -> Result<UserProfile>;
    /// Stores a published reference item (a form version or a directory) with its audit
    /// event, in one transaction. Refuses (`InvalidInput`) one already published under the
    /// same kind, id and version: a published version never changes.
    fn publish_reference(&self, item: &PublishedItem, audit: &AuditEvent) -> Result<()>;
    /// Every published reference item, oldest first.
    fn published_reference(&self) -> Result<Vec<PublishedItem>>;
    fn device(&self, id: &str) -> Result<Option<Device>>;
    fn devices(&self) -> Result<Vec<Device>>;
    /// Marks the devices `which` chooses revoked and, when `void_codes_of` names a user, spends
    /// that user's unused enrolment codes, with the audit events `audit` makes of the devices
    /// revoked, in one transaction. Returns the devices revoked.
    fn revoke(
        &self,
        which: Revoke,
        void_codes_of: Option<&str>,
        audit: &dyn Fn(&[RevokedDevice]) -> Vec<AuditEvent>,
    ) -> Result<Vec<RevokedDevice>>;
    /// The actor ids registered to the user's devices (as enrolling user or added user).
    fn actors_of_user(&self, user: &str) -> Result<HashSet<String>>;
    /// The actor ids registered on the device: its enrolling user's and its added users'.
    fn actors_of_device(&self, device: &str) -> Result<HashSet<String>>;
    /// Who the actor id (hex) was registered to: a device's enrolling user, or a user added to
    /// it, and when.
    fn actor_owner(&self, actor: &str) -> Result<Option<ActorOwner>>;
    /// The actors registered to the devices of a division's team that are not revoked (their
    /// enrolling users' and users added to them), with their owners: whose changes a device of
    /// that team may relay from its partner (peer sync in the car).
    fn team_actors(&self, division: &str, team: &str) -> Result<HashMap<String, ActorOwner>>;
    /// Opens a revoked device's final upload the first time it is asked, and returns when it
    /// opened (milliseconds since the epoch).
    fn open_final_upload(&self, device: &str, now_ms: i64) -> Result<i64>;
    /// Keeps one record's changes from a revoked device's final upload for review, apart
    /// from the records every device receives.
    fn hold_for_review(
        &self,
        device: &str,
        record: &str,
        kind: RecordKind,
        changes: &[u8],
        at: &str,
    ) -> Result<()>;
    /// What revoked devices handed over, oldest first: (device, record, kind, bytes, at).
    fn held_for_review(&self) -> Result<Vec<HeldRecord>>;
    /// After a restore from a backup: every device is to be brought level again (its next
    /// sync is told to start over, see `service::sync`); returns how many.
    fn mark_restored(&self) -> Result<usize>;
    /// Whether the device has yet to start over since the store was restored.
    fn resync_pending(&self, device: &str) -> Result<bool>;
    /// The device has started over.
    fn resync_done(&self, device: &str) -> Result<()>;
    /// Accepts request number `seq` from the device only if it is higher than any before.
    fn claim_request(&self, device: &str, seq: u64, now: &str) -> Result<bool>;

    // ---- documents
    fn doc_meta(&self, id: &str) -> Result<Option<DocMeta>>;
    fn load_doc(&self, id: &str) -> Result<Option<StoredDoc>>;
    /// Atomically reads the document, calls `decide`, and commits its write. Returns the new
    /// change number when something was written.
    fn update_doc(&self, id: &str, decide: &mut Decide) -> Result<Option<u64>>;
    /// Documents with change numbers after `cursor` that lie in `division` (and in `team`, when
    /// given: a patrol device never walks other teams' documents) or were delivered to
    /// `device`, oldest change first, at most `limit`.
    fn changed_since(
        &self,
        cursor: u64,
        division: &str,
        team: Option<&str>,
        device: &str,
        limit: usize,
    ) -> Result<ChangedPage>;
    /// Documents the device holds or was sent (and not told to purge) whose status is one of
    /// `statuses` since `before_ms` or earlier and that it did not fetch on request after
    /// `before_ms`, longest first, at most `limit`, each with when it fetched it (if it did).
    fn held_in_status_before(
        &self,
        device: &str,
        statuses: &[&str],
        before_ms: i64,
        limit: usize,
    ) -> Result<Vec<(DocMeta, Option<i64>)>>;
    /// Whether the device holds the document (it was sent there or uploaded from there, and
    /// no purge of it is pending), and when it fetched it on request if it did.
    fn holding(&self, device: &str, doc: &str) -> Result<Option<Holding>>;
    /// The cases of `division` one of `digests` finds (`Attendance::lookup`), most recently
    /// changed standing first, at most `limit`.
    fn find_cases(&self, digests: &[String], division: &str, limit: usize) -> Result<Vec<DocMeta>>;
    /// Counts a fetch by `user` at `now_ms` against `quotas` ((window ms, most fetches in it)),
    /// atomically: `Ok(None)` when it is within every quota (and is counted), else how many ms
    /// until the fullest window allows one (nothing counted). Counts older than the longest
    /// window are forgotten.
    fn claim_fetch(&self, user: &str, now_ms: i64, quotas: &[(i64, u64)]) -> Result<Option<i64>>;
    /// Records what a fetch on request delivers, as `record_delivery` does (pending until the
    /// device confirms `cursor`), marking each as fetched at `now_ms`, with the audit, in one
    /// commit.
    fn record_fetch(
        &self,
        device: &str,
        delivered: &[(String, Vec<ChangeHash>)],
        audit: &[AuditEvent],
        cursor: u64,
        now_ms: i64,
    ) -> Result<()>;
    /// The heads the device is known to hold for a document: `None` when it was never sent
    /// there nor uploaded from there; empty when it was sent but the device has not yet
    /// confirmed receiving it.
    fn known_heads(&self, device: &str, doc: &str) -> Result<Option<Vec<ChangeHash>>>;
    /// Whether the document was ever sent to the device or uploaded from it (held now, or let
    /// go at the server's word: a mark is kept).
    fn ever_held(&self, device: &str, doc: &str) -> Result<bool>;
    /// The device holds these heads for sure (it uploaded them).
    fn set_known_heads(&self, device: &str, doc: &str, heads: &[ChangeHash]) -> Result<()>;
    /// Records what a response delivers and purges, pending until the device confirms the
    /// response by sending `cursor` (or later) back, with the disclosure audit, in one commit.
    fn record_delivery(
        &self,
        device: &str,
        delivered: &[(String, Vec<ChangeHash>)],
        purged: &[String],
        audit: &[AuditEvent],
        cursor: u64,
    ) -> Result<()>;
    /// A request from the device carries `cursor`: deliveries and purges of responses up to it
    /// arrived (the device stores its cursor with what it applied); those of later responses
    /// were lost and are forgotten, to be sent again.
    fn confirm_deliveries(&self, device: &str, cursor: u64) -> Result<()>;

    // ---- erasure
    /// Erases the records, atomically: each one's rows (chunks, listing, reporting row, lookup
    /// digests, anything held for review) are deleted, a tombstone of its id is kept with the
    /// devices that held it (to confirm their purge), and `audit` is committed with it; then
    /// the records' keys are destroyed, so no earlier copy of their bytes opens. A record
    /// already erased is left as it is. Returns the records erased now, with their kinds.
    fn erase(
        &self,
        ids: &[String],
        at: &str,
        by: &str,
        audit: &EraseAudit,
    ) -> Result<Vec<(String, RecordKind)>>;
    /// The record's tombstone and who is still to confirm its purge.
    fn erasure(&self, id: &str) -> Result<Option<Erasure>>;
    /// Of `ids`, those erased.
    fn erased_among(&self, ids: &[String]) -> Result<Vec<String>>;
    /// The erased records the device is still to confirm purging.
    fn erasures_pending(&self, device: &str) -> Result<Vec<String>>;
    /// The device holds (or handed in) an erased record: it is to purge it and confirm.
    fn erasure_holder(&self, id: &str, device: &str) -> Result<()>;
    /// The device confirms it purged these erased records; returns how many it had to.
    fn confirm_erasures(&self, device: &str, ids: &[String], at: &str) -> Result<usize>;

    // ---- rectification
    /// Re-roots the record, atomically: the stored document is handed to `decide`, whose new
    /// document becomes the record's next epoch (its chunks replaced, sealed under a new key;
    /// its reporting row replaced; every device's known heads forgotten, so each is sent the
    /// new epoch whole; what was held for review of it deleted; the struck values and the
    /// rectifier's actor kept; the audit committed); then the old epoch's key is destroyed.
    /// Returns the new epoch. An unknown record is `InvalidInput`, an erased one `Erased`.
    fn reroot(&self, id: &str, decide: &mut dyn FnMut(StoredDoc) -> Result<Reroot>) -> Result<u32>;
    /// The values struck from the record at `epoch`: (path, digest hex).
    fn struck(&self, id: &str, epoch: u32) -> Result<Vec<(String, String)>>;
    /// Who an actor that re-rooted a record stands for: (user, role).
    fn rectifier(&self, actor: &str) -> Result<Option<(String, Role)>>;

    // ---- retention policy
    /// Sets a division's grace period, with its audit event, in one transaction.
    fn set_retention(&self, division: &str, grace_hours: u32, audit: &AuditEvent) -> Result<()>;
    /// Every division's policy that was set, by division.
    fn retentions(&self) -> Result<Vec<RetentionPolicy>>;
    /// Sets a division's review period for a retention class, with its audit event, in one
    /// transaction.
    fn set_review_period(
        &self,
        division: &str,
        class: &str,
        months: u32,
        audit: &AuditEvent,
    ) -> Result<()>;
    /// Every division's review period that was set, by division and class.
    fn review_periods(&self) -> Result<Vec<ReviewPeriod>>;
    /// Records a retention review decision with its audit event, in one transaction.
    fn record_review(&self, decision: &ReviewDecision, audit: &AuditEvent) -> Result<()>;
    /// A record's review decisions, oldest first.
    fn review_decisions(&self, record: &str) -> Result<Vec<ReviewDecision>>;
    /// Closed records of `q.kind` due for review: those whose latest decision since their
    /// closure retained them until `q.as_of` or earlier, and those with no such decision
    /// (none, or the latest disposes of them) closed before their division's cutoff; oldest
    /// closure first, at most `q.limit`.
    fn due_for_review(&self, q: &DueQuery) -> Result<Vec<DueCandidate>>;

    // ---- audit
    fn append_audit(&self, events: &[AuditEvent]) -> Result<()>;
    fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>>;
    /// Up to `limit` entries of the audit log after number `after`, oldest first, with their
    /// chain (`prev_hash`, `hash`), for verification.
    fn audit_chain(&self, after: i64, limit: i64) -> Result<Vec<ServerEntry>>;
    /// The audit log's last entry (`None`: it is empty).
    fn audit_head(&self) -> Result<Option<Anchor>>;
    /// The last verified entry of a device's uploaded audit log: (seq, hash).
    fn device_audit_head(&self, device: &str) -> Result<Option<(i64, String)>>;
    fn append_device_audit(&self, device: &str, entries: &[Entry]) -> Result<()>;
    fn device_audit(&self, device: &str) -> Result<Vec<Entry>>;

    // ---- reports
    /// The key of victim digests (generated once, kept in the database).
    fn identity_key(&self) -> &[u8; 32];
    /// The attendances (cases out of triage) of `division` (every division when `None`) with
    /// incident dates `from..=to` (YYYY-MM-DD).
    fn attendances(&self, division: Option<&str>, from: &str, to: &str) -> Result<Vec<Attendance>>;
    /// The attendances dated before `from` of each victim attended in `from..=to`, in the same
    /// division(s): with the period's own rows, what repeat victims and prior attendances are
    /// counted from.
    fn sightings(&self, division: Option<&str>, from: &str, to: &str) -> Result<Vec<Sighting>>;
    /// The ids of every case (triaged or not, in any division) whose victim has `digest`
    /// (`pseudonym::victim_digest`), by id, at most `limit`: whom a subject access request
    /// finds.
    fn cases_of_victim(&self, digest: &str, limit: usize) -> Result<Vec<String>>;

    // ---- health and metrics
    /// A trivial query: the database answers (the readiness probe).
    fn ping(&self) -> Result<()>;
    /// How many documents are stored (one count query; the metrics cache it).
    fn count_docs(&self) -> Result<u64>;
    /// The database connections in use and idle, and the most there may be.
    fn pool_use(&self) -> PoolUse;
}

/// Database connections, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUse {
    pub in_use: usize,
    pub idle: usize,
    pub max: usize,
}
