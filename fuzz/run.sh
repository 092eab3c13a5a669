#!/bin/sh
# Fuzz the policy parser for SECONDS (default 20).
#
# Uses cargo-fuzz (libFuzzer, coverage-guided) when `cargo fuzz` is installed and works on this
# toolchain (RUSTC_BOOTSTRAP=1 lets a stable rustc accept its nightly flags); otherwise, or with
# STOCKADE_FUZZ_REPLAY=1, the stable harness src/bin/policy_replay.rs (seed corpus + xorshift
# mutations). Exit status 1 means a crash; the input is in fuzz/artifacts/.
set -eu
SECONDS_TO_RUN="${1:-20}"
cd "$(dirname "$0")"
if [ "${STOCKADE_FUZZ_REPLAY:-0}" != 1 ] && cargo fuzz --version >/dev/null 2>&1; then
    mkdir -p corpus/policy_parse
    echo "fuzz/run.sh: cargo fuzz run policy_parse for ${SECONDS_TO_RUN}s" >&2
    # Seeds: the parser's fixtures, plus what earlier runs found (corpus/policy_parse).
    set +e
    RUSTC_BOOTSTRAP=1 cargo fuzz run policy_parse --features libfuzzer \
        corpus/policy_parse ../crates/stockade-policy/resources/valid ../crates/stockade-policy/resources/invalid \
        -- -max_total_time="$SECONDS_TO_RUN" -max_len=16384
    status=$?
    set -e
    [ "$status" -eq 0 ] && exit 0
    # libFuzzer exits 1 (crash) or 70+ (timeouts/OOM); a build failure is 101 from cargo.
    [ "$status" -ne 101 ] && exit "$status"
    echo "fuzz/run.sh: cargo fuzz could not build here; using the stable harness" >&2
fi
echo "fuzz/run.sh: stable harness policy_replay for ${SECONDS_TO_RUN}s" >&2
cargo run --quiet --release --bin policy_replay -- --seconds "$SECONDS_TO_RUN"
