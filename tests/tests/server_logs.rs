//! The server's log, read from a real `provide-sync-server serve` process in both formats
//! after a full multi-device scenario full of canary strings (`provide_tests::canary`): not
//! one name, address, phone number, note, health note, assessment reason, enrolment code or
//! device secret appears in it, while every request is there with its id, route, status,
//! latency, sizes and device, and the wrong credential and the wrong code are logged. At
//! `trace` too, nothing personal.

use provide_tests::binaries::{enrol_code, serve_logged};
use provide_tests::canary;

/// The server's global arguments for a new data folder (and database, in the PostgreSQL pass).
fn server_args(dir: &std::path::Path) -> Vec<String> {
    let data = provide_tests::server::data_dir(dir);
    let mut args = vec!["--data-dir".to_string(), dir.display().to_string()];
    if let Some(url) = data.database_url {
        args.extend(["--database-url".to_string(), url]);
    }
    args
}

/// Runs the scenario against a server logging in `format`; returns the log and the outcome.
fn scenario_log(format: &str, level: Option<&str>) -> (String, canary::Outcome) {
    let dir = tempfile::tempdir().unwrap();
    let owned = server_args(&dir.path().join("data"));
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let log = dir.path().join("server.log");
    let mut serve_args = vec!["--log-format", format];
    if let Some(level) = level {
        serve_args.extend(["--log-level", level]);
    }
    let mut server = serve_logged(&args, &serve_args, &log);
    let url = server.url.clone();
    let outcome = canary::run(&url, &|u, r, t| enrol_code(&args, u, r, t));

    // a safe request id from the client is used and returned; an unsafe one is replaced
    let client = reqwest::blocking::Client::new();
    let health = |id: &str| {
        client
            .get(format!("{url}/v1/health"))
            .header("x-request-id", id)
            .send()
            .unwrap()
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(health("probe-0001").as_deref(), Some("probe-0001"));
    let replaced = health("probe_0002 {unsafe}").expect("a request id is always returned");
    assert_ne!(replaced, "probe_0002 {unsafe}");
    assert!(
        replaced.bytes().all(|b| b.is_ascii_hexdigit()),
        "{replaced}"
    );

    server.serving.stop();
    (std::fs::read_to_string(&server.log).unwrap(), outcome)
}

/// Nothing personal, no code and no secret, in any case or spacing.
fn assert_nothing_personal(log: &str, outcome: &canary::Outcome) {
    let lower = log.to_lowercase();
    for s in outcome.canaries.iter().chain(&outcome.secrets) {
        assert!(!log.contains(s.as_str()), "the log holds {s:?}");
        assert!(!lower.contains(&s.to_lowercase()), "the log holds {s:?}");
    }
    // every canary (and the users' names) carries "canary": none of it, anywhere
    assert!(!lower.contains("canary"), "the log holds a canary:\n{log}");
    // the phone numbers in any spacing (`07700 900417`, `+447700900417`); six digits alone
    // turn up by chance in the random hex of request ids
    for digits in ["900417", "900501", "900502", "900503"] {
        for form in [format!("7700{digits}"), format!("7700 {digits}")] {
            let line = log.lines().find(|l| l.contains(&form));
            assert!(line.is_none(), "the log holds a phone number: {line:?}");
        }
    }
}

fn sync_lines<'a>(lines: &[&'a str], status: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter(|l| l.contains("/v1/sync") && l.contains(status))
        .copied()
        .collect()
}

#[test]
fn the_json_log_holds_every_request_and_nothing_personal() {
    let (log, outcome) = scenario_log("json", None);
    assert_nothing_personal(&log, &outcome);

    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let requests: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "provide::request")
        .collect();
    for r in &requests {
        for field in [
            "request_id",
            "method",
            "route",
            "status",
            "latency_ms",
            "bytes_in",
            "bytes_out",
        ] {
            assert!(!r[field].is_null(), "{field} missing from {r}");
        }
        assert_eq!(r["level"], "INFO");
    }
    let syncs_ok: Vec<_> = requests
        .iter()
        .filter(|r| r["route"] == "/v1/sync" && r["status"] == "200")
        .collect();
    assert_eq!(syncs_ok.len() as u64, outcome.sync_round_trips);
    for s in &syncs_ok {
        assert_eq!(s["method"], "POST");
        assert!(s["bytes_in"].as_u64().unwrap() > 0, "{s}");
        assert!(s["bytes_out"].as_u64().unwrap() > 0, "{s}");
        let device = s["device"].as_str().expect("a sync names its device");
        assert!(outcome.device_ids.iter().any(|d| d == device), "{s}");
    }
    for d in &outcome.device_ids {
        assert!(
            syncs_ok.iter().any(|s| s["device"] == d.as_str()),
            "no sync of {d} logged"
        );
    }
    let refused: Vec<_> = requests
        .iter()
        .filter(|r| r["route"] == "/v1/sync" && r["status"] == "401")
        .collect();
    assert_eq!(refused.len() as u64, outcome.bad_credentials);
    assert!(refused.iter().all(|r| r["code"] == "unauthorized"));
    // the wrong credential of a real device names it; the unknown one names none
    let auth: Vec<_> = lines
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("authentication refused"))
        })
        .collect();
    assert_eq!(auth.len() as u64, outcome.bad_credentials);
    assert!(auth
        .iter()
        .all(|l| l["level"] == "WARN" && l["source"] == "127.0.0.1"));
    assert_eq!(auth[0]["device"], outcome.device_ids[0].as_str());
    assert!(auth[1]["device"].is_null());
    let enrol_refused: Vec<_> = lines
        .iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("enrolment refused"))
        })
        .collect();
    assert_eq!(enrol_refused.len() as u64, outcome.bad_codes);
    assert!(requests
        .iter()
        .any(|r| r["route"] == "/v1/enrol" && r["status"] == "403"));
    assert_eq!(
        requests
            .iter()
            .filter(|r| r["route"] == "/v1/enrol" && r["status"] == "200")
            .count(),
        3
    );
    assert!(requests.iter().any(|r| r["request_id"] == "probe-0001"));
    // routes are templates, never paths with ids or queries
    assert!(requests
        .iter()
        .all(|r| r["route"].as_str().unwrap().starts_with("/v1/") || r["route"] == "unmatched"));
}

#[test]
fn the_text_log_holds_every_request_and_nothing_personal() {
    let (log, outcome) = scenario_log("text", None);
    assert_nothing_personal(&log, &outcome);
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines
            .iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()),
        "text, not JSON"
    );
    let ok = sync_lines(&lines, "status=200");
    assert_eq!(ok.len() as u64, outcome.sync_round_trips, "{log}");
    for l in &ok {
        assert!(l.contains(" INFO "), "{l}");
        for field in [
            "request_id=",
            "method=",
            "latency_ms=",
            "bytes_in=",
            "bytes_out=",
            "device=",
        ] {
            assert!(l.contains(field), "{field} missing from {l}");
        }
    }
    assert_eq!(
        sync_lines(&lines, "status=401").len() as u64,
        outcome.bad_credentials
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(" WARN ") && l.contains("authentication refused"))
            .count() as u64,
        outcome.bad_credentials
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(" WARN ") && l.contains("enrolment refused"))
            .count() as u64,
        outcome.bad_codes
    );
    assert!(lines.iter().any(|l| l.contains("probe-0001")));
}

/// At the most verbose level too: nothing personal (Automerge's own spans, whose fields are
/// its functions' arguments, stay off whatever the level).
#[test]
fn even_the_trace_log_holds_nothing_personal() {
    let (log, outcome) = scenario_log("text", Some("trace"));
    assert_nothing_personal(&log, &outcome);
    assert!(!log.contains("automerge"), "Automerge's spans are logged");
    assert!(
        log.lines().filter(|l| l.contains("/v1/sync")).count() as u64 >= outcome.sync_round_trips
    );
}
