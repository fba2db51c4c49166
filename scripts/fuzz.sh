#!/usr/bin/env bash
# Fuzzes abs-tray-core's cargo-fuzz targets (src-tauri/core/fuzz) from the committed seeds and
# prints, per target, the executions and the crashes found. Exits 1 when any target crashed; the
# reproducer is in src-tauri/core/fuzz/artifacts/<target>/ (commit it under seeds/<target>/ as
# crash-<what> once fixed: tests/fuzz_regressions.rs replays it in every `cargo test`).
#
#   scripts/fuzz.sh [SECONDS]   each target for SECONDS (default 60), random seed, growing the
#                               local corpus in fuzz/corpus/ (`make fuzz`)
#   scripts/fuzz.sh --ci        each target for a fixed number of runs (about a minute each on
#                               two cores) from a fixed seed and the committed seeds only, so the
#                               work done does not depend on machine speed or earlier runs
#                               (`make test`). Not bit-for-bit repeatable (the core's HashMaps are
#                               randomly seeded), but a crash leaves its input in artifacts/,
#                               which replays exactly.
#
# No nightly: `--sanitizer none` leaves only stable -C flags (sancov passes, --cfg fuzzing), and
# the core forbids unsafe code, so AddressSanitizer would find little that a panic does not.
set -euo pipefail
TARGETS=(decode packet policy)
declare -A CI_RUNS=([decode]=2500000 [packet]=1000000 [policy]=100000)
CI_SEED=20260601
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ="$ROOT/src-tauri/core/fuzz"
CI=false
SECONDS_PER_TARGET=60
case "${1:-}" in
    --ci) CI=true ;;
    '') ;;
    *[!0-9]*) echo "usage: $0 [SECONDS | --ci]" >&2; exit 2 ;;
    *) SECONDS_PER_TARGET=$1 ;;
esac

"$ROOT/scripts/cargo-install-pinned.sh" cargo-fuzz 0.13.2 cargo-fuzz
cd "$ROOT/src-tauri/core"
# Built first, so the time limit is all fuzzing.
cargo fuzz build --sanitizer none

# Reproducers libFuzzer wrote into a directory so far.
findings() {
    find "$1" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
summary=()
for target in "${TARGETS[@]}"; do
    artifacts="$FUZZ/artifacts/$target"
    log="$FUZZ/artifacts/$target.log"
    if $CI; then
        corpus="$scratch/$target"
        limit=(-runs="${CI_RUNS[$target]}" -seed="$CI_SEED")
        what="${CI_RUNS[$target]} runs"
    else
        corpus="$FUZZ/corpus/$target"
        limit=(-max_total_time="$SECONDS_PER_TARGET")
        what="${SECONDS_PER_TARGET}s"
    fi
    mkdir -p "$corpus" "$artifacts"
    before=$(findings "$artifacts")
    echo "fuzz: $target for $what (log: $log)"
    status=0
    start=$(date +%s)
    # The first directory collects new inputs; the seeds are only read.
    cargo fuzz run --sanitizer none "$target" "$corpus" "$FUZZ/seeds/$target" -- \
        "${limit[@]}" -timeout=10 -print_final_stats=1 -dict="$FUZZ/abs.dict" \
        >"$log" 2>&1 || status=$?
    took=$(( $(date +%s) - start ))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
    crashes=$(( $(findings "$artifacts") - before ))
    line="fuzz: $target: ${runs:-0} executions in ${took}s, $crashes crashes"
    if [ "$status" -ne 0 ]; then
        failed=1
        line="$line (exit $status; see $log)"
        grep -m 1 -A 1 "panicked at" "$log" || true
        grep -m 1 "Test unit written" "$log" || true
    fi
    summary+=("$line")
done
printf '%s\n' "${summary[@]}"
exit "$failed"
