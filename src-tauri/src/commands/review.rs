//! The Retention screen's commands: what is due for this user's retention review, and a
//! decision on one record (retain until a date, or dispose: erase). The app refuses every role
//! but the safeguarding unit and IDVAs, and the server checks again.

use provide_core::retention::{DecisionRequest, DueList, ReviewDecision};
use tauri::State;

use super::blocking;
use crate::error::ShellResult;
use crate::state::AppState;

/// The closed records due for review (`App::retention_due`).
#[tauri::command]
pub async fn retention_due(state: State<'_, AppState>) -> ShellResult<DueList> {
    blocking(&state.app, |app| app.retention_due()).await
}

/// Records a decision (`App::retention_decide`); a `dispose` erases the record.
#[tauri::command]
pub async fn retention_decide(
    state: State<'_, AppState>,
    request: DecisionRequest,
) -> ShellResult<ReviewDecision> {
    blocking(&state.app, move |app| app.retention_decide(&request)).await
}
