//! Helpers for the `provide` command-line integration tests: run the real binary against a
//! temporary store, with passphrases from the environment and stdin closed so no prompt can
//! ever block. Every person, phone number and address used by the tests is fictional.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The store passphrase every test user is enrolled with (unless a test says otherwise).
pub const PASS: &str = "correct horse battery staple";
/// The passphrase rescue bundles are sealed with.
pub const BUNDLE_PASS: &str = "rescue bundle passphrase";
/// Cheap Argon2id settings so the tests stay fast (the smallest the store accepts).
pub const FAST_KDF: &[&str] = &["--kdf-memory-kib", "19456", "--kdf-iterations", "2"];
/// The longest any one command may take before the test fails instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(120);

/// What one run of the binary produced.
#[derive(Debug, Clone)]
pub struct Out {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Asserts the command succeeded; returns itself for chaining.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(
            self.success(),
            "`provide {}` failed with {:?}\nstdout: {}\nstderr: {}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Stdout parsed as JSON (asserting it is JSON).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`provide {}` did not print JSON ({e}):\n{}\nstderr: {}",
                self.args.join(" "),
                self.stdout,
                self.stderr
            )
        })
    }

    /// Asserts the command failed the documented way: a non-zero exit, nothing on stdout and
    /// exactly one line on stderr starting with `error: `. Returns that line without the prefix.
    #[track_caller]
    pub fn err(&self) -> String {
        let what = format!("`provide {}`", self.args.join(" "));
        assert!(
            self.code.is_some(),
            "{what} was killed by a signal; stderr: {}",
            self.stderr
        );
        assert_ne!(
            self.code,
            Some(0),
            "{what} should have failed\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stdout.trim().is_empty(),
            "{what} failed but printed on stdout: {}",
            self.stdout
        );
        let text = self.stderr.trim_end();
        assert!(
            text.starts_with("error: "),
            "{what}: stderr does not start with `error: `: {text:?}"
        );
        assert_eq!(
            text.lines().count(),
            1,
            "{what}: the error is not one line: {text:?}"
        );
        let msg = text["error: ".len()..].to_string();
        assert!(
            msg.len() > 10,
            "{what}: the error message is not a clear sentence: {msg:?}"
        );
        msg
    }

    /// `err()`, also asserting the message contains every one of `needles` (case-insensitive).
    #[track_caller]
    pub fn err_with(&self, needles: &[&str]) -> String {
        let msg = self.err();
        for n in needles {
            assert!(
                msg.to_lowercase().contains(&n.to_lowercase()),
                "`provide {}`: expected the error to mention {n:?}, got {msg:?}",
                self.args.join(" ")
            );
        }
        msg
    }
}

/// Runs the binary with `args` (after `--data-dir DIR` when `dir` is given) and exactly the
/// `PROVIDE_*` variables in `envs`; stdin is null.
pub fn run(dir: Option<&Path>, args: &[&str], envs: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provide"));
    if let Some(d) = dir {
        cmd.arg("--data-dir").arg(d);
    }
    cmd.args(args);
    for v in [
        "PROVIDE_DATA_DIR",
        "PROVIDE_PASSPHRASE",
        "PROVIDE_NEW_PASSPHRASE",
        "PROVIDE_BUNDLE_PASSPHRASE",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut child = cmd.spawn().expect("the provide binary runs");
    let mut so = child.stdout.take().expect("stdout piped");
    let mut se = child.stderr.take().expect("stderr piped");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        so.read_to_string(&mut s).expect("stdout is UTF-8");
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        se.read_to_string(&mut s).expect("stderr is UTF-8");
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for provide") {
            break st;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`provide {}` did not finish within {TIMEOUT:?}",
                shown.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Out {
        args: shown,
        code: status.code(),
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// One store on disk and the user who unlocks it.
pub struct Store {
    pub dir: PathBuf,
    pub pass: String,
}

impl Store {
    /// `provide init` in `dir` (which must not hold a store yet) with the fast KDF.
    #[track_caller]
    pub fn init(dir: &Path, user: &str, role: &str, extra: &[&str]) -> Store {
        let mut args = vec!["init", "--user", user, "--role", role];
        args.extend_from_slice(FAST_KDF);
        args.extend_from_slice(extra);
        let out = run(Some(dir), &args, &[("PROVIDE_PASSPHRASE", PASS)]).ok();
        assert!(
            out.stdout.trim().is_empty(),
            "init printed on stdout: {}",
            out.stdout
        );
        assert!(dir.join("provide.db").exists() && dir.join("keyslots.json").exists());
        Store {
            dir: dir.to_path_buf(),
            pass: PASS.to_string(),
        }
    }

    /// Runs a command unlocking with this store's passphrase (and the bundle passphrase set).
    pub fn cmd(&self, args: &[&str]) -> Out {
        self.cmd_env(args, &[])
    }

    /// Like `cmd`, with extra or overriding environment variables.
    pub fn cmd_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Out {
        let mut envs: Vec<(&str, &str)> = vec![
            ("PROVIDE_PASSPHRASE", self.pass.as_str()),
            ("PROVIDE_BUNDLE_PASSPHRASE", BUNDLE_PASS),
        ];
        for (k, v) in extra {
            envs.retain(|(ek, _)| ek != k);
            envs.push((k, v));
        }
        run(Some(&self.dir), args, &envs)
    }

    /// `case new`; asserts stdout is the new id alone and returns it.
    #[track_caller]
    pub fn new_case(&self, deployment: &str, sets: &[(&str, &str)]) -> String {
        let owned: Vec<String> = sets.iter().map(|(p, v)| format!("{p}={v}")).collect();
        let mut args = vec!["case", "new", "--deployment", deployment];
        for s in &owned {
            args.push("--set");
            args.push(s);
        }
        let out = self.cmd(&args).ok();
        let id = out.stdout.trim_end_matches('\n');
        assert_eq!(
            id.lines().count(),
            1,
            "case new printed more than the id: {:?}",
            out.stdout
        );
        assert!(
            is_uuid(id),
            "case new did not print an id alone: {:?}",
            out.stdout
        );
        id.to_string()
    }

    /// `case set ID PATH=VALUE...` (must succeed).
    #[track_caller]
    pub fn set(&self, id: &str, sets: &[(&str, &str)]) {
        let owned: Vec<String> = sets.iter().map(|(p, v)| format!("{p}={v}")).collect();
        let mut args = vec!["case", "set", id];
        args.extend(owned.iter().map(String::as_str));
        self.cmd(&args).ok();
    }

    /// `case add ID LIST JSON`; returns the printed item id.
    #[track_caller]
    pub fn add(&self, id: &str, list: &str, json: &str) -> String {
        let out = self.cmd(&["case", "add", id, list, json]).ok();
        let item = out.stdout.trim().to_string();
        assert!(
            is_uuid(&item),
            "case add did not print an item id: {:?}",
            out.stdout
        );
        item
    }

    /// `case show ID --json`.
    #[track_caller]
    pub fn show(&self, id: &str) -> Value {
        self.cmd(&["case", "show", id, "--json"]).ok().json()
    }

    /// The `record` of `case show ID --json`.
    #[track_caller]
    pub fn record(&self, id: &str) -> Value {
        self.show(id)["record"].clone()
    }

    /// `case list --json` with extra filter arguments.
    #[track_caller]
    pub fn list(&self, filters: &[&str]) -> Vec<Value> {
        let mut args = vec!["case", "list", "--json"];
        args.extend_from_slice(filters);
        match self.cmd(&args).ok().json() {
            Value::Array(rows) => rows,
            other => panic!("case list --json did not print an array: {other}"),
        }
    }

    /// `bundle export --out FILE [--case ID]` (must succeed and create the file).
    #[track_caller]
    pub fn export(&self, out: &Path, case: Option<&str>) {
        let path = out.to_str().expect("UTF-8 path");
        let mut args = vec!["bundle", "export", "--out", path];
        if let Some(c) = case {
            args.push("--case");
            args.push(c);
        }
        self.cmd(&args).ok();
        assert!(out.exists(), "bundle export wrote no file");
    }

    /// `bundle import FILE --json` (must succeed); returns the report.
    #[track_caller]
    pub fn import(&self, file: &Path) -> Value {
        self.cmd(&[
            "bundle",
            "import",
            file.to_str().expect("UTF-8 path"),
            "--json",
        ])
        .ok()
        .json()
    }

    /// `audit list --json` as an array of entries.
    #[track_caller]
    pub fn audit(&self) -> Vec<Value> {
        match self.cmd(&["audit", "list", "--json"]).ok().json() {
            Value::Array(rows) => rows,
            other => panic!("audit list --json did not print an array: {other}"),
        }
    }

    /// `status --json` (needs no passphrase).
    #[track_caller]
    pub fn status(&self) -> Value {
        run(Some(&self.dir), &["status", "--json"], &[]).ok().json()
    }
}

/// Whether `s` looks like a (hyphenated, lower-case) UUID.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit() && !c.is_ascii_uppercase()
            }
        })
}

/// A DASH answer set with the first `yes` questions answered yes and the rest no.
pub fn dash_answers(yes: usize) -> String {
    let map: serde_json::Map<String, Value> = (1..=27)
        .map(|i| {
            (
                format!("dash_{i:02}"),
                Value::String(if i <= yes { "yes" } else { "no" }.into()),
            )
        })
        .collect();
    Value::Object(map).to_string()
}

/// Deterministic pseudo-random bytes (xorshift), for a "bundle" that is just noise.
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// The audit entries that record a change (anything but a consultation or disclosure).
pub fn changing_entries(audit: &[Value]) -> usize {
    audit
        .iter()
        .filter(|e| !matches!(e["action"].as_str(), Some("view" | "export")))
        .count()
}

/// Sleeps long enough for a store initialised with `--backoff-base-ms 1` to accept attempts.
pub fn pass_backoff() {
    std::thread::sleep(Duration::from_millis(30));
}
