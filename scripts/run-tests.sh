#!/usr/bin/env bash
# Runs the Rust test suites and ends with one plain total line ("N passed, N failed").
set -euo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# the command-line tests run the workspace's binaries, so build them first
cargo build --workspace --bins
cargo test --workspace --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "rust: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
