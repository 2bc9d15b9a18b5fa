//! What the shell keeps between commands: the one `App` of provide-core, and the background
//! scheduler that local changes nudge so they are sent soon.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use provide_core::app::{http_transport, App, Scheduler};
use provide_core::crypto::keystore::os_keystore;

pub struct AppState {
    pub app: Arc<App>,
    pub scheduler: Arc<Mutex<Scheduler>>,
}

impl AppState {
    pub fn new(data_dir: PathBuf) -> Self {
        AppState {
            // The OS keystore (Secret Service, Keychain, Credential Manager) when one answers;
            // without it key slots are passphrase-only and the status says so.
            app: Arc::new(App::new(&data_dir, http_transport()).with_keystore(os_keystore())),
            scheduler: Arc::new(Mutex::new(Scheduler::standard(Instant::now()))),
        }
    }

    /// A local change was made: ask the background thread to sync soon.
    pub fn changed(&self) {
        if let Ok(mut s) = self.scheduler.lock() {
            s.nudge(Instant::now());
        }
    }
}

/// Where the store lives: `PROVIDE_DATA_DIR` if set (demo, tests), else core's default for the
/// platform (`%LOCALAPPDATA%\Provide` on Windows, shared with the command line), else the
/// platform's per-app data folder (where Linux stores already in the field live).
pub fn data_dir<R: tauri::Runtime>(app: &tauri::AppHandle<R>) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PROVIDE_DATA_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = provide_core::data_dir::default_dir() {
        return Ok(dir);
    }
    use tauri::Manager;
    app.path().app_data_dir().map_err(|e| e.to_string())
}
