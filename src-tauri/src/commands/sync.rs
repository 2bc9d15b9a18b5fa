//! The sync status line and "sync now". The background thread syncs by itself; this runs one at
//! once, streams its progress to the window as `sync-status` events, and tells the scheduler
//! how it went so the next automatic sync is timed from it.

use provide_core::app::SyncStatus;
use provide_core::sync::SyncReport;
use tauri::{AppHandle, Runtime, State};

use super::blocking;
use crate::background::emit_status;
use crate::error::ShellResult;
use crate::state::AppState;

#[tauri::command]
pub async fn sync_status(state: State<'_, AppState>) -> ShellResult<SyncStatus> {
    Ok(state.app.sync_status())
}

/// The user has read the notices of what syncs did on purpose (erasures, corrections).
#[tauri::command]
pub async fn dismiss_sync_notices(state: State<'_, AppState>) -> ShellResult<SyncStatus> {
    state.app.dismiss_notices();
    Ok(state.app.sync_status())
}

#[tauri::command]
pub async fn sync_now<R: Runtime>(
    handle: AppHandle<R>,
    state: State<'_, AppState>,
) -> ShellResult<SyncReport> {
    let scheduler = state.scheduler.clone();
    blocking(&state.app, move |app| {
        let result = app.sync_now(&mut |s| emit_status(&handle, s));
        if let Ok(mut s) = scheduler.lock() {
            s.after_sync(&result, std::time::Instant::now());
        }
        result
    })
    .await
}
