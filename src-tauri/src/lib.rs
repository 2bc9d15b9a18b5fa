//! provide-app: the Tauri 2 shell of the Provide patrol app. Thin by design: it finds the data
//! folder, holds provide-core's `App`, exposes one command per action (`commands/`), runs the
//! background thread (`background`) and turns errors into `{code, message}` (`error`). Every
//! decision (roles, locking, sync, scoring) is made and tested in provide-core.
//!
//! The same `run` is the desktop `main` and the Android/iOS entry point.

pub mod background;
pub mod commands;
pub mod error;
pub mod state;

use tauri::Manager;

use state::AppState;

/// Every command, for the app and for the command tests.
#[macro_export]
macro_rules! provide_handlers {
    () => {
        tauri::generate_handler![
            $crate::commands::session::app_status,
            $crate::commands::session::enrol,
            $crate::commands::session::unlock,
            $crate::commands::session::lock,
            $crate::commands::session::touch,
            $crate::commands::session::set_idle_lock,
            $crate::commands::cases::list_cases,
            $crate::commands::cases::show_case,
            $crate::commands::cases::create_case,
            $crate::commands::cases::set_case_fields,
            $crate::commands::cases::add_case_item,
            $crate::commands::cases::assess,
            $crate::commands::cases::case_history,
            $crate::commands::health::show_health,
            $crate::commands::health::add_health_note,
            $crate::commands::health::set_discreet_contact,
            $crate::commands::shift::current_shift,
            $crate::commands::shift::start_shift,
            $crate::commands::shift::plan_visit,
            $crate::commands::shift::end_shift,
            $crate::commands::shift::handover,
            $crate::commands::shift::todays_visits,
            $crate::commands::safeguarding::triage_case,
            $crate::commands::safeguarding::triage_queue,
            $crate::commands::safeguarding::handover_queue,
            $crate::commands::safeguarding::mark_reviewed,
            $crate::commands::safeguarding::marac_list,
            $crate::commands::safeguarding::fetch_closed_cases,
            $crate::commands::reports::dashboard,
            $crate::commands::reports::export_report,
            $crate::commands::reports::audit_log,
            $crate::commands::review::retention_due,
            $crate::commands::review::retention_decide,
            $crate::commands::reference::forms,
            $crate::commands::reference::preview_assessment,
            $crate::commands::reference::directory,
            $crate::commands::sync::sync_status,
            $crate::commands::sync::sync_now,
            $crate::commands::sync::dismiss_sync_notices,
            $crate::commands::peer::peer_status,
            $crate::commands::peer::peer_show_code,
            $crate::commands::peer::peer_pair,
            $crate::commands::peer::peer_sync_now,
            $crate::commands::peer::peer_end,
            $crate::commands::drafts::save_draft,
            $crate::commands::drafts::list_drafts,
            $crate::commands::drafts::get_draft,
            $crate::commands::drafts::discard_draft,
        ]
    };
}

/// Builds the app on any runtime (the real window, or Tauri's mock runtime in tests), with its
/// state and the background thread. `data_dir` overrides where the store lives.
pub fn builder<R: tauri::Runtime>(
    builder: tauri::Builder<R>,
    data_dir: Option<std::path::PathBuf>,
) -> tauri::Builder<R> {
    let builder = builder.invoke_handler(provide_handlers!());
    let builder = match data_dir {
        Some(dir) => builder.manage(AppState::new(dir)),
        None => builder,
    };
    builder.setup(|app| {
        if app.try_state::<AppState>().is_none() {
            let dir = state::data_dir(app.handle())?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| error::ShellError::DataDir(e.kind().to_string()))?;
            app.manage(AppState::new(dir));
        }
        let st = app.state::<AppState>();
        background::start(app.handle().clone(), st.app.clone(), st.scheduler.clone());
        Ok(())
    })
}

#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    let result = builder(tauri::Builder::default(), None).run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("provide: the app could not start: {e}");
        std::process::exit(1);
    }
}
