//! The shell's commands through Tauri's own IPC (`tauri::test`, mock runtime, the app's real
//! ACL from `build.rs` and `capabilities/main.json`): every command is reachable from the main
//! window, results are the typed JSON the UI expects, errors are `{code, message}`, and a
//! command outside the manifest is refused. The store is a real encrypted store made offline;
//! enrolment and sync against a real server are covered by `tests/tests/app.rs` and the
//! native suite.

use provide_core::crypto::keyslots::LockPolicy;
use provide_core::crypto::KdfParams;
use provide_core::model::Role;
use provide_core::store::NewUser;
use provide_core::{InitOptions, Store};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindow;

const PASS: &str = "fictional kettle passphrase";

struct Harness {
    _dir: tempfile::TempDir,
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
}

fn harness(role: Option<Role>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    if let Some(role) = role {
        let opts = InitOptions {
            kdf: KdfParams::FLOOR,
            policy: LockPolicy::default(),
        };
        let user = NewUser {
            name: format!("{role}.fictional"),
            role,
            division: "west".into(),
            team: "t1".into(),
        };
        drop(Store::init(&data, user, PASS, opts).unwrap());
    }
    let app = provide_app_lib::builder(mock_builder(), Some(data))
        .build(tauri::generate_context!())
        .expect("the app builds on the mock runtime");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    Harness {
        _dir: dir,
        _app: app,
        window,
    }
}

impl Harness {
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, request).map(|b| b.deserialize::<Value>().unwrap())
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.call(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    fn err(&self, cmd: &str, args: Value) -> Value {
        match self.call(cmd, args) {
            Ok(v) => panic!("{cmd} should have failed, gave {v}"),
            Err(e) => e,
        }
    }
}

fn code(e: &Value) -> &str {
    e["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not {{code, message}}: {e}"))
}

#[test]
fn first_run_is_not_enrolled_and_locked_commands_say_so() {
    let h = harness(None);
    let st = h.ok("app_status", json!({}));
    assert_eq!(st["phase"]["phase"], "not_enrolled");
    assert_eq!(st["device_policy"], Value::Null, "no store, no policy");
    let e = h.err("list_cases", json!({"filter": {}}));
    assert_eq!(code(&e), "locked");
    assert!(e["message"].as_str().unwrap().contains("locked"));
    // enrolment refuses a plain-http remote server before any network use
    let e = h.err(
        "enrol",
        json!({"server": "http://sync.example.org", "code": "AAAA-BBBB", "passphrase": PASS}),
    );
    assert_eq!(code(&e), "invalid_input", "{e}");
    // reference data needs no unlocked store
    let forms = h.ok("forms", json!({}));
    let ids: Vec<&str> = forms
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"dash") && ids.contains(&"dara"), "{ids:?}");
    assert!(!h.ok("directory", json!({}))["services"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn a_command_outside_the_manifest_is_refused() {
    let h = harness(None);
    for cmd in [
        "wipe_everything",
        "plugin:fs|read_file",
        "plugin:shell|execute",
    ] {
        h.err(cmd, json!({}));
    }
}

#[test]
fn the_idva_works_a_case_through_the_commands() {
    let h = harness(Some(Role::Idva));
    let e = h.err(
        "unlock",
        json!({"passphrase": "wrong passphrase", "user": null}),
    );
    assert_eq!(code(&e), "wrong_passphrase");
    let e = h.err("unlock", json!({"passphrase": PASS, "user": null}));
    assert_eq!(
        code(&e),
        "backing_off",
        "the back-off applies to the next try"
    );
    let st = h.ok("app_status", json!({}));
    assert_eq!(st["phase"]["phase"], "locked");
    assert!(st["phase"]["wait_ms"].as_u64().unwrap() > 0);
}

#[test]
fn case_shift_health_and_sync_commands() {
    let h = harness(Some(Role::Idva));
    let st = h.ok("unlock", json!({"passphrase": PASS, "user": null}));
    assert_eq!(st["phase"]["session"]["role"], "idva");
    // Settings: how long handed-over and closed cases stay; this store never heard a server
    assert_eq!(
        h.ok("app_status", json!({}))["device_policy"],
        json!({"grace_hours": 72, "heard_from_server": false})
    );
    assert_eq!(h.ok("sync_status", json!({}))["waiting"], 0);

    let shift = h.ok(
        "start_shift",
        json!({"input": {"pattern": "early", "call_sign": "WA21", "partner": "pc.fictional", "date": null}}),
    );
    let shift_id = shift["id"].as_str().unwrap().to_string();
    assert_eq!(h.ok("current_shift", json!({}))["id"], shift_id);

    let id = h.ok(
        "create_case",
        json!({"deployment": "post_incident", "sets": [["victim.name", "Jane Fictional"], ["victim.safe_contact.call_ok", "no"]]}),
    );
    let id = id.as_str().unwrap().to_string();
    let view = h.ok("show_case", json!({"id": id}));
    assert_eq!(view["record"]["victim"]["safe_contact"]["call_ok"], false);
    let e = h.err(
        "set_case_fields",
        json!({"id": id, "sets": [["victim.nickname", "x"]]}),
    );
    assert_eq!(code(&e), "unknown_path");
    let view = h.ok(
        "set_case_fields",
        json!({"id": id, "sets": [["status", "active"], ["perpetrator.in_custody", "yes"]]}),
    );
    assert_eq!(view["record"]["perpetrator"]["in_custody"], true);

    let answers: serde_json::Map<String, Value> = h
        .ok("forms", json!({}))
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "dash")
        .unwrap()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["questions"].as_array().unwrap().clone())
        .map(|q| (q["id"].as_str().unwrap().to_string(), json!("yes")))
        .collect();
    let assessed = h.ok(
        "assess",
        json!({"id": id, "form": "dash", "input": {"answers": answers, "judgement_level": null, "judgement_reason": null, "incidents_12_months": 1}}),
    );
    assert_eq!(assessed["evaluation"]["level"], "high");
    assert!(assessed["evaluation"]["marac_criteria"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "visible_high_risk"));
    let view = h.ok("add_case_item", json!({"id": id, "list": "referrals", "item": {"kind": "marac", "service": "Daily MARAC", "consent": "yes"}}));
    assert_eq!(view["record"]["referrals"][0]["status"], "to_make");
    h.ok(
        "add_case_item",
        json!({"id": id, "list": "notes", "item": {"text": "safety plan agreed"}}),
    );
    let e = h.err(
        "add_case_item",
        json!({"id": id, "list": "notes", "item": {"text": ""}}),
    );
    assert_eq!(code(&e), "invalid_value");

    let health = h.ok(
        "add_health_note",
        json!({"caseId": id, "text": "GP appointment Tuesday"}),
    );
    assert_eq!(health["record"]["notes"].as_array().unwrap().len(), 1);
    assert!(!h
        .ok("case_history", json!({"id": id, "path": "status"}))
        .as_array()
        .unwrap()
        .is_empty());

    let rows = h.ok(
        "list_cases",
        json!({"filter": {"risk": "high", "search": "jane"}}),
    );
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let e = h.err("list_cases", json!({"filter": {"risk": "extreme"}}));
    assert_eq!(code(&e), "invalid_value");
    h.ok("plan_visit", json!({"shiftId": shift_id, "caseId": id}));
    assert_eq!(
        h.ok("todays_visits", json!({})).as_array().unwrap().len(),
        1
    );

    let handover = h.ok("end_shift", json!({"shiftId": shift_id}));
    let case = &handover["cases"][0];
    assert_eq!(case["case"]["id"], id);
    assert!(case["done"].as_array().unwrap().len() >= 3, "{case}");
    assert!(case["outstanding"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o.as_str().unwrap().contains("referral to make")));
    assert!(handover["unsynced"].as_u64().unwrap() >= 2);
    assert_eq!(h.ok("current_shift", json!({})), Value::Null);

    // this store was made offline: sync says so in plain words
    assert_eq!(code(&h.err("sync_now", json!({}))), "not_enrolled");
    assert_eq!(
        h.ok("set_idle_lock", json!({"minutes": 7}))["idle_lock_minutes"],
        7
    );
    assert_eq!(
        code(&h.err("set_idle_lock", json!({"minutes": 30}))),
        "invalid_setting"
    );
    h.ok("touch", json!({}));
    assert_eq!(h.ok("lock", json!({}))["phase"]["phase"], "locked");
    assert_eq!(code(&h.err("show_case", json!({"id": id}))), "locked");
}

#[test]
fn an_officer_gets_no_health_record() {
    let h = harness(Some(Role::Officer));
    h.ok("unlock", json!({"passphrase": PASS, "user": null}));
    let id = h.ok("create_case", json!({"deployment": "live", "sets": []}));
    let e = h.err("show_health", json!({"caseId": id}));
    assert_eq!(code(&e), "forbidden");
    let e = h.err(
        "add_case_item",
        json!({"id": id, "list": "referrals", "item": {"kind": "refuge", "service": "Refuge"}}),
    );
    assert_eq!(code(&e), "forbidden");
}

/// The Retention screen's commands (and the unit's search of closed cases) are in the
/// manifest: an officer's call reaches the app, which refuses it as `forbidden` before
/// anything is sent (this store has no server).
#[test]
fn the_retention_and_fetch_commands_are_reachable_and_refuse_an_officer() {
    let h = harness(Some(Role::Officer));
    h.ok("unlock", json!({"passphrase": PASS, "user": null}));
    let e = h.err("retention_due", json!({}));
    assert_eq!(code(&e), "forbidden", "{e}");
    assert!(e["message"].as_str().unwrap().contains("retention"), "{e}");
    let request = json!({
        "record": "3f2a9c10-7d1e-4b6a-9c2f-000000000000",
        "decision": "dispose",
        "retain_until": null,
        "reason": "Fictional: review period passed",
    });
    let e = h.err("retention_decide", json!({ "request": request }));
    assert_eq!(code(&e), "forbidden", "{e}");
    let e = h.err(
        "fetch_closed_cases",
        json!({"reference": "WE-FETCH-0042", "name": null}),
    );
    assert_eq!(code(&e), "forbidden", "{e}");
}

/// The live score comes from provide-core through the command layer, on a locked app too (it
/// is a local call that needs no record): the same level and MARAC criteria as saving.
#[test]
fn the_live_score_is_provide_cores() {
    let h = harness(Some(Role::Idva));
    let answers: serde_json::Map<String, Value> = (1..=14)
        .map(|i| (format!("dash_{i:02}"), json!("yes")))
        .collect();
    let p = h.ok(
        "preview_assessment",
        json!({"form": "dash", "input": {"answers": answers}}),
    );
    assert_eq!(p["score"], 14);
    assert_eq!(p["level"], "high");
    assert_eq!(p["marac_criteria"], json!(["visible_high_risk"]));
    assert_eq!(p["answered"], 14);
    assert_eq!(p["unanswered"].as_array().unwrap().len(), 13);
    assert_eq!(p["problem"], "");
    let e = h.err(
        "preview_assessment",
        json!({"form": "nope", "input": {"answers": {}}}),
    );
    assert!(!code(&e).is_empty(), "{e}");
}

/// Drafts through the window's commands: kept in the store, gone from reach when locked,
/// back after unlocking, discarded on request; an oversized one refused with its own code.
#[test]
fn drafts_survive_the_lock_through_the_commands() {
    let h = harness(Some(Role::Idva));
    h.ok("unlock", json!({"passphrase": PASS, "user": null}));
    let id = h
        .ok(
            "create_case",
            json!({"deployment": "live", "sets": [["victim.name", "Fictional Draftperson"]]}),
        )
        .as_str()
        .unwrap()
        .to_string();
    let key = format!("note:{id}");
    let input = json!({
        "key": key,
        "record": id,
        "screen": format!(r#"{{"screen":"case","id":"{id}"}}"#),
        "body": r#"{"text":"Fictional: half a note"}"#,
    });
    let saved = h.ok("save_draft", json!({ "input": input }));
    assert_eq!(saved["key"], key.as_str());
    h.ok("lock", json!({}));
    assert_eq!(code(&h.err("get_draft", json!({"key": key}))), "locked");
    assert_eq!(code(&h.err("list_drafts", json!({}))), "locked");
    h.ok("unlock", json!({"passphrase": PASS, "user": null}));
    let back = h.ok("get_draft", json!({"key": key}));
    assert_eq!(back["body"], r#"{"text":"Fictional: half a note"}"#);
    assert_eq!(h.ok("list_drafts", json!({})).as_array().unwrap().len(), 1);
    let big = json!({
        "key": key, "record": id, "screen": "{}",
        "body": serde_json::to_string(&"x".repeat(70 * 1024)).unwrap(),
    });
    assert_eq!(
        code(&h.err("save_draft", json!({ "input": big }))),
        "draft_too_large"
    );
    assert_eq!(h.ok("discard_draft", json!({"key": key})), true);
    assert_eq!(h.ok("get_draft", json!({"key": key})), Value::Null);
}
