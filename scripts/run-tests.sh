#!/usr/bin/env bash
# Runs every Rust test suite, then the cross-part suite (tests/) a second time with the sync
# server on PostgreSQL beside a throwaway cluster, and ends with one plain total line
# ("N passed, N failed").
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# the command-line tests run the workspace's binaries, so build them first
cargo build --workspace --bins
echo "== all suites, sync server on its embedded SQLite store"
cargo test --workspace --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
echo "== the multi-device suites again, sync server on PostgreSQL"
scripts/with-postgres.sh cargo test -p provide-tests --tests "$@" 2>&1 | tee -a "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "rust: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
