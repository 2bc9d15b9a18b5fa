//! The metrics of a real `provide-sync-server serve --metrics-listen` process, scraped before
//! and after a full multi-device scenario: Prometheus' own `promtool check metrics` accepts the
//! exposition, and the numbers moved as the scenario implies (syncs, documents each way and
//! stored, refusals by code, latency by route, nothing left in flight). `/v1/ready` answers
//! while the database does.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use provide_tests::binaries::{enrol_code, serve_logged};
use provide_tests::canary;

fn server_args(dir: &std::path::Path) -> Vec<String> {
    let data = provide_tests::server::data_dir(dir);
    let mut args = vec!["--data-dir".to_string(), dir.display().to_string()];
    if let Some(url) = data.database_url {
        args.extend(["--database-url".to_string(), url]);
    }
    args
}

/// Samples by their name and labels as written (`name{a="b"}`).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

fn get(s: &BTreeMap<String, f64>, name: &str) -> f64 {
    *s.get(name)
        .unwrap_or_else(|| panic!("{name} is missing from {s:#?}"))
}

/// `promtool check metrics` on `text`: None when promtool is missing here (and not required).
fn promtool(text: &str) -> Option<()> {
    let required = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
        || std::env::var("PROVIDE_REQUIRE_PROMTOOL").as_deref() == Ok("1");
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            eprintln!(
                "skipped the promtool check: promtool is missing (Debian's prometheus package; \
                 scripts/install-deps.sh installs it)"
            );
            return None;
        }
        Err(e) => panic!("promtool is required here and could not be run: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused the exposition:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(())
}

#[test]
fn metrics_pass_promtool_and_count_a_multi_device_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let owned = server_args(&dir.path().join("data"));
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let server = serve_logged(
        &args,
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--max-syncs-in-flight",
            "48",
        ],
        &dir.path().join("server.log"),
    );
    let metrics_url = server.metrics_url.clone().unwrap();
    assert!(
        metrics_url.starts_with("http://127.0.0.1:"),
        "{metrics_url}"
    );
    let client = reqwest::blocking::Client::new();
    let scrape = || {
        let r = client.get(&metrics_url).send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let kind = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
        r.text().unwrap()
    };

    // before: nothing counted, nothing stored
    let before_text = scrape();
    promtool(&before_text);
    let before = samples(&before_text);
    assert_eq!(get(&before, "provide_syncs_total{outcome=\"ok\"}"), 0.0);
    assert_eq!(get(&before, "provide_documents_stored"), 0.0);
    assert_eq!(get(&before, "provide_syncs_in_flight_max"), 48.0);

    let ready = client
        .get(format!("{}/v1/ready", server.url))
        .send()
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(ready.text().unwrap(), "ready");

    let outcome = canary::run(&server.url, &|u, r, t| enrol_code(&args, u, r, t));

    let after_text = scrape();
    let checked = promtool(&after_text);
    let after = samples(&after_text);
    let n = |name: &str| get(&after, name);

    assert_eq!(
        n("provide_syncs_total{outcome=\"ok\"}"),
        outcome.sync_round_trips as f64
    );
    assert_eq!(n("provide_syncs_total{outcome=\"error\"}"), 0.0);
    assert_eq!(
        n("provide_syncs_total{outcome=\"refused\"}"),
        outcome.bad_credentials as f64
    );
    assert_eq!(
        n("provide_documents_received_total"),
        outcome.docs_up as f64
    );
    assert_eq!(n("provide_documents_sent_total"), outcome.docs_down as f64);
    assert_eq!(n("provide_documents_stored"), outcome.records.len() as f64);
    assert!(n("provide_sync_received_bytes_total") > 0.0);
    assert!(n("provide_sync_sent_bytes_total") > 0.0);
    assert_eq!(
        n("provide_refusals_total{code=\"unauthorized\"}"),
        outcome.bad_credentials as f64
    );
    assert_eq!(
        n("provide_refusals_total{code=\"enrolment_refused\"}"),
        outcome.bad_codes as f64
    );
    assert!(!after.keys().any(|k| k.starts_with("provide_errors_total")));
    assert_eq!(
        n("provide_http_requests_total{route=\"/v1/sync\",status=\"200\"}"),
        outcome.sync_round_trips as f64
    );
    assert_eq!(
        n("provide_http_requests_total{route=\"/v1/enrol\",status=\"200\"}"),
        3.0
    );
    // every request (the syncs, the refused ones, enrolments and the probe) is in the
    // histogram of its route
    let sync_count = n("provide_http_request_duration_seconds_count{route=\"/v1/sync\"}");
    assert_eq!(
        sync_count,
        (outcome.sync_round_trips + outcome.bad_credentials) as f64
    );
    assert_eq!(
        n("provide_http_request_duration_seconds_bucket{route=\"/v1/sync\",le=\"+Inf\"}"),
        sync_count
    );
    assert!(n("provide_http_request_duration_seconds_sum{route=\"/v1/sync\"}") > 0.0);
    assert_eq!(
        n("provide_http_request_duration_seconds_count{route=\"/v1/ready\"}"),
        1.0
    );
    assert_eq!(n("provide_syncs_in_flight"), 0.0);
    let pool_max = n("provide_database_connections_max");
    assert!(pool_max >= 1.0);
    assert!(
        n("provide_database_connections{state=\"in_use\"}")
            + n("provide_database_connections{state=\"idle\"}")
            <= pool_max
    );
    assert!(n("provide_database_connections{state=\"idle\"}") >= 1.0);
    if checked.is_none() {
        eprintln!("(the exposition was checked by this test's own reading only)");
    }
}
