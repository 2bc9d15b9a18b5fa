//! Cases: list and search, open, create, edit fields (also how a conflict is resolved: writing
//! one value over all of them), add list items, record a risk checklist, field history.

use provide_core::forms::AssessmentInput;
use provide_core::model::Deployment;
use provide_core::record::history::HistoryEntry;
use provide_core::store::{Assessed, CaseFilter, CaseSummary, CaseView};
use tauri::State;

use super::{change, with_store};
use crate::error::ShellResult;
use crate::state::AppState;

/// A field path and the value typed for it, e.g. `["victim.safe_contact.call_ok", "no"]`.
pub type FieldSet = (String, String);

#[tauri::command]
pub async fn list_cases(
    state: State<'_, AppState>,
    filter: CaseFilter,
) -> ShellResult<Vec<CaseSummary>> {
    with_store(&state, move |s| s.list_cases(&filter)).await
}

#[tauri::command]
pub async fn show_case(state: State<'_, AppState>, id: String) -> ShellResult<CaseView> {
    with_store(&state, move |s| s.show_case(&id)).await
}

/// Creates a case; returns its id.
#[tauri::command]
pub async fn create_case(
    state: State<'_, AppState>,
    deployment: Deployment,
    sets: Vec<FieldSet>,
) -> ShellResult<String> {
    change(&state, move |s| s.create_case(deployment, &sets)).await
}

#[tauri::command]
pub async fn set_case_fields(
    state: State<'_, AppState>,
    id: String,
    sets: Vec<FieldSet>,
) -> ShellResult<CaseView> {
    change(&state, move |s| {
        s.set_case_fields(&id, &sets)?;
        s.show_case(&id)
    })
    .await
}

/// Adds an item to one of the case's lists (notes, visits, referrals, safety_plan, children).
#[tauri::command]
pub async fn add_case_item(
    state: State<'_, AppState>,
    id: String,
    list: String,
    item: serde_json::Value,
) -> ShellResult<CaseView> {
    change(&state, move |s| {
        s.add_case_item(&id, &list, &item)?;
        s.show_case(&id)
    })
    .await
}

#[tauri::command]
pub async fn assess(
    state: State<'_, AppState>,
    id: String,
    form: String,
    input: AssessmentInput,
) -> ShellResult<Assessed> {
    change(&state, move |s| {
        let (assessment_id, evaluation) = s.assess(&id, &form, &input)?;
        Ok(Assessed {
            assessment_id,
            evaluation,
        })
    })
    .await
}

#[tauri::command]
pub async fn case_history(
    state: State<'_, AppState>,
    id: String,
    path: Option<String>,
) -> ShellResult<Vec<HistoryEntry>> {
    with_store(&state, move |s| s.case_history(&id, path.as_deref())).await
}
