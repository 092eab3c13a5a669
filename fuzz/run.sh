#!/bin/sh
# Fuzz the policy parser and the Python checker for SECONDS in all (default 20), split evenly.
#
# Uses cargo-fuzz (libFuzzer, coverage-guided) when `cargo fuzz` is installed and works on this
# toolchain (RUSTC_BOOTSTRAP=1 lets a stable rustc accept its nightly flags); otherwise, or with
# STOCKADE_FUZZ_REPLAY=1, the stable harnesses src/bin/policy_replay.rs and src/bin/check_replay.rs
# (seed corpus + xorshift mutations). Exit status 1 means a crash; the input is in fuzz/artifacts/.
set -eu
SECONDS_TO_RUN="${1:-20}"
CHECK_SECONDS=$((SECONDS_TO_RUN / 2))
POLICY_SECONDS=$((SECONDS_TO_RUN - CHECK_SECONDS))
cd "$(dirname "$0")"

# cargo_fuzz TARGET SECONDS MAX_LEN DETECT_LEAKS SEED_DIR...: 0 clean, 101 could not build, else a
# crash.
cargo_fuzz() {
    target=$1 seconds=$2 max_len=$3 detect_leaks=$4
    shift 4
    mkdir -p "corpus/$target"
    echo "fuzz/run.sh: cargo fuzz run $target for ${seconds}s" >&2
    set +e
    ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=$detect_leaks" \
        RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" --features libfuzzer "corpus/$target" "$@" \
        -- -max_total_time="$seconds" -max_len="$max_len" -timeout=20 -detect_leaks="$detect_leaks"
    status=$?
    set -e
    return "$status"
}

if [ "${STOCKADE_FUZZ_REPLAY:-0}" != 1 ] && cargo fuzz --version >/dev/null 2>&1; then
    # Seeds: the parser's fixtures / the checker's fixtures and corpus, plus what earlier runs
    # found (corpus/<target>). libFuzzer exits 1 (crash) or 70+ (timeouts/OOM); a build failure
    # is 101 from cargo.
    failed=0
    status=0
    cargo_fuzz policy_parse "$POLICY_SECONDS" 16384 1 \
        ../crates/stockade-policy/resources/valid ../crates/stockade-policy/resources/invalid || status=$?
    if [ "$status" -ne 101 ]; then
        [ "$status" -ne 0 ] && failed=$status
        status=0
        # The checker leaks a too-deeply nested tree on purpose (dropping it would recurse once per
        # level), so LeakSanitizer is off for it.
        cargo_fuzz check_source "$CHECK_SECONDS" 65536 0 seeds/check_source \
            ../crates/stockade-check/tests/fixtures ../crates/stockade-check/tests/prescreen_corpus || status=$?
        if [ "$status" -ne 101 ]; then
            [ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=$status
            exit "$failed"
        fi
    fi
    echo "fuzz/run.sh: cargo fuzz could not build here; using the stable harnesses" >&2
fi
echo "fuzz/run.sh: stable harnesses, policy_replay for ${POLICY_SECONDS}s and check_replay for ${CHECK_SECONDS}s" >&2
cargo build --quiet --release --bin policy_replay --bin check_replay
failed=0
if ! ./target/release/policy_replay --seconds "$POLICY_SECONDS"; then failed=1; fi
if ! ./target/release/check_replay --seconds "$CHECK_SECONDS"; then failed=1; fi
exit "$failed"
