//! provide-core's rules for the UI's browser tests, as JSON lines on stdin and stdout. The
//! browser tests drive the built UI against a fake of the IPC layer (`ui/test/browser/
//! fake-backend.ts`); the rules that fake must follow (scoring, levels and MARAC criteria, who
//! may set which field and to what, who may add to which list) are asked of provide-core here
//! instead of being written a second time in TypeScript. The browser harness starts one of
//! these and forwards the page's `POST /core` requests to it.
//!
//! Each line in is `{"id": N, "cmd": "...", "args": {...}}`; each line out is
//! `{"id": N, "ok": ...}` or `{"id": N, "err": {"code", "message"}}` with provide-core's codes
//! and words. Bad input is an error line, never a panic.

use std::io::{BufRead, Write};

use provide_core::forms::{self, AssessmentInput};
use provide_core::model::Role;
use provide_core::record::conflicts::scalar_json;
use provide_core::record::{edit, Author};
use provide_core::{Error, IpcError};
use serde_json::{json, Value};

fn arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, Error> {
    args.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::InvalidInput(format!("`{name}` is missing")))
}

fn role(args: &Value) -> Result<Role, Error> {
    Role::parse(arg(args, "role")?).map_err(|e| Error::invalid("role", e))
}

fn input(args: &Value) -> Result<AssessmentInput, Error> {
    AssessmentInput::from_json(args.get("input").unwrap_or(&Value::Null))
}

fn answer(cmd: &str, args: &Value) -> Result<Value, Error> {
    match cmd {
        // the live score, level, MARAC criteria and unanswered questions
        "preview_assessment" => {
            let held = forms::newest_of_each(&[]);
            let def = forms::newest(arg(args, "form")?, &held)?;
            Ok(json!(forms::preview(def, &input(args)?)))
        }
        // an assessment as saving builds it: refused for the role, or stored with its evaluation
        "assess" => {
            let held = forms::newest_of_each(&[]);
            let def = forms::newest(arg(args, "form")?, &held)?;
            let author = Author {
                user: arg(args, "user")?.to_string(),
                role: role(args)?,
            };
            let (assessment, evaluation) =
                forms::build_assessment(def, &input(args)?, &author, arg(args, "now")?)?;
            Ok(json!({ "assessment": assessment, "evaluation": evaluation }))
        }
        // a stored assessment scored against its form
        "evaluate" => {
            let a = serde_json::from_value(args.get("assessment").cloned().unwrap_or_default())
                .map_err(|e| Error::InvalidInput(format!("not an assessment: {e}")))?;
            Ok(json!(forms::evaluate_stored(&a)?))
        }
        // may this role set this field to this typed text; the value as the record holds it
        "check_set" => {
            let (_, value) = edit::check_set(arg(args, "path")?, arg(args, "text")?, role(args)?)?;
            Ok(scalar_json(&value))
        }
        "check_add" => {
            edit::check_add(role(args)?, arg(args, "list")?)?;
            Ok(Value::Null)
        }
        other => Err(Error::InvalidInput(format!("no rule called `{other}`"))),
    }
}

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let request: Value = serde_json::from_str(&line).unwrap_or_default();
        let id = request.get("id").cloned().unwrap_or_default();
        let args = request.get("args").cloned().unwrap_or_default();
        let reply = match request.get("cmd").and_then(Value::as_str) {
            Some(cmd) => match answer(cmd, &args) {
                Ok(v) => json!({ "id": id, "ok": v }),
                Err(e) => json!({ "id": id, "err": IpcError::from(&e) }),
            },
            None => {
                json!({ "id": id, "err": { "code": "invalid_input", "message": "a request is {\"id\", \"cmd\", \"args\"}" } })
            }
        };
        if writeln!(out, "{reply}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
}
