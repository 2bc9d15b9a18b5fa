# Provide: `make run` shows what exists working; `make test` runs every test suite.
# Both install whatever is missing first (scripts/install-deps.sh).

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: deps run test lint bench

deps:
	@scripts/install-deps.sh

run: deps
	$(CARGO) build --release -p provide-core --bin provide -p provide-sync-server --bin provide-sync-server
	scripts/demo.sh target/release

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: lint
	scripts/run-tests.sh

# benchmarks print tables and never fail on numbers; the load table's PostgreSQL rows run
# beside a throwaway cluster, against the release server binary
bench: deps
	$(CARGO) bench -p provide-core --bench store
	$(CARGO) bench -p provide-tests --bench sync
	$(CARGO) bench -p provide-tests --bench links
	$(CARGO) build --release -p provide-sync-server --bin provide-sync-server
	scripts/with-postgres.sh $(CARGO) bench -p provide-tests --bench load
