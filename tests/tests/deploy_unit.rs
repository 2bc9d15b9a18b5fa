//! The systemd unit in `deploy/`: `systemd-analyze verify` finds nothing wrong with it (run
//! against the binary this build made), and `systemd-analyze security --offline=true` rates
//! its exposure low. systemd comes from Debian's package (scripts/install-deps.sh).

use std::path::Path;
use std::process::Command;

use provide_tests::binaries::bin;

const UNIT: &str = "provide-sync-server.service";

/// The unit as installed, with ExecStart naming this build's binary.
fn unit_copy(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy")
            .join(UNIT),
    )
    .unwrap();
    assert!(text.contains("/usr/local/bin/provide-sync-server"));
    let server = bin("provide-sync-server");
    let path = dir.join(UNIT);
    std::fs::write(
        &path,
        text.replace(
            "/usr/local/bin/provide-sync-server",
            server.to_str().unwrap(),
        ),
    )
    .unwrap();
    path
}

fn analyze() -> Option<Command> {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!("skipped: systemd-analyze is not installed (scripts/install-deps.sh)");
        return None;
    }
    Some(Command::new("systemd-analyze"))
}

#[test]
fn the_unit_verifies() {
    let Some(mut cmd) = analyze() else { return };
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_copy(dir.path());
    let out = cmd.arg("verify").arg(&unit).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "systemd-analyze verify: {said}");
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warned: {said}"
    );
}

#[test]
fn the_unit_is_rated_low_exposure() {
    let Some(mut cmd) = analyze() else { return };
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_copy(dir.path());
    let out = cmd
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let line = said
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in: {said}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in: {line}"));
    // systemd's scale: 0 (fully locked down) to 10 (exposed); "OK" is below 2
    assert!(score < 2.0, "exposure {score}: {line}");
}
