//! The commands the window may call, one thin function each over provide-core. Every one runs
//! off the main thread (the window never freezes on a slow disk or a long unlock), returns
//! typed data, and fails as `{code, message}`. Commands that change a record nudge the
//! background sync. The ACL manifest in `build.rs` lists them all.

pub mod cases;
pub mod drafts;
pub mod health;
pub mod peer;
pub mod reference;
pub mod reports;
pub mod review;
pub mod safeguarding;
pub mod session;
pub mod shift;
pub mod sync;

use std::sync::Arc;

use provide_core::app::App;

use crate::error::{ShellError, ShellResult};
use crate::state::AppState;

/// Runs `f` on a blocking thread with the app.
pub(crate) async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App) -> provide_core::Result<T> + Send + 'static,
) -> ShellResult<T> {
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || f(&app))
        .await
        .map_err(|e| ShellError::Task(e.to_string()))?
        .map_err(ShellError::from)
}

/// Runs `f` on the unlocked store.
pub(crate) async fn with_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut provide_core::Store) -> provide_core::Result<T> + Send + 'static,
) -> ShellResult<T> {
    blocking(&state.app, move |app| app.with_store(f)).await
}

/// Runs `f` on the unlocked store and nudges the background sync.
pub(crate) async fn change<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut provide_core::Store) -> provide_core::Result<T> + Send + 'static,
) -> ShellResult<T> {
    let out = with_store(state, f).await?;
    state.changed();
    Ok(out)
}
