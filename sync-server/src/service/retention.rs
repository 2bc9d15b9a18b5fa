//! How long devices keep handed-over and closed cases: each division's grace period (server
//! policy, default 72 hours, 0 allowed), set by an administrator and told to devices on every
//! sync. Which records a device keeps is decided by provide-core's `sync::scope::holds_now`;
//! this module holds the policy and finds what a device holds past it.

use provide_core::model::Role;
use provide_core::sync::scope::{holds_now, Holder, Placement, Retention};

use super::Service;
use crate::error::{Result, ServerError};
use crate::storage::{AuditEvent, DocMeta, RetentionPolicy};

/// The most expired records one answer tells a device to purge (the rest go in the next).
pub const MAX_EXPIRED_PER_ANSWER: usize = 500;

/// Where a stored document belongs, for the scope rules.
pub(crate) fn placement(meta: &DocMeta) -> Placement<'_> {
    Placement {
        kind: meta.kind,
        division: &meta.division,
        team: &meta.team,
    }
}

impl Service {
    /// The division's policy (the default when none was set).
    pub fn retention_for(&self, division: &str) -> Result<Retention> {
        Ok(self
            .storage
            .retentions()?
            .into_iter()
            .find(|p| p.division == division)
            .map(|p| Retention {
                grace_hours: p.handover_grace_hours,
            })
            .unwrap_or_default())
    }

    /// Every division's policy that was set.
    pub fn retention_policies(&self) -> Result<Vec<RetentionPolicy>> {
        self.storage.retentions()
    }

    /// Sets the division's grace period; audited as set by `by`.
    pub fn set_retention(&self, division: &str, grace_hours: i64, by: &str) -> Result<Retention> {
        let division = division.trim();
        if division.is_empty() || division.len() > 64 || division.chars().any(char::is_control) {
            return Err(ServerError::InvalidInput(
                "the division must be 1-64 printable characters".into(),
            ));
        }
        let retention = Retention::checked(grace_hours).map_err(ServerError::InvalidInput)?;
        self.storage.set_retention(
            division,
            retention.grace_hours,
            &AuditEvent {
                device: String::new(),
                user: by.to_string(),
                action: "policy".into(),
                record: String::new(),
                detail: format!(
                    "handover grace for division {division} set to {} hours",
                    retention.grace_hours
                ),
            },
        )?;
        Ok(retention)
    }

    /// Records the device holds that it no longer keeps at `now_ms` under `retention`: cases
    /// (and health records) handed over or closed longer ago than the grace period, oldest
    /// first, at most `MAX_EXPIRED_PER_ANSWER`.
    pub(crate) fn expired_holdings(
        &self,
        device_id: &str,
        holder: &Holder,
        retention: Retention,
        now_ms: i64,
    ) -> Result<Vec<DocMeta>> {
        let statuses: &[&str] = match holder.role {
            Role::Officer | Role::Idva => &["handed_over", "closed"],
            Role::Safeguarding => &["closed"],
            Role::Admin => return Ok(vec![]),
        };
        let before = now_ms.saturating_sub(retention.leaves_at(0));
        let held = self.storage.held_in_status_before(
            device_id,
            statuses,
            before,
            MAX_EXPIRED_PER_ANSWER,
        )?;
        Ok(held
            .into_iter()
            .filter(|(m, fetched)| {
                !holds_now(
                    holder,
                    &placement(m),
                    m.standing,
                    retention,
                    *fetched,
                    now_ms,
                )
            })
            .map(|(m, _)| m)
            .collect())
    }
}
