//! The background thread: once a second it asks provide-core's `Scheduler` what to do, locks
//! the window when the idle lock fires, and runs syncs, telling the window as it goes through
//! the `locked` and `sync-status` events. It holds no store of its own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use provide_core::app::{App, Scheduler, SyncStatus, Tick};
use tauri::{AppHandle, Emitter, Runtime};

pub const EVENT_LOCKED: &str = "locked";
pub const EVENT_SYNC_STATUS: &str = "sync-status";

/// Sends the status line to the window (a closed window is not an error).
pub fn emit_status<R: Runtime>(handle: &AppHandle<R>, status: &SyncStatus) {
    let _ = handle.emit(EVENT_SYNC_STATUS, status);
}

pub fn start<R: Runtime>(handle: AppHandle<R>, app: Arc<App>, scheduler: Arc<Mutex<Scheduler>>) {
    let spawned = std::thread::Builder::new()
        .name("provide-background".into())
        .spawn(move || loop {
            let tick = match scheduler.lock() {
                Ok(mut s) => s.tick(&app, Instant::now()),
                Err(_) => return,
            };
            match tick {
                Tick::Nothing => {}
                Tick::Locked => {
                    let _ = handle.emit(EVENT_LOCKED, ());
                }
                Tick::PeerSyncDue => {
                    let result = app.peer_sync_now();
                    if let Ok(mut s) = scheduler.lock() {
                        s.after_peer_sync(&result, Instant::now());
                    }
                    emit_status(&handle, &app.sync_status());
                }
                Tick::SyncDue => {
                    let result = app.sync_now(&mut |s| emit_status(&handle, s));
                    if let Ok(mut s) = scheduler.lock() {
                        s.after_sync(&result, Instant::now());
                    }
                    if !app.is_unlocked() {
                        // revoked and erased during the sync
                        let _ = handle.emit(EVENT_LOCKED, ());
                    }
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        });
    if spawned.is_err() {
        eprintln!("provide: the background thread could not start; sync runs only on demand");
    }
}
