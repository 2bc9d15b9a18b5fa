//! The shift: start it, today's visits, plan a visit, end it with a handover summary.

use provide_core::model::Shift;
use provide_core::store::{CaseSummary, Handover, ShiftInput};
use tauri::{AppHandle, Runtime, State};

use super::{change, with_store};
use crate::error::ShellResult;
use crate::state::AppState;

#[tauri::command]
pub async fn current_shift(state: State<'_, AppState>) -> ShellResult<Option<Shift>> {
    with_store(&state, |s| s.current_shift()).await
}

#[tauri::command]
pub async fn start_shift(state: State<'_, AppState>, input: ShiftInput) -> ShellResult<Shift> {
    change(&state, move |s| {
        let id = s.start_shift(&input)?;
        s.show_shift(&id)
    })
    .await
}

#[tauri::command]
pub async fn plan_visit(
    state: State<'_, AppState>,
    shift_id: String,
    case_id: String,
) -> ShellResult<Shift> {
    change(&state, move |s| {
        s.plan_visit(&shift_id, &case_id)?;
        s.show_shift(&shift_id)
    })
    .await
}

/// Ends the shift and returns its handover summary.
#[tauri::command]
pub async fn end_shift<R: Runtime>(
    handle: AppHandle<R>,
    state: State<'_, AppState>,
    shift_id: String,
) -> ShellResult<Handover> {
    let handover = change(&state, move |s| {
        s.end_shift(&shift_id)?;
        s.handover(&shift_id)
    })
    .await?;
    // the store ended the pairing with the shift; the app stops waiting for the partner too
    let app = state.app.clone();
    let _ = tauri::async_runtime::spawn_blocking(move || {
        let _ = app.peer_end();
        crate::background::emit_status(&handle, &app.sync_status());
    })
    .await;
    Ok(handover)
}

#[tauri::command]
pub async fn handover(state: State<'_, AppState>, shift_id: String) -> ShellResult<Handover> {
    with_store(&state, move |s| s.handover(&shift_id)).await
}

#[tauri::command]
pub async fn todays_visits(state: State<'_, AppState>) -> ShellResult<Vec<CaseSummary>> {
    with_store(&state, |s| s.todays_visits()).await
}
