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

/// Starts `provide-sync-server ARGS serve SERVE_ARGS` on a free loopback port.
pub fn serve_with(args: &[&str], serve_args: &[&str]) -> (Serving, String) {
    serve_on(args, "127.0.0.1:0", serve_args)
}

/// Starts `provide-sync-server ARGS serve --listen LISTEN SERVE_ARGS`.
pub fn serve_on(args: &[&str], listen: &str, serve_args: &[&str]) -> (Serving, String) {
    let mut child = Command::new(bin("provide-sync-server"))
        .args(args)
        .args(["serve", "--listen", listen])
        .args(serve_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (Serving(child), url)
}
