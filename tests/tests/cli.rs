//! The command-line contract of sync, end to end with the real binaries: the administrator
//! issues codes and revokes with `provide-sync-server`, devices enrol and sync with `provide`,
//! against a server started with `serve` on a loopback port.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use provide_tests::binaries::{self, bin, Serving};
use serde_json::Value;

const PASS: &str = "correct horse battery staple";
const FAST_KDF: &[&str] = &["--kdf-memory-kib", "19456", "--kdf-iterations", "2"];

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(bin(program))
        .args(args)
        .env("PROVIDE_PASSPHRASE", PASS)
        .env_remove("PROVIDE_DATA_DIR")
        .env_remove("PROVIDE_CA_CERT")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn server(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    run("provide-sync-server", &all)
}

fn device(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    run("provide", &all)
}

/// Starts `serve` on a free loopback port; returns it and its URL.
fn serve(dir: &Path) -> (Serving, String) {
    binaries::serve(&["--data-dir", dir.to_str().unwrap()])
}

fn code(dir: &Path, user: &str, role: &str, team: &str) -> String {
    binaries::enrol_code(&["--data-dir", dir.to_str().unwrap()], user, role, team)
}

fn enrol(dir: &Path, url: &str, code: &str) -> Output {
    let mut args = vec!["enrol", "--server", url, "--code", code];
    args.extend_from_slice(FAST_KDF);
    device(dir, &args)
}

fn sync_json(dir: &Path) -> Value {
    serde_json::from_str(&ok(device(dir, &["sync", "--json"]))).unwrap()
}

#[test]
fn administer_enrol_sync_revoke_and_audit_from_the_command_line() {
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let (officer, idva) = (root.path().join("officer"), root.path().join("idva"));
    let officer_code = code(&srv, "pc.uma.fictional", "officer", "t1");
    let idva_code = code(&srv, "idva.vic.fictional", "idva", "t1");
    let (_serving, url) = serve(&srv);

    ok(enrol(&officer, &url, &officer_code));
    ok(enrol(&idva, &url, &idva_code));
    let case = ok(device(
        &officer,
        &[
            "case",
            "new",
            "--deployment",
            "post_incident",
            "--set",
            "victim.name=Wren Fictional",
        ],
    ));
    let case = case.trim();
    let report = sync_json(&officer);
    for key in [
        "round_trips",
        "bytes_up",
        "bytes_down",
        "docs_sent",
        "docs_received",
    ] {
        assert!(report[key].is_u64(), "{key} missing from {report}");
    }
    assert_eq!(report["round_trips"], 1);
    assert_eq!(report["docs_sent"], 1);
    let report = sync_json(&idva);
    assert_eq!(report["docs_received"], 1);
    ok(device(&idva, &["case", "show", case, "--json"]));

    let devices: Value = serde_json::from_str(&ok(server(&srv, &["devices", "--json"]))).unwrap();
    let devices = devices.as_array().unwrap();
    assert_eq!(devices.len(), 2);
    for d in devices {
        for key in ["id", "user", "role", "revoked"] {
            assert!(!d[key].is_null(), "{key} missing from {d}");
        }
        assert!(
            d.get("credential_hash").is_none(),
            "credential hashes are never listed"
        );
    }
    let officer_id = devices.iter().find(|d| d["role"] == "officer").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // revoke: the next sync hands over the unsynced note, then the device erases itself
    ok(device(
        &officer,
        &[
            "case",
            "add",
            case,
            "notes",
            r#"{"text":"fictional last note"}"#,
        ],
    ));
    ok(server(&srv, &["revoke", "--device", &officer_id]));
    let out = device(&officer, &["sync", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["revoked"], true);
    assert_eq!(report["docs_sent"], 1);
    let status: Value = serde_json::from_str(&ok(device(&officer, &["status", "--json"]))).unwrap();
    assert_eq!(status["wiped"], true);
    let devices: Value = serde_json::from_str(&ok(server(&srv, &["devices", "--json"]))).unwrap();
    assert!(devices
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["id"] == officer_id.as_str() && d["revoked"] == true));
    // the final upload is kept apart for review, not sent to the team
    assert_eq!(sync_json(&idva)["docs_received"], 0);
    let held: Value = serde_json::from_str(&ok(server(&srv, &["held", "--json"]))).unwrap();
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["record"], case);
    assert_eq!(held[0]["device"], officer_id.as_str());

    let audit: Value = serde_json::from_str(&ok(server(&srv, &["audit", "--json"]))).unwrap();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for a in ["enrolment_code", "enrol", "receive", "disclose", "revoke"] {
        assert!(actions.contains(&a), "no {a} in the audit log");
    }
    let text = serde_json::to_string(&audit).unwrap();
    assert!(
        !text.contains("Wren"),
        "the audit log holds no personal data"
    );
    let check: Value = serde_json::from_str(&ok(server(
        &srv,
        &["audit", "--verify-device", &officer_id],
    )))
    .unwrap();
    assert_eq!(check["verified"], true);
}

#[test]
fn bad_commands_fail_clearly_and_leave_nothing_behind() {
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let out = server(
        &srv,
        &[
            "enrol",
            "--user",
            "x",
            "--role",
            "pilot",
            "--division",
            "west",
            "--team",
            "t1",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("officer, idva, safeguarding, admin"));
    assert!(
        !srv.exists(),
        "a refused command created the server's data folder"
    );
    let out = server(
        &srv,
        &[
            "enrol",
            "--user",
            "pc.x",
            "--role",
            "officer",
            "--division",
            "west",
            "--team",
            "",
        ],
    );
    assert!(!out.status.success(), "an officer needs a team");
    let out = server(&srv, &["revoke", "--device", "no-such-device"]);
    assert_eq!(out.status.code(), Some(7));

    let dev = root.path().join("device");
    let out = enrol(&dev, "http://sync.example.org", "AAAAA-BBBBB-CCCCC-DDDDD");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("https"));
    let (_serving, url) = serve(&srv);
    let out = enrol(&dev, &url, "AAAAA-BBBBB-CCCCC-DDDDD");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("enrolment code"));
    assert!(
        !dev.exists() || std::fs::read_dir(&dev).unwrap().count() == 0,
        "a refused enrolment left files behind"
    );
    // a store made without a server cannot sync
    let plain = root.path().join("plain");
    let mut args = vec!["init", "--user", "pc.y", "--role", "officer"];
    args.extend_from_slice(FAST_KDF);
    ok(device(&plain, &args));
    let out = device(&plain, &["sync", "--json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not enrolled"));
    // an unreachable server is an error of its own, with its own exit code
    let code = code(&srv, "pc.zed.fictional", "officer", "t1");
    let enrolled = root.path().join("enrolled");
    ok(enrol(&enrolled, &url, &code));
    drop(_serving);
    let out = device(&enrolled, &["sync", "--json"]);
    assert_eq!(out.status.code(), Some(8));
}

/// The global options of both binaries may come before or after the subcommand, as a new
/// operator types them: `provide-sync-server serve --data-dir D --database-url URL`.
#[test]
fn global_options_are_taken_before_or_after_the_subcommand() {
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let key = root.path().join("kept-apart.key");
    let officer = root.path().join("officer");
    let (srv_s, key_s, officer_s) = (
        srv.to_str().unwrap(),
        key.to_str().unwrap(),
        officer.to_str().unwrap(),
    );
    let database = std::env::var("PROVIDE_TEST_DATABASE_URL")
        .ok()
        .map(|base| provide_tests::server::fresh_database(&base));
    // every global option after the subcommand
    let mut globals = vec!["--data-dir", srv_s, "--key-file", key_s];
    if let Some(url) = &database {
        globals.extend(["--database-url", url.as_str()]);
    }
    let mut args = vec![
        "enrol",
        "--user",
        "pc.ida.fictional",
        "--role",
        "officer",
        "--division",
        "west",
        "--team",
        "t1",
    ];
    args.extend_from_slice(&globals);
    let code = ok(run("provide-sync-server", &args)).trim().to_string();
    let (_serving, url) = binaries::serve_with(&[], &globals);

    let mut args = vec!["enrol", "--server", &url, "--code", &code];
    args.extend_from_slice(FAST_KDF);
    args.extend(["--data-dir", officer_s]);
    ok(run("provide", &args));
    let report: Value = serde_json::from_str(&ok(run(
        "provide",
        &["sync", "--json", "--data-dir", officer_s],
    )))
    .unwrap();
    assert_eq!(report["round_trips"], 1, "{report}");

    // mixed: one global before the subcommand, the others after
    let mut args = vec![
        "--data-dir",
        srv_s,
        "devices",
        "--json",
        "--key-file",
        key_s,
    ];
    if let Some(url) = &database {
        args.extend(["--database-url", url.as_str()]);
    }
    let devices: Value = serde_json::from_str(&ok(run("provide-sync-server", &args))).unwrap();
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
    if database.is_none() {
        assert!(
            key.exists(),
            "the key file given after the subcommand is used"
        );
        assert!(!srv.join("server.key").exists());
    }

    // still required: a clear error, the usage exit code, nothing made
    let out = Command::new(bin("provide-sync-server"))
        .args(["devices", "--json"])
        .env_remove("PROVIDE_SERVER_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--data-dir"), "{err}");
    assert!(err.contains("required"), "{err}");
}

/// A throwaway CA and a certificate for localhost signed by it, written to `dir` as
/// `NAME-ca.pem`, `NAME-cert.pem`, `NAME-key.pem`; returns their paths in that order.
fn tls_files(dir: &Path, name: &str) -> (String, String, String) {
    let (ca, cert, key) = provide_tests::server::certificates();
    let write = |what: &str, text: &str| {
        let p = dir.join(format!("{name}-{what}.pem"));
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    (write("ca", &ca), write("cert", &cert), write("key", &key))
}

/// Serves `srv` over TLS with `cert` and `key` at `listen`; the URL names localhost.
fn serve_tls(srv: &Path, listen: &str, cert: &str, key: &str) -> (Serving, String) {
    let (serving, url) = binaries::serve_on(
        &["--data-dir", srv.to_str().unwrap()],
        listen,
        &["--tls-cert", cert, "--tls-key", key],
    );
    (serving, url.replace("://127.0.0.1:", "://localhost:"))
}

fn port_of(url: &str) -> &str {
    url.rsplit_once(':').unwrap().1
}

#[test]
fn the_server_ca_given_at_enrolment_is_kept_for_every_later_sync() {
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let officer = root.path().join("officer");
    let (ca_a, cert_a, key_a) = tls_files(root.path(), "a");
    let (ca_b, cert_b, key_b) = tls_files(root.path(), "b");
    let code = code(&srv, "pc.kit.fictional", "officer", "t1");
    let (mut serving, url) = serve_tls(&srv, "127.0.0.1:0", &cert_a, &key_a);
    assert!(url.starts_with("https://localhost:"), "{url}");

    let mut args = vec![
        "enrol",
        "--server",
        &url,
        "--code",
        &code,
        "--ca-cert",
        &ca_a,
    ];
    args.extend_from_slice(FAST_KDF);
    ok(device(&officer, &args));
    ok(device(
        &officer,
        &[
            "case",
            "new",
            "--deployment",
            "live",
            "--set",
            "victim.name=Lark Fictional",
        ],
    ));
    // no --ca-cert: the one given at enrolment is trusted
    assert_eq!(sync_json(&officer)["docs_sent"], 1);
    // kept inside the encrypted store, not beside it in the clear
    for entry in std::fs::read_dir(&officer).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        assert!(
            !bytes.windows(11).any(|w| w == b"CERTIFICATE"),
            "the CA is kept encrypted"
        );
    }

    // the force moves its server to a certificate from another CA, at the same address
    serving.kill();
    let (_serving, url_b) = serve_tls(
        &srv,
        &format!("127.0.0.1:{}", port_of(&url)),
        &cert_b,
        &key_b,
    );
    assert_eq!(url_b, url);
    // the kept CA does not vouch for the new certificate: a security problem with its own
    // exit code and words, never "cannot be reached"
    let out = device(&officer, &["sync", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(11), "{err}");
    assert!(err.contains("Security problem"), "{err}");
    assert!(err.contains("not one this device trusts"), "{err}");
    assert!(err.contains("intercepting"), "{err}");
    assert!(!err.contains("cannot be reached"), "{err}");
    // and `--wait` does not retry it as if there were no signal
    let out = device(&officer, &["sync", "--json", "--wait", "600"]);
    assert_eq!(out.status.code(), Some(11));
    // a CA that fails is not kept
    let out = device(&officer, &["sync", "--json", "--ca-cert", &ca_a]);
    assert_eq!(out.status.code(), Some(11));
    // the new CA given once replaces the kept one, and says so
    let out = device(&officer, &["sync", "--json", "--ca-cert", &ca_b]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    ok(out);
    assert!(err.contains("replaces"), "{err}");
    let report = sync_json(&officer);
    assert_eq!(report["round_trips"], 1, "{report}");
    // a file that is no certificate is refused before anything is sent
    let out = device(&officer, &["sync", "--ca-cert", &key_b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid PEM"));
    assert_eq!(sync_json(&officer)["round_trips"], 1);
}

/// A force moving its server to a new CA gives devices both CAs in one PEM file beforehand;
/// the kept bundle carries them through the move with no `--ca-cert` at any sync.
#[test]
fn a_ca_bundle_kept_at_enrolment_carries_the_device_through_a_move_to_a_new_ca() {
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let officer = root.path().join("officer");
    let (ca_a, cert_a, key_a) = tls_files(root.path(), "a");
    let (ca_b, cert_b, key_b) = tls_files(root.path(), "b");
    let bundle = root.path().join("both.pem");
    let both = std::fs::read_to_string(&ca_a).unwrap() + &std::fs::read_to_string(&ca_b).unwrap();
    std::fs::write(&bundle, both).unwrap();
    let code = code(&srv, "pc.lou.fictional", "officer", "t1");
    let (mut serving, url) = serve_tls(&srv, "127.0.0.1:0", &cert_a, &key_a);
    let mut args = vec!["enrol", "--server", &url, "--code", &code, "--ca-cert"];
    args.push(bundle.to_str().unwrap());
    args.extend_from_slice(FAST_KDF);
    ok(device(&officer, &args));
    assert_eq!(sync_json(&officer)["round_trips"], 1);
    serving.kill();
    let _serving = serve_tls(
        &srv,
        &format!("127.0.0.1:{}", port_of(&url)),
        &cert_b,
        &key_b,
    );
    assert_eq!(sync_json(&officer)["round_trips"], 1);
}

/// The pair's contract on the command line: `peer listen` prints its address and code on
/// its first line; `peer sync --json` reports records and bytes both ways; the server is
/// stopped throughout.
#[test]
fn the_pair_sync_from_the_command_line_with_the_server_stopped() {
    use std::io::BufRead;
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let (officer, idva) = (root.path().join("officer"), root.path().join("idva"));
    let officer_code = code(&srv, "pc.xia.fictional", "officer", "t1");
    let idva_code = code(&srv, "idva.yan.fictional", "idva", "t1");
    let (serving, url) = serve(&srv);
    ok(enrol(&officer, &url, &officer_code));
    ok(enrol(&idva, &url, &idva_code));
    drop(serving);
    let new_case = |dir: &Path, name: &str| {
        let set = format!("victim.name={name}");
        ok(device(
            dir,
            &["case", "new", "--deployment", "live", "--set", &set],
        ))
        .trim()
        .to_string()
    };
    let by_officer = new_case(&officer, "Zia Fictional");
    let by_idva = new_case(&idva, "Abi Fictional");

    let mut listener = Command::new(bin("provide"))
        .args(["--data-dir", idva.to_str().unwrap(), "peer", "listen"])
        .args(["--listen", "127.0.0.1:0", "--sessions", "2", "--json"])
        .env("PROVIDE_PASSPHRASE", PASS)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(listener.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let words: Vec<&str> = first.split(' ').collect();
    assert_eq!(
        (words.len(), words[0], words[1], words[3]),
        (5, "listening", "on", "code"),
        "{first}"
    );
    let (addr, pairing_code) = (words[2], words[4]);
    assert!(addr.starts_with("127.0.0.1:"), "{first}");

    // a wrong code first: refused, with a clear error
    let wrong = device(
        &officer,
        &["peer", "sync", "--peer", addr, "--code", "00000-00000"],
    );
    assert_eq!(wrong.status.code(), Some(14), "a refusal");
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(said.contains("pairing code was wrong"), "{said}");
    let report: Value = serde_json::from_str(&ok(device(
        &officer,
        &[
            "peer",
            "sync",
            "--peer",
            addr,
            "--code",
            pairing_code,
            "--json",
        ],
    )))
    .unwrap();
    assert_eq!(report["records_sent"], 1, "{report}");
    assert_eq!(report["records_received"], 1, "{report}");
    for key in ["bytes_up", "bytes_down"] {
        assert!(report[key].as_u64().unwrap() > 0, "{key}: {report}");
    }
    // the listener's line per session: the refusal, then the sync
    let refusal: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(refusal["code"], "peer_refused", "{refusal}");
    let served: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(served["records_received"], 1, "{served}");
    assert_eq!(served["partner_user"], "pc.xia.fictional", "{served}");
    assert!(
        listener.wait().unwrap().success(),
        "the listener stops after its sessions"
    );

    for dir in [&officer, &idva] {
        let list = ok(device(dir, &["case", "list"]));
        assert!(
            list.contains(&by_officer) && list.contains(&by_idva),
            "{list}"
        );
    }
    let status: Value =
        serde_json::from_str(&ok(device(&officer, &["peer", "status", "--json"]))).unwrap();
    assert_eq!(
        status["pairing"]["partner_user"], "idva.yan.fictional",
        "{status}"
    );
    ok(device(&officer, &["peer", "end"]));
    let status: Value =
        serde_json::from_str(&ok(device(&officer, &["peer", "status", "--json"]))).unwrap();
    assert!(status["pairing"].is_null(), "{status}");
}
