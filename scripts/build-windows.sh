#!/usr/bin/env bash
# Cross-builds the three Windows programs for x86_64-pc-windows-gnu with Debian's mingw-w64, in
# release: target/x86_64-pc-windows-gnu/release/{provide-app,provide,provide-sync-server}.exe.
# SQLCipher's cryptography comes from a vendored OpenSSL built with the same compiler, so the
# programs need no DLL beyond Windows' own (and the WebView2 runtime for the app). The app
# embeds ui/dist: build the UI first (`make windows` does).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --target x86_64-pc-windows-gnu --features provide-core/vendored-openssl \
  -p provide-core --bin provide -p provide-sync-server --bin provide-sync-server \
  -p provide-app --bin provide-app
