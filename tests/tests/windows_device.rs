//! A Windows device in the fleet: the cross-built `provide.exe`, run under Wine 8, enrols with
//! the Linux sync server over TLS on loopback, syncs, and converges with a Linux device that
//! edits the same case at the same time.
//!
//! `scripts/windows-tests.sh` runs this inside `scripts/with-wine.sh` (a throwaway Wine prefix)
//! with `PROVIDE_WINDOWS_BIN` naming the folder of `provide.exe` and `PROVIDE_REQUIRE_WINDOWS=1`.
//! Elsewhere (the ordinary workspace run, which has no Windows build) the test says so and
//! returns; with `PROVIDE_REQUIRE_WINDOWS=1` a missing Wine or build fails it instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use provide_tests::binaries::{self, bin};
use serde_json::Value;

const PASS: &str = "correct horse battery staple";
const FAST_KDF: &[&str] = &["--kdf-memory-kib", "19456", "--kdf-iterations", "2"];
const VICTIM: &str = "Wenna Fictional";

/// Wine's loader and the folder holding `provide.exe`, or `None` (test skipped).
fn windows() -> Option<(PathBuf, PathBuf)> {
    let wine = std::env::var_os("PROVIDE_WINE").map(PathBuf::from);
    let dir = std::env::var_os("PROVIDE_WINDOWS_BIN").map(PathBuf::from);
    match (wine, dir) {
        (Some(wine), Some(dir)) if dir.join("provide.exe").exists() => Some((wine, dir)),
        _ if std::env::var("PROVIDE_REQUIRE_WINDOWS").as_deref() == Ok("1") => panic!(
            "PROVIDE_REQUIRE_WINDOWS=1 but PROVIDE_WINE and PROVIDE_WINDOWS_BIN (with provide.exe) \
             are not both set: run scripts/windows-tests.sh"
        ),
        _ => {
            eprintln!("skipped: no Windows build under Wine (scripts/windows-tests.sh runs this)");
            None
        }
    }
}

/// A device: the Linux binary, or `provide.exe` under Wine with its folder as a Windows path.
enum Device {
    Linux(PathBuf),
    Windows {
        wine: PathBuf,
        exe: PathBuf,
        dir: PathBuf,
    },
}

/// A Unix path as Windows programs under Wine name it (drive Z: is the Unix root).
fn windows_path(path: &Path) -> String {
    format!(
        "Z:{}",
        path.to_str().expect("UTF-8 path").replace('/', "\\")
    )
}

impl Device {
    fn dir(&self) -> &Path {
        match self {
            Device::Linux(dir) | Device::Windows { dir, .. } => dir,
        }
    }

    /// A path argument as this device's platform writes it.
    fn path_arg(&self, path: &Path) -> String {
        match self {
            Device::Linux(_) => path.to_str().unwrap().to_string(),
            Device::Windows { .. } => windows_path(path),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = match self {
            Device::Linux(_) => Command::new(bin("provide")),
            Device::Windows { wine, exe, .. } => {
                let mut cmd = Command::new(wine);
                cmd.arg(exe);
                cmd
            }
        };
        cmd.arg("--data-dir")
            .arg(self.path_arg(self.dir()))
            .args(args)
            .env("PROVIDE_PASSPHRASE", PASS)
            .env_remove("PROVIDE_DATA_DIR")
            .env_remove("PROVIDE_CA_CERT")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`provide {}` failed ({:?}): {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    #[track_caller]
    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("JSON output")
    }

    fn sync(&self) -> Value {
        self.json(&["sync", "--json"])
    }

    fn show(&self, id: &str) -> Value {
        self.json(&["case", "show", id, "--json"])
    }
}

#[test]
fn a_windows_device_enrols_syncs_and_converges_with_a_linux_device() {
    let Some((wine, win_bin)) = windows() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let srv = root.path().join("server");
    let (ca, cert, key) = provide_tests::server::certificates();
    let ca_path = root.path().join("ca.pem");
    std::fs::write(&ca_path, ca).unwrap();
    std::fs::write(root.path().join("cert.pem"), cert).unwrap();
    std::fs::write(root.path().join("key.pem"), key).unwrap();
    let data_args = ["--data-dir", srv.to_str().unwrap()];
    let win_code = binaries::enrol_code(&data_args, "pc.win.fictional", "officer", "t1");
    let lin_code = binaries::enrol_code(&data_args, "pc.lin.fictional", "officer", "t1");
    let cert_arg = root.path().join("cert.pem");
    let key_arg = root.path().join("key.pem");
    let (_serving, url) = binaries::serve_on(
        &data_args,
        "127.0.0.1:0",
        &[
            "--tls-cert",
            cert_arg.to_str().unwrap(),
            "--tls-key",
            key_arg.to_str().unwrap(),
        ],
    );
    let url = url.replace("://127.0.0.1:", "://localhost:");
    assert!(url.starts_with("https://"), "{url}");

    let win = Device::Windows {
        wine,
        exe: win_bin.join("provide.exe"),
        dir: root.path().join("windows"),
    };
    let lin = Device::Linux(root.path().join("linux"));
    for (device, code) in [(&win, &win_code), (&lin, &lin_code)] {
        let ca_arg = device.path_arg(&ca_path);
        let mut args = vec![
            "enrol",
            "--server",
            &url,
            "--code",
            code,
            "--ca-cert",
            &ca_arg,
        ];
        args.extend_from_slice(FAST_KDF);
        device.ok(&args);
    }
    let status = win.json(&["status", "--json"]);
    assert_eq!(status["exists"], true, "{status}");
    // the owner-only DACL provide.exe gave its folder reaches the files themselves: Wine maps
    // it to a Unix mode with nothing for other users
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(win.dir()).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o007,
            0,
            "the Windows store's folder is open to others: {mode:o}"
        );
    }

    // the Windows device opens a case, offline, and sends it
    let id = win
        .ok(&[
            "case",
            "new",
            "--deployment",
            "live",
            "--set",
            &format!("victim.name={VICTIM}"),
            "--set",
            "victim.language=Cornish",
        ])
        .trim()
        .to_string();
    win.ok(&[
        "case",
        "add",
        &id,
        "notes",
        r#"{"text": "Fictional note from the Windows laptop."}"#,
    ]);
    assert_eq!(win.sync()["docs_sent"], 1);
    lin.sync();
    assert_eq!(lin.show(&id)["record"]["victim"]["name"], VICTIM);

    // both edit the same case before either syncs: different fields, a note each, and the
    // same field set to different values (a conflict both must show alike)
    win.ok(&[
        "case",
        "set",
        &id,
        "victim.dob=1991-02-03",
        "victim.phone=07700 900111",
    ]);
    lin.ok(&[
        "case",
        "set",
        &id,
        "perpetrator.name=Jory Notreal",
        "victim.phone=07700 900222",
    ]);
    win.ok(&[
        "case",
        "add",
        &id,
        "notes",
        r#"{"text": "Second Windows note."}"#,
    ]);
    lin.ok(&["case", "add", &id, "notes", r#"{"text": "A Linux note."}"#]);
    win.sync();
    lin.sync();
    win.sync();

    let (w, l) = (win.show(&id), lin.show(&id));
    assert_eq!(w["record"], l["record"], "the two devices differ");
    assert_eq!(w["conflicts"], l["conflicts"]);
    let r = &w["record"];
    assert_eq!(r["victim"]["dob"], "1991-02-03");
    assert_eq!(r["perpetrator"]["name"], "Jory Notreal");
    assert_eq!(r["notes"].as_array().map(Vec::len), Some(3), "{r}");
    assert!(
        w["conflicts"].to_string().contains("victim.phone"),
        "the concurrent phone numbers are a conflict: {}",
        w["conflicts"]
    );
    // the history on Windows names both authors
    let history = win.ok(&["case", "history", &id]);
    for who in ["pc.win.fictional", "pc.lin.fictional"] {
        assert!(history.contains(who), "history lacks {who}: {history}");
    }
    win.ok(&["audit", "verify"]);
    lin.ok(&["audit", "verify"]);

    // nothing the Windows device wrote holds the case in the clear
    for entry in provide_tests::forensics::files_under(win.dir()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(VICTIM.len()).any(|w| w == VICTIM.as_bytes()),
            "{} holds the victim's name in the clear",
            entry.display()
        );
    }
}
