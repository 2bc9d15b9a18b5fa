#!/usr/bin/env bash
# Coverage-guided fuzzing (issue 13) with libFuzzer, through the libfuzzer-sys crate, on the
# stable toolchain: the coverage instrumentation cargo-fuzz would add (SanitizerCoverage's
# 8-bit counters, PC table and comparison tracing) is passed to rustc here, so no nightly
# compiler is needed. No address sanitizer (it needs nightly): Rust's own bounds and overflow
# checks (kept on in fuzz/Cargo.toml's profile) catch what safe code can get wrong.
#
#   scripts/fuzz.sh                      build, then run every target FUZZ_SECONDS of CPU (default 900)
#   scripts/fuzz.sh build                build only
#   scripts/fuzz.sh run TARGET [SECONDS] one target
#
# Each target starts from its committed seeds in fuzz/corpus/<target>, keeps what it finds in
# fuzz/work/<target> (not committed; a later run starts from it too) and writes any crash to
# fuzz/artifacts/<target>/. Installs what it
# needs first (a C++ compiler for libFuzzer itself) and is silent when all is present.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(protocol changes record bundle forms)
FUZZ_SECONDS=${FUZZ_SECONDS:-900}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/fuzz/target}
# an explicit target keeps the instrumentation out of build scripts and proc macros
TRIPLE=$(rustc -vV | sed -n "s/^host: //p")

if ! command -v c++ >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends g++ >/dev/null
fi

export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cdebug-assertions -Coverflow-checks"

build() {
  # FUZZ_NO_BUILD=1 runs the binaries already built (while the sources are being edited)
  [ -n "${FUZZ_NO_BUILD:-}" ] && return
  (cd fuzz && cargo build --release --bins --target "$TRIPLE")
}

run() {
  local target=$1 seconds=${2:-$FUZZ_SECONDS}
  mkdir -p "fuzz/work/$target" "fuzz/artifacts/$target"
  # FUZZ_SECONDS is CPU time, not wall time: on a machine shared with builds a wall-clock limit
  # would give a target a fraction of it. The target runs until its process has used that much
  # CPU (or ten times as long on the clock), then stops as libFuzzer stops on ^C, printing its
  # final statistics. -max_len: a sync body may be MAX_BODY, but a fuzzer learns from small
  # inputs; -rss_limit_mb makes any input that takes the process past 2 GiB a crash, which is
  # what an amplifier is.
  "$CARGO_TARGET_DIR/$TRIPLE/release/$target" "fuzz/work/$target" "fuzz/corpus/$target" \
    -artifact_prefix="fuzz/artifacts/$target/" -max_total_time=$((seconds * 10)) \
    -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    local used
    used=$(ps -o times= -p "$pid" 2>/dev/null | tr -d ' ')
    if [ -n "$used" ] && [ "$used" -ge "$seconds" ]; then
      kill -INT "$pid" 2>/dev/null || true
      break
    fi
  done
  local status=0
  wait "$pid" || status=$?
  echo "fuzz: $target used $(ps -o times= -p "$pid" 2>/dev/null || echo "${used:-?}") s of CPU"
  # 0, or libFuzzer's status after ^C (it exits 72 then); anything else is a crash
  [ "$status" -eq 0 ] || [ "$status" -eq 72 ] || [ "$status" -eq 130 ] || return "$status"
}

case "${1:-all}" in
  build) build ;;
  run) build; run "$2" "${3:-$FUZZ_SECONDS}" ;;
  all) build; for t in "${TARGETS[@]}"; do run "$t"; done ;;
  *) echo "usage: scripts/fuzz.sh [build | run TARGET [SECONDS]]" >&2; exit 2 ;;
esac
