#!/usr/bin/env bash
# Runs a command with a throwaway Windows profile under Wine 8: a new 64-bit Wine prefix in a
# temporary folder (its own registry, so its own Credential Manager, %LOCALAPPDATA% and user),
# with the ProcessPrng shim (tests/windows/processprng.c) in its system32, since Wine 8 has no
# bcryptprimitives.dll and no Rust program starts without it.
#
# The command finds Wine in PROVIDE_WINE (the wine64 loader) and the prefix in WINEPREFIX; cargo
# runs Windows test binaries through it (CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER). One
# wineserver is kept for the whole command (a test suite starts hundreds of short processes)
# and, with the prefix, goes when the command ends. Nothing is shown: DISPLAY is unset, and
# Wine's Mono and Gecko installers are switched off. Packages: wine, wine64,
# gcc-mingw-w64-x86-64 (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
WINE_DIR=/usr/lib/wine
for cmd in "$WINE_DIR/wine64" "$WINE_DIR/wineserver" x86_64-w64-mingw32-gcc; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "$cmd is not installed: run scripts/install-deps.sh" >&2
    exit 1
  fi
done
DIR=$(mktemp -d -t provide-wine-XXXX)
export WINEPREFIX="$DIR/prefix" WINEARCH=win64 WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
export PATH="$WINE_DIR:$PATH" PROVIDE_WINE="$WINE_DIR/wine64"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$WINE_DIR/wine64"
unset DISPLAY WAYLAND_DISPLAY
cleanup() {
  wineserver -k >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
wine64 wineboot --init >/dev/null 2>&1
wineserver -w
x86_64-w64-mingw32-gcc -shared -O2 -s -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  tests/windows/processprng.c -lbcrypt
# one server for every process the command starts, until cleanup, and Wine's own services
# started now, with no output: started by the command's first program they would inherit its
# standard output and error, and whatever reads those (a pipe to tee) would wait for them
wineserver -p >/dev/null 2>&1 </dev/null
wine64 cmd /c exit >/dev/null 2>&1 </dev/null
"$@"
