#!/usr/bin/env bash
# Runs each cargo-fuzz target of abs-tray-core for SECONDS (default 60) from the committed seeds
# and prints, per target, the executions and the crashes found. Exits 1 when any target crashed;
# the reproducer is in src-tauri/core/fuzz/artifacts/<target>/.
#
# No nightly: `--sanitizer none` leaves only stable -C flags (sancov passes, --cfg fuzzing), and
# the core forbids unsafe code, so AddressSanitizer would find little that a panic does not.
set -euo pipefail
SECONDS_PER_TARGET=${1:-60}
TARGETS=(decode policy)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ="$ROOT/src-tauri/core/fuzz"

"$ROOT/scripts/install-cargo-fuzz.sh"
cd "$ROOT/src-tauri/core"
# Built first, so the time limit is all fuzzing.
cargo fuzz build --sanitizer none

# Reproducers libFuzzer wrote into a directory so far.
findings() {
    find "$1" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l
}

failed=0
summary=()
for target in "${TARGETS[@]}"; do
    corpus="$FUZZ/corpus/$target"
    artifacts="$FUZZ/artifacts/$target"
    log="$FUZZ/artifacts/$target.log"
    mkdir -p "$corpus" "$artifacts"
    before=$(findings "$artifacts")
    echo "fuzz: $target for ${SECONDS_PER_TARGET}s (log: $log)"
    status=0
    # The first directory collects new inputs; the seeds are read only.
    cargo fuzz run --sanitizer none "$target" "$corpus" "$FUZZ/seeds/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1 \
        -dict="$FUZZ/abs.dict" -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
    crashes=$(( $(findings "$artifacts") - before ))
    line="fuzz: $target: ${runs:-0} executions in ${SECONDS_PER_TARGET}s, $crashes crashes"
    if [ "$status" -ne 0 ]; then
        failed=1
        line="$line (exit $status; see $log)"
        grep -m 3 -E "panicked at|^SUMMARY|Test unit written" "$log" || true
    fi
    summary+=("$line")
done
printf '%s\n' "${summary[@]}"
exit "$failed"
