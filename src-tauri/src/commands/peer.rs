//! "Pair with partner" on the Shift screen (issue 18): show this device's code and wait for
//! the partner, or enter the partner's; sync with it now; end the pairing. The background
//! thread syncs with a paired partner by itself (`Tick::PeerSyncDue`).

use provide_core::app::PeerStatus;
use provide_core::peer::PeerReport;
use tauri::{AppHandle, Runtime, State};

use super::blocking;
use crate::background::emit_status;
use crate::error::{ShellError, ShellResult};
use crate::state::AppState;

/// Runs one session with the partner, tells the scheduler how it went (the next one is timed
/// from it) and the window what the indicator now says.
async fn session<R: Runtime>(
    handle: AppHandle<R>,
    state: &AppState,
    f: impl FnOnce(&provide_core::app::App) -> provide_core::Result<PeerReport> + Send + 'static,
) -> ShellResult<PeerReport> {
    let scheduler = state.scheduler.clone();
    blocking(&state.app, move |app| {
        let result = f(app);
        if let Ok(mut s) = scheduler.lock() {
            s.after_peer_sync(&result, std::time::Instant::now());
        }
        emit_status(&handle, &app.sync_status());
        result
    })
    .await
}

#[tauri::command]
pub async fn peer_status(state: State<'_, AppState>) -> ShellResult<PeerStatus> {
    blocking(&state.app, |app| app.peer_status()).await
}

/// Shows a pairing code and waits for the partner on every interface of this device.
#[tauri::command]
pub async fn peer_show_code(state: State<'_, AppState>) -> ShellResult<PeerStatus> {
    let app = state.app.clone();
    tauri::async_runtime::spawn_blocking(move || app.peer_show_code("0.0.0.0:0"))
        .await
        .map_err(|e| ShellError::Task(e.to_string()))?
        .map_err(ShellError::from)
}

/// Pairs with the partner whose screen shows `address` and `code` (or the QR code's line).
#[tauri::command]
pub async fn peer_pair<R: Runtime>(
    handle: AppHandle<R>,
    state: State<'_, AppState>,
    address: String,
    code: String,
) -> ShellResult<PeerReport> {
    session(handle, &state, move |app| app.peer_pair(&address, &code)).await
}

#[tauri::command]
pub async fn peer_sync_now<R: Runtime>(
    handle: AppHandle<R>,
    state: State<'_, AppState>,
) -> ShellResult<PeerReport> {
    session(handle, &state, |app| app.peer_sync_now()).await
}

#[tauri::command]
pub async fn peer_end<R: Runtime>(
    handle: AppHandle<R>,
    state: State<'_, AppState>,
) -> ShellResult<PeerStatus> {
    blocking(&state.app, move |app| {
        let status = app.peer_end();
        emit_status(&handle, &app.sync_status());
        status
    })
    .await
}
