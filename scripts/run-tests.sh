#!/usr/bin/env bash
# Runs every test suite and ends with one plain total line per kind:
#  1. Rust: every crate's unit, integration and command (tauri::test) tests, with the sync
#     server on its embedded SQLite store, inside a private session bus with a real Secret
#     Service (GNOME Keyring, scripts/with-keyring.sh) so the key slots' OS-keystore binding is
#     tested against the real thing (and fails, not skips, if that keystore is unreachable);
#  2. the cross-part suite (tests/) again with the sync server on PostgreSQL beside a
#     throwaway cluster;
#  3. the Windows suites: provide.exe and the device's test programs cross-built for
#     x86_64-pc-windows-gnu and run under Wine 8, with the Windows Credential Manager as the
#     keystore, and a Windows device syncing beside a Linux one (scripts/windows-tests.sh);
#  4. the UI: type check, Vitest unit tests, browser tests of the built UI in Chromium;
#  5. the native suite: the real app window under Xvfb through tauri-driver.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
uilog=$(mktemp)
trap 'rm -f "$log" "$uilog"' EXIT
status=0
# the UI is embedded in the app binary; the command-line and native tests run the binaries
npm --prefix ui run build --silent
cargo build --workspace --bins --tests
echo "== all Rust suites, sync server on its embedded SQLite store, OS keystore: GNOME Keyring"
scripts/with-keyring.sh cargo test --no-fail-fast --workspace --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
echo "== the multi-device suites again, sync server on PostgreSQL"
if [ $# -eq 0 ]; then
  # the cross-part suites' test binaries as the workspace run above built them: listed, not
  # rebuilt (`cargo test -p provide-tests` alone unifies dependency features differently and
  # would compile about a hundred crates again), then run beside the cluster from tests/, as
  # cargo runs them
  mapfile -t suites < <(cargo test --workspace --lib --bins --tests --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and "#provide-tests@" in m.get("package_id", "") \
            and m["profile"]["test"] and m.get("executable"):
        print(m["executable"])
')
  if [ ${#suites[@]} -eq 0 ]; then
    echo "no cross-part test binaries were found" | tee -a "$log"
    status=1
  fi
  scripts/with-postgres.sh bash -c 'cd tests && s=0; for t in "$@"; do echo "     Running ${t##*/}"; "$t" || s=1; done; exit $s' suites "${suites[@]}" 2>&1 | tee -a "$log" || status=$?
else
  scripts/with-postgres.sh cargo test --no-fail-fast -p provide-tests --tests "$@" 2>&1 | tee -a "$log" || status=$?
fi
if [ $# -eq 0 ]; then
  scripts/windows-tests.sh 2>&1 | tee -a "$log" || status=$?
fi
echo "== UI: unit tests (Vitest)"
(cd ui && NO_COLOR=1 npx vitest run) 2>&1 | tee "$uilog" || status=$?
echo "== UI: browser tests of the built UI (Chromium, mockIPC, axe-core)"
(cd ui && npm run test:browser --silent) 2>&1 | tee -a "$uilog" || status=$?
echo "== native: the real app window (Xvfb, tauri-driver, WebKitWebDriver)"
scripts/native-tests.sh 2>&1 | tee -a "$uilog" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "rust: %d passed, %d failed\n", p, f }' "$log"
# Vitest prints "Tests  N passed (N)"; node --test prints "# pass N" / "# fail N"
awk '/Tests +[0-9]+ passed/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed/) vp += $i }
     /Tests +.*[0-9]+ failed/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^failed/) vf += $i }
     /^# pass / { np += $3 } /^# fail / { nf += $3 }
     END { printf "ui unit: %d passed, %d failed\nbrowser + native: %d passed, %d failed\n", vp, vf, np, nf }' "$uilog"
exit "$status"
