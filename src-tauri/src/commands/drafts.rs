//! Drafts kept through the lock: a note, visit or assessment in progress and the screen it was
//! on, in the encrypted store (`provide_core::app::drafts`). A draft is not a change to a
//! record: nothing here nudges the sync.

use provide_core::store::{Draft, DraftInput};
use tauri::State;

use super::blocking;
use crate::error::ShellResult;
use crate::state::AppState;

#[tauri::command]
pub async fn save_draft(state: State<'_, AppState>, input: DraftInput) -> ShellResult<Draft> {
    blocking(&state.app, move |app| app.save_draft(&input)).await
}

/// The signed-in user's drafts, newest first.
#[tauri::command]
pub async fn list_drafts(state: State<'_, AppState>) -> ShellResult<Vec<Draft>> {
    blocking(&state.app, |app| app.drafts()).await
}

#[tauri::command]
pub async fn get_draft(state: State<'_, AppState>, key: String) -> ShellResult<Option<Draft>> {
    blocking(&state.app, move |app| app.draft(&key)).await
}

#[tauri::command]
pub async fn discard_draft(state: State<'_, AppState>, key: String) -> ShellResult<bool> {
    blocking(&state.app, move |app| app.discard_draft(&key)).await
}
