#!/usr/bin/env bash
# The native suite (tests/native/): the real app window under a private Xvfb display, driven
# through tauri-driver and WebKitWebDriver. Needs the debug binaries (cargo build --workspace
# --bins) and the UI built into them. With an argument, runs that script under the same
# display instead (the app benchmark: scripts/native-tests.sh tests/native/bench.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
export PROVIDE_BIN=${PROVIDE_BIN:-target/debug}
export PATH="$HOME/.cargo/bin:$PATH"
display=
for n in $(seq 90 150); do
  if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then display=$n; break; fi
done
[ -n "$display" ] || { echo "no free X display number" >&2; exit 1; }
Xvfb ":$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
# whatever the suite leaves behind on this display (a window whose driver went away) goes too
cleanup() {
  pkill -f "$(realpath "$PROVIDE_BIN")/provide-app" 2>/dev/null || true
  kill $xvfb 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$display" ] && break; sleep 0.1; done
export DISPLAY=":$display"
# WebKitGTK under Xvfb as a service user: no GPU, no accessibility bus
export WEBKIT_DISABLE_COMPOSITING_MODE=1 WEBKIT_DISABLE_DMABUF_RENDERER=1 NO_AT_BRIDGE=1
if [ $# -gt 0 ]; then
  node "$@"
else
  node --test --test-force-exit --test-concurrency=1 tests/native/
fi
