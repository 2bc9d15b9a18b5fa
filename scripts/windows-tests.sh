#!/usr/bin/env bash
# The Windows suites. `provide.exe` and the device's test programs are cross-built for
# x86_64-pc-windows-gnu (mingw-w64; SQLCipher on a vendored OpenSSL) and run under Wine 8 in a
# throwaway Windows profile (scripts/with-wine.sh):
#  1. the command-line contract suite (core/tests/cli.rs) against provide.exe, the test itself a
#     Windows program: init, case new/set/add/assess/show/list/history, bundle export/import,
#     audit verify, lockout and back-off, bad input, the folder's owner-only DACL and the
#     %LOCALAPPDATA%\Provide default;
#  2. the keystore suite (core/tests/keystore.rs) against the Windows Credential Manager through
#     `keyring`; it fails, not skips, when the Credential Manager cannot be reached;
#  3. a Windows device enrolling with the Linux sync server over TLS on loopback, syncing and
#     converging with a Linux device (tests/tests/windows_device.rs, a Linux test).
# Arguments are passed to the Windows test programs (a name filter, say).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-pc-windows-gnu
WINDOWS_BIN="$PWD/target/$TARGET/debug"
echo "== Windows: cross-building provide.exe and the device test programs ($TARGET)"
cargo build --target "$TARGET" -p provide-core --features vendored-openssl \
  --bin provide --test cli --test keystore
# the Linux half of the fleet test, as the workspace run builds it (not rebuilt: `-p` alone
# would unify features differently)
fleet_test=$(cargo test --workspace --lib --bins --tests --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "windows_device" \
            and m.get("executable"):
        print(m["executable"])
')
if [ -z "$fleet_test" ]; then
  echo "the windows_device test was not built" >&2
  exit 1
fi
scripts/with-wine.sh bash -c '
  echo "== Windows (Wine $("$PROVIDE_WINE" --version)): the command line and the keystore, as Windows programs"
  s=0
  PROVIDE_REQUIRE_KEYSTORE=1 cargo test --no-fail-fast --target '"$TARGET"' -p provide-core \
    --features vendored-openssl --test cli --test keystore -- "$@" || s=1
  echo "== Windows: a Windows device beside a Linux device and the Linux server"
  (cd tests && PROVIDE_WINDOWS_BIN='"$WINDOWS_BIN"' PROVIDE_REQUIRE_WINDOWS=1 '"$fleet_test"') || s=1
  exit $s
' windows-tests "$@"
