//! First run, unlock, lock and the idle lock.

use provide_core::app::AppStatus;
use tauri::State;

use super::blocking;
use crate::error::ShellResult;
use crate::state::AppState;

#[tauri::command]
pub async fn app_status(state: State<'_, AppState>) -> ShellResult<AppStatus> {
    blocking(&state.app, |app| app.status()).await
}

/// Enrols this device with a server address and a one-time code; the passphrase protects
/// the new store. Leaves the app unlocked.
#[tauri::command]
pub async fn enrol(
    state: State<'_, AppState>,
    server: String,
    code: String,
    passphrase: String,
) -> ShellResult<AppStatus> {
    let out = blocking(&state.app, move |app| {
        app.enrol(&server, &code, &passphrase)
    })
    .await?;
    state.changed();
    Ok(out)
}

#[tauri::command]
pub async fn unlock(
    state: State<'_, AppState>,
    passphrase: String,
    user: Option<String>,
) -> ShellResult<AppStatus> {
    let out = blocking(&state.app, move |app| {
        app.unlock(&passphrase, user.as_deref())
    })
    .await?;
    state.changed();
    Ok(out)
}

/// Locks now (the lock button, and sign out).
#[tauri::command]
pub async fn lock(state: State<'_, AppState>) -> ShellResult<AppStatus> {
    blocking(&state.app, |app| {
        app.lock();
        app.status()
    })
    .await
}

/// The window saw a key press, tap or pointer move: the idle timer starts again.
#[tauri::command]
pub async fn touch(state: State<'_, AppState>) -> ShellResult<()> {
    state.app.touch();
    Ok(())
}

#[tauri::command]
pub async fn set_idle_lock(state: State<'_, AppState>, minutes: u32) -> ShellResult<AppStatus> {
    blocking(&state.app, move |app| app.set_idle_lock_minutes(minutes)).await
}
