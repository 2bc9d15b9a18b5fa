# Provide: `make run` shows what exists working; `make test` runs every test suite.
# Both install whatever is missing first (scripts/install-deps.sh).

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: deps ui run test test-windows windows dist lint bench bindings screenshots fuzz soak

deps:
	@scripts/install-deps.sh

# The UI is built first: the app binary embeds ui/dist.
ui: deps
	npm --prefix ui run build --silent

run: ui
	$(CARGO) build --release -p provide-core --bin provide -p provide-sync-server --bin provide-sync-server -p provide-app --bin provide-app
	scripts/demo.sh target/release

lint: ui
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --target x86_64-pc-windows-gnu --features provide-core/vendored-openssl -p provide-core -p provide-sync-server -p provide-app --all-targets -- -D warnings
	npm --prefix ui run check --silent

# Regenerates the UI's TypeScript types from the Rust types.
bindings:
	UPDATE_BINDINGS=1 $(CARGO) test -p provide-core --test ts_bindings

# Runs the native suite and keeps its screenshots of the real window in docs/screenshots.
screenshots: ui
	PROVIDE_SCREENSHOTS=docs/screenshots scripts/native-tests.sh

test: lint
	scripts/run-tests.sh

# The Windows suites alone, under Wine (scripts/windows-tests.sh); `test` runs them too.
test-windows: deps
	scripts/windows-tests.sh

# The three Windows programs, cross-built with mingw-w64 (SQLCipher on a vendored OpenSSL), in
# target/x86_64-pc-windows-gnu/release: provide-app.exe, provide.exe, provide-sync-server.exe.
windows: ui
	scripts/build-windows.sh

# The release packages in dist/: the app's .deb, the server's tarball with its systemd unit,
# and the Windows zip (scripts/dist.sh).
dist: ui
	scripts/dist.sh

# benchmarks print tables and never fail on numbers; the load table's PostgreSQL rows run
# beside a throwaway cluster, against the release server binary
bench: ui
	$(CARGO) build --release -p provide-app --bin provide-app
	scripts/native-tests.sh tests/native/bench.mjs
	$(CARGO) bench -p provide-core --bench store
	$(CARGO) bench -p provide-tests --bench sync
	$(CARGO) bench -p provide-tests --bench links
	$(CARGO) bench -p provide-tests --bench peer
	$(CARGO) build --release -p provide-sync-server --bin provide-sync-server
	PROVIDE_LOAD_DEVICES=$${PROVIDE_LOAD_DEVICES:-60} scripts/with-postgres.sh $(CARGO) bench -p provide-tests --bench load
	scripts/with-postgres.sh $(CARGO) bench -p provide-tests --bench fleet
	scripts/with-postgres.sh $(CARGO) bench -p provide-tests --bench reports
	scripts/with-postgres.sh $(CARGO) bench -p provide-tests --bench erasure

# Coverage-guided fuzzing with libFuzzer on stable Rust (scripts/fuzz.sh installs what it needs):
# every target for FUZZ_SECONDS of CPU time (default 900) from its corpus in fuzz/corpus; not part of `test`.
fuzz:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-900} scripts/fuzz.sh

# The long forms of the fault tests (10,000 crash points, a longer server nemesis, 10,000-case
# convergence and link-fault property runs) and the 5-minute open-loop fleet bench; not part
# of `test` (scripts/soak.sh).
soak: ui
	scripts/soak.sh
