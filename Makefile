# ABS Tray: the two commands the README starts with are `make run` and `make test`.
# Both install what is missing first (system packages via scripts/install-deps.sh, npm packages for
# the conformance client), so they work on a fresh Debian/Ubuntu machine.

CARGO ?= cargo
CONFORMANCE := tests/conformance

.PHONY: run test fuzz deps lint sim demo icons package check-deb bench bench-reconnect bench-binaries clean-test-artifacts

## Build and start the app (demo mode against the built-in simulator when no server is configured).
run: deps
	$(CARGO) run -p abs-tray -- --demo

## Run every test: formatting, lints, unit, simulator, conformance and end-to-end tests, inside a
## private desktop session (D-Bus, Xvfb, gnome-keyring, dunst) so nothing touches your own.
test: deps lint
	$(CARGO) build -p abs-tray  # the window and tray tests drive the real binary
	scripts/desktop-session.sh $(CARGO) test --workspace --all-targets
	scripts/fuzz.sh --ci  # bounded: fixed seed and run counts, about a minute per target

## Fuzz the core's event decoding and its live state + notification policy (cargo-fuzz, stable
## toolchain), FUZZ_SECONDS per target (default 60); prints executions and crashes per target.
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

## Formatting and lints, warnings as errors.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## System packages and the pinned npm packages of the conformance client.
deps:
	@scripts/install-deps.sh
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs"; exit 1; }
	@if [ ! -d $(CONFORMANCE)/node_modules ]; then \
		echo "npm: installing the pinned socket.io-client for the conformance test"; \
		cd $(CONFORMANCE) && npm ci --no-audit --no-fund --loglevel=error; \
	fi

## Run the simulator on ABS's default port with believable activity.
demo:
	$(CARGO) run -p abs-sim -- --scenario demo --control

## Regenerate icons/*.png from icons/src/*.svg.
icons:
	scripts/gen-icons.sh

## Build the .deb (desktop entry, icons, launch at login) with the pinned tauri-cli.
package: deps
	@scripts/cargo-install-pinned.sh tauri-cli 2.12.4 cargo-tauri
	cd src-tauri && $(CARGO) tauri build --bundles deb
	@ls -1 target/release/bundle/deb/

## Install the built .deb with apt into a clean Debian root and start it there (needs root).
check-deb:
	scripts/check-deb.sh

# Separate builds: one cargo invocation unifies features across its packages, so the runner's
# dependencies would change the binaries being measured.
## Benchmark (not a test): memory, idle CPU, popup latency, burst, reconnect and start-up of the
## release app next to a bare Tauri tray app, against abs-sim on loopback in a private desktop
## session, then the reconnect faults (bench-reconnect). Prints a table and writes
## target/bench/latest.json (see docs/benchmarks.md). BENCH_ARGS="--help" lists the fault knobs.
bench: bench-binaries
	$(CARGO) build --release -p abs-tray -p abs-tray-baseline
	scripts/desktop-session.sh target/release/abs-tray-bench $(BENCH_ARGS)

## The reconnect faults alone (~15 min, needs root for a network namespace): the release
## abs-tray-cli against a standalone abs-sim restarted, frozen, cut off and rejected, and frozen
## itself; durations via BENCH_ARGS (e.g. BENCH_ARGS="--link-down 20").
bench-reconnect: bench-binaries
	scripts/desktop-session.sh target/release/abs-tray-bench --reconnect-only $(BENCH_ARGS)

## The release CLI, simulator and bench runner that both bench targets run.
bench-binaries: deps
	$(CARGO) build --release -p abs-tray-core --bin abs-tray-cli
	$(CARGO) build --release -p abs-sim --bin abs-sim
	$(CARGO) build --release -p abs-tray-bench
