//! The Retention screen's two calls, as the app makes them: what is due for this user's
//! review, and a decision on one record (retain until a date, or dispose: erase). Only the
//! safeguarding unit (cases) and IDVAs (health records) review; every other role is refused
//! here with `forbidden` before anything is sent, and the server checks the same again. The
//! store is only lent to read the server's address and credential, never held while the
//! request travels.

use super::App;
use crate::error::{Error, Result};
use crate::model::Role;
use crate::retention::{DecisionRequest, DueList, ReviewDecision};
use crate::sync::review;

impl App {
    /// The closed records due for this user's review today, oldest closure first.
    pub fn retention_due(&self) -> Result<DueList> {
        self.require_reviewer("see what is due for retention review")?;
        self.ask_server(review::due)
    }

    /// Records a review decision; the server's record of it comes back. A `dispose` decision
    /// erases the record (a case with its health record) on the server and, at their next
    /// sync, on every device.
    pub fn retention_decide(&self, request: &DecisionRequest) -> Result<ReviewDecision> {
        self.require_reviewer("make a retention review decision")?;
        self.ask_server(|t, c| review::decide(t, c, request))
    }

    fn require_reviewer(&self, action: &str) -> Result<()> {
        let role = self.with_store(|s| Ok(s.session().role))?;
        match role {
            Role::Safeguarding | Role::Idva => Ok(()),
            other => Err(Error::Forbidden {
                role: other.as_str().into(),
                action: action.into(),
            }),
        }
    }
}
