//! The UI's TypeScript types are generated from these Rust types (ts-rs) into
//! `ui/src/lib/bindings/`, never copied by hand. This test regenerates them and fails if the
//! committed files differ; `UPDATE_BINDINGS=1 cargo test -p provide-core --test ts_bindings`
//! writes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use provide_core::app::{AppStatus, ExportSaved, PeerStatus, SyncStatus};
use provide_core::directory::Directory;
use provide_core::forms::{AssessmentInput, AssessmentPreview, FormDef};
use provide_core::model::field_table::{field_table, FieldTable};
use provide_core::model::{Case, Deployment, HealthRecord, Shift};
use provide_core::peer::PeerReport;
use provide_core::record::history::HistoryEntry;
use provide_core::report::{AuditQuery, AuditRow, Dashboard, ExportFormat};
use provide_core::retention::{DecisionRequest, DueList, ReviewDecision};
use provide_core::store::{
    Assessed, CaseFilter, CaseSummary, CaseView, Draft, DraftInput, Handover, HandoverItem,
    HealthView, MaracEntry, ShiftInput, TriageInput, TriagedCase,
};
use provide_core::sync::fetch::FetchReport;
use provide_core::sync::SyncReport;
use provide_core::IpcError;
use ts_rs::TS;

fn export_all(dir: &Path) {
    macro_rules! export {
        ($($t:ty),+ $(,)?) => { $( <$t>::export_all_to(dir).expect(stringify!($t)); )+ };
    }
    export!(
        AppStatus,
        SyncStatus,
        SyncReport,
        IpcError,
        Case,
        CaseFilter,
        CaseSummary,
        CaseView,
        Deployment,
        HealthRecord,
        HealthView,
        Shift,
        ShiftInput,
        Handover,
        FormDef,
        AssessmentInput,
        Assessed,
        Directory,
        HistoryEntry,
        TriageInput,
        TriagedCase,
        HandoverItem,
        MaracEntry,
        Dashboard,
        ExportFormat,
        AuditQuery,
        AuditRow,
        ExportSaved,
        FetchReport,
        DueList,
        DecisionRequest,
        ReviewDecision,
        AssessmentPreview,
        FieldTable,
        Draft,
        DraftInput,
        PeerStatus,
        PeerReport,
    );
    // the field table's data, not only its type: the UI's field names come from here
    let table = serde_json::to_string_pretty(&field_table()).expect("field table");
    std::fs::write(
        dir.join("field-table.ts"),
        format!(
            "// Generated from provide-core's `model/fields.rs` by the bindings test; do not edit.\n\
             import type {{ FieldTable }} from \"./FieldTable\";\n\n\
             export const FIELD_TABLE: FieldTable = {table};\n"
        ),
    )
    .expect("field-table.ts");
}

/// Every `.ts` file under `dir`, by its path relative to `dir`.
fn read_dir(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|x| x == "ts") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), text);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn ui_bindings_are_generated_from_the_rust_types() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/bindings");
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        let _ = std::fs::remove_dir_all(&committed);
        std::fs::create_dir_all(&committed).unwrap();
        export_all(&committed);
        return;
    }
    let fresh = tempfile::tempdir().unwrap();
    export_all(fresh.path());
    let want = read_dir(fresh.path());
    let have = read_dir(&committed);
    assert!(!want.is_empty());
    let stale: Vec<_> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, _)| k.display().to_string())
        .chain(
            have.keys()
                .filter(|k| !want.contains_key(*k))
                .map(|k| format!("{} (no longer generated)", k.display())),
        )
        .collect();
    assert!(
        stale.is_empty(),
        "ui/src/lib/bindings is out of date: {stale:?}. Run `make bindings`."
    );
}
