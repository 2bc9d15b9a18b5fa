//! The supervisors' reports from the sync server: the dashboard, the evaluator export (saved in
//! the Downloads folder, or `PROVIDE_EXPORT_DIR`), and the server's audit log. The server
//! decides what the role may read; the window never touches files or the network itself.

use std::path::PathBuf;

use provide_core::app::ExportSaved;
use provide_core::report::{AuditQuery, AuditRow, Dashboard, ExportFormat};
use tauri::{AppHandle, Manager, Runtime, State};

use super::blocking;
use crate::error::{ShellError, ShellResult};
use crate::state::AppState;

#[tauri::command]
pub async fn dashboard(
    state: State<'_, AppState>,
    from: String,
    to: String,
) -> ShellResult<Dashboard> {
    blocking(&state.app, move |app| app.dashboard(&from, &to)).await
}

#[tauri::command]
pub async fn audit_log(
    state: State<'_, AppState>,
    query: AuditQuery,
) -> ShellResult<Vec<AuditRow>> {
    blocking(&state.app, move |app| app.audit_log(&query)).await
}

#[tauri::command]
pub async fn export_report<R: Runtime>(
    handle: AppHandle<R>,
    state: State<'_, AppState>,
    from: String,
    to: String,
    format: ExportFormat,
) -> ShellResult<ExportSaved> {
    let folder = export_folder(&handle)?;
    blocking(&state.app, move |app| {
        app.export_report(&from, &to, format, &folder)
    })
    .await
}

fn export_folder<R: Runtime>(handle: &AppHandle<R>) -> ShellResult<PathBuf> {
    if let Some(dir) = std::env::var_os("PROVIDE_EXPORT_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let paths = handle.path();
    paths
        .download_dir()
        .or_else(|_| paths.home_dir())
        .map_err(|_| {
            ShellError::DataDir("no Downloads or home folder to save the export in".into())
        })
}
