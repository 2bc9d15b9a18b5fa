//! The IDVA's health record of a case. The store refuses every other role, so an officer's
//! window gets `forbidden` even if it asks.

use provide_core::store::HealthView;
use tauri::State;

use super::{change, with_store};
use crate::error::ShellResult;
use crate::state::AppState;

#[tauri::command]
pub async fn show_health(
    state: State<'_, AppState>,
    case_id: String,
) -> ShellResult<Option<HealthView>> {
    with_store(&state, move |s| s.show_health(&case_id)).await
}

#[tauri::command]
pub async fn add_health_note(
    state: State<'_, AppState>,
    case_id: String,
    text: String,
) -> ShellResult<Option<HealthView>> {
    change(&state, move |s| {
        s.add_health_note(&case_id, &text)?;
        s.show_health(&case_id)
    })
    .await
}

#[tauri::command]
pub async fn set_discreet_contact(
    state: State<'_, AppState>,
    case_id: String,
    text: String,
) -> ShellResult<Option<HealthView>> {
    change(&state, move |s| {
        s.set_discreet_contact(&case_id, &text)?;
        s.show_health(&case_id)
    })
    .await
}
