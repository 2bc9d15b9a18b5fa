#!/usr/bin/env bash
# `make soak`: the long forms of the fault and convergence tests, and the open-loop fleet
# bench, which `make test` runs short or not at all (docs/ARCHITECTURE.md, "Testing"):
#  1. every crash point of the device store, 10,000 distinct crash states at least;
#  2. the server nemesis for longer with more kills, on SQLite and over PostgreSQL;
#  3. the 2-3 replica and the link-fault property tests, 10,000 cases each;
#  4. the fleet at its real arrival rate for 5 minutes against each backend.
# Each step prints its own figures; the script stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins --tests
cargo build --release -p provide-sync-server --bin provide-sync-server
step() { echo "== soak: $*"; }
step "crash points of the device store"
PROVIDE_CRASH_POINTS=${PROVIDE_CRASH_POINTS:-10000} PROVIDE_CRASH_EDITS=${PROVIDE_CRASH_EDITS:-40} \
  cargo test -p provide-tests --test crash_points -- --nocapture
export PROVIDE_NEMESIS_SECS=${PROVIDE_NEMESIS_SECS:-300} PROVIDE_NEMESIS_KILLS=${PROVIDE_NEMESIS_KILLS:-60} \
  PROVIDE_NEMESIS_PG_RESTARTS=${PROVIDE_NEMESIS_PG_RESTARTS:-12}
step "server nemesis, SQLite (${PROVIDE_NEMESIS_SECS} s, ${PROVIDE_NEMESIS_KILLS} kills)"
cargo test -p provide-tests --test nemesis -- --nocapture
step "server nemesis, two processes over PostgreSQL (and ${PROVIDE_NEMESIS_PG_RESTARTS} database restarts)"
scripts/with-postgres.sh cargo test -p provide-tests --test nemesis -- --nocapture
step "2-3 replicas converge, 10,000 cases"
PROVIDE_CONVERGENCE_CASES=${PROVIDE_CONVERGENCE_CASES:-10000} \
  cargo test -p provide-core --test convergence -- --nocapture
step "devices converge over a faulty link, 10,000 cases"
PROVIDE_LINK_FAULT_CASES=${PROVIDE_LINK_FAULT_CASES:-10000} \
  cargo test -p provide-tests --test link_faults -- --nocapture
step "the fleet at its real arrival rate (open loop), 5 minutes per backend"
scripts/with-postgres.sh cargo bench -p provide-tests --bench fleet
