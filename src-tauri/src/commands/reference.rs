//! Reference data: the risk checklists and the services directory, the newest the store
//! holds (published by the administrator, received on sync) or, while locked, the versions
//! shipped with the app, and a checklist scored as it is answered. The directory is public
//! information and works offline.

use provide_core::directory::Directory;
use provide_core::forms::{AssessmentInput, AssessmentPreview, FormDef};
use tauri::State;

use super::blocking;
use crate::error::ShellResult;
use crate::state::AppState;

/// The newest version of each risk checklist.
#[tauri::command]
pub async fn forms(state: State<'_, AppState>) -> ShellResult<Vec<FormDef>> {
    blocking(&state.app, |app| Ok(app.forms())).await
}

/// A checklist scored as it is answered, by provide-core's rules (the live score and MARAC).
#[tauri::command]
pub async fn preview_assessment(
    state: State<'_, AppState>,
    form: String,
    input: AssessmentInput,
) -> ShellResult<AssessmentPreview> {
    blocking(&state.app, move |app| app.preview_assessment(&form, &input)).await
}

#[tauri::command]
pub async fn directory(state: State<'_, AppState>) -> ShellResult<Directory> {
    blocking(&state.app, |app| Ok(app.directory())).await
}
