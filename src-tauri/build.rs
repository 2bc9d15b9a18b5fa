//! Generates the app's ACL manifest: every command the UI may call is listed here, and each
//! gets an `allow-<command>` permission that `capabilities/main.json` grants to the main window.
//! A command missing from this list cannot be called from the window at all.

const COMMANDS: &[&str] = &[
    // session
    "app_status",
    "enrol",
    "unlock",
    "lock",
    "touch",
    "set_idle_lock",
    // cases
    "list_cases",
    "show_case",
    "create_case",
    "set_case_fields",
    "add_case_item",
    "assess",
    "case_history",
    // health (IDVA only; the store refuses other roles)
    "show_health",
    "add_health_note",
    "set_discreet_contact",
    // shift
    "current_shift",
    "start_shift",
    "plan_visit",
    "end_shift",
    "handover",
    "todays_visits",
    // safeguarding unit (the store refuses other roles)
    "triage_case",
    "triage_queue",
    "handover_queue",
    "mark_reviewed",
    "marac_list",
    "fetch_closed_cases",
    // reports from the server (the server decides who may read them)
    "dashboard",
    "export_report",
    "audit_log",
    // retention review (the safeguarding unit: cases; IDVAs: health records)
    "retention_due",
    "retention_decide",
    // reference data
    "forms",
    "preview_assessment",
    "directory",
    // sync
    "sync_status",
    "sync_now",
    "dismiss_sync_notices",
    // the pair in the car: pairing with the partner's device and syncing with it
    "peer_status",
    "peer_show_code",
    "peer_pair",
    "peer_sync_now",
    "peer_end",
    // drafts kept through the lock (the signed-in user's own)
    "save_draft",
    "list_drafts",
    "get_draft",
    "discard_draft",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("the Tauri build step failed");
}
