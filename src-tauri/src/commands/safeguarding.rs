//! The safeguarding unit's commands: triage incidents into cases for a team, the handover
//! queue and its review, the MARAC list, and closed cases fetched from the server on request.
//! The store refuses every other role.

use provide_core::store::{HandoverItem, MaracEntry, TriageInput, TriagedCase};
use provide_core::sync::fetch::FetchReport;
use tauri::State;

use super::{change, with_store};
use crate::error::ShellResult;
use crate::state::AppState;

/// Fetches the closed cases a police reference or the victim's whole name finds on the
/// server (`App::fetch_closed`; audited on both sides).
#[tauri::command]
pub async fn fetch_closed_cases(
    state: State<'_, AppState>,
    reference: Option<String>,
    name: Option<String>,
) -> ShellResult<FetchReport> {
    super::blocking(&state.app, move |app| {
        app.fetch_closed(reference.as_deref(), name.as_deref())
    })
    .await
}

/// Creates a triaged case; returns its id.
#[tauri::command]
pub async fn triage_case(state: State<'_, AppState>, input: TriageInput) -> ShellResult<String> {
    change(&state, move |s| s.triage_case(&input)).await
}

#[tauri::command]
pub async fn triage_queue(state: State<'_, AppState>) -> ShellResult<Vec<TriagedCase>> {
    with_store(&state, |s| s.triage_queue()).await
}

#[tauri::command]
pub async fn handover_queue(state: State<'_, AppState>) -> ShellResult<Vec<HandoverItem>> {
    with_store(&state, |s| s.handover_queue()).await
}

/// Marks a handed-over case reviewed and returns the queue as it now stands.
#[tauri::command]
pub async fn mark_reviewed(
    state: State<'_, AppState>,
    case_id: String,
) -> ShellResult<Vec<HandoverItem>> {
    change(&state, move |s| {
        s.mark_reviewed(&case_id)?;
        s.handover_queue()
    })
    .await
}

#[tauri::command]
pub async fn marac_list(state: State<'_, AppState>) -> ShellResult<Vec<MaracEntry>> {
    with_store(&state, |s| s.marac_list()).await
}
