//! The workspace's own binaries, for tests that run them as a user or an operator would:
//! where they are, and `provide-sync-server serve` started as a real process.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A binary of this workspace, built next to the test (`make test` builds them first).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A running server process, killed when dropped.
pub struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Serving {
    /// Stops the process at once.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Stops the process as an operator would (SIGTERM: requests in flight finish and the log
    /// is written out) and waits for it.
    pub fn stop(&mut self) {
        let pid = libc::pid_t::try_from(self.0.id()).expect("a process id");
        // SAFETY: kill(2) on the id of our own child, which has not been waited for
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// The process's peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

/// Starts `provide-sync-server ARGS serve` on a free loopback port; returns it and its URL.
pub fn serve(args: &[&str]) -> (Serving, String) {
    serve_with(args, &[])
}

/// Starts `provide-sync-server ARGS serve SERVE_ARGS` on a free loopback port. Its log goes
/// to this process's standard error, at `warn` unless `PROVIDE_LOG` says otherwise (a line per
/// request would drown a test's output).
pub fn serve_with(args: &[&str], serve_args: &[&str]) -> (Serving, String) {
    serve_on(args, "127.0.0.1:0", serve_args)
}

/// Starts `provide-sync-server ARGS serve --listen LISTEN SERVE_ARGS`, logging as `serve_with`.
pub fn serve_on(args: &[&str], listen: &str, serve_args: &[&str]) -> (Serving, String) {
    let mut cmd = serve_command_on(args, listen, serve_args);
    if std::env::var_os("PROVIDE_LOG").is_none() {
        cmd.env("PROVIDE_LOG", "warn");
    }
    cmd.stderr(Stdio::inherit());
    let (serving, url, _) = spawn(cmd, false);
    (serving, url)
}

/// Starts `provide-sync-server ARGS serve SERVE_ARGS` with its log written to the file `log`
/// (the environment's log level is cleared: the options or the server's default apply).
pub fn serve_logging_to(
    args: &[&str],
    serve_args: &[&str],
    log: &std::path::Path,
) -> (Serving, String) {
    let (serving, url, _) = spawn(logging_to(args, serve_args, log), false);
    (serving, url)
}

/// As `serve_logging_to`, with another build's server binary (a baseline to compare with).
pub fn serve_binary_logging_to(
    binary: &std::path::Path,
    args: &[&str],
    serve_args: &[&str],
    log: &std::path::Path,
) -> (Serving, String) {
    let mut cmd = Command::new(binary);
    cmd.args(args)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(serve_args)
        .stdout(Stdio::piped())
        .env_remove("RUST_LOG")
        .env_remove("PROVIDE_LOG")
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()));
    let (serving, url, _) = spawn(cmd, false);
    (serving, url)
}

fn serve_command(args: &[&str], serve_args: &[&str]) -> Command {
    serve_command_on(args, "127.0.0.1:0", serve_args)
}

fn serve_command_on(args: &[&str], listen: &str, serve_args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("provide-sync-server"));
    cmd.args(args)
        .args(["serve", "--listen", listen])
        .args(serve_args)
        .stdout(Stdio::piped());
    cmd
}

fn logging_to(args: &[&str], serve_args: &[&str], log: &std::path::Path) -> Command {
    let mut cmd = serve_command(args, serve_args);
    cmd.env_remove("RUST_LOG")
        .env_remove("PROVIDE_LOG")
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()));
    cmd
}

/// Spawns `cmd`; reads its URL (and, with `metrics`, its metrics URL) from its first lines.
fn spawn(mut cmd: Command, metrics: bool) -> (Serving, String, Option<String>) {
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let metrics_url = metrics.then(|| {
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        line.trim()
            .strip_prefix("metrics on ")
            .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
            .to_string()
    });
    (Serving(child), url, metrics_url)
}

/// A server process started by `serve_logged`: its URL, its metrics URL (when asked for with
/// `--metrics-listen`), and the file its log (standard error) goes to.
pub struct LoggedServer {
    pub serving: Serving,
    pub url: String,
    pub metrics_url: Option<String>,
    pub log: PathBuf,
}

/// Starts `provide-sync-server ARGS serve SERVE_ARGS` on a free loopback port with its log
/// written to `log` (the environment's log level is cleared: the server's default applies).
pub fn serve_logged(args: &[&str], serve_args: &[&str], log: &std::path::Path) -> LoggedServer {
    let metrics = serve_args.contains(&"--metrics-listen");
    let (serving, url, metrics_url) = spawn(logging_to(args, serve_args, log), metrics);
    LoggedServer {
        serving,
        url,
        metrics_url,
        log: log.to_path_buf(),
    }
}

/// `provide-sync-server ARGS enrol ...`: a one-time code for a new user of division `west`.
pub fn enrol_code(args: &[&str], user: &str, role: &str, team: &str) -> String {
    let out = Command::new(bin("provide-sync-server"))
        .args(args)
        .args([
            "enrol",
            "--user",
            user,
            "--role",
            role,
            "--division",
            "west",
            "--team",
            team,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "enrol failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let code = text.trim().to_string();
    assert_eq!(text.lines().count(), 1, "the code is printed alone");
    assert_eq!(code.len(), 23, "{code}");
    code
}

/// `provide-sync-server --data-dir D [--database-url URL] ARGS` against a test server's data,
/// as its operator would run it beside the serving process.
pub fn admin(server: &crate::TestServer, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin("provide-sync-server"));
    cmd.arg("--data-dir").arg(&server.data.dir);
    if let Some(url) = &server.data.database_url {
        cmd.args(["--database-url", url]);
    }
    cmd.args(args).output().unwrap()
}
