#!/bin/sh
# Fuzz every target for SECONDS in all (default 20): the policy parser (20% of the time), the
# Python checker (30%), and the five protocol targets (10% each: frame decoders, the run's
# answer, every message type's JSON, file and input names, the guard's event lines).
#
# Uses cargo-fuzz (libFuzzer, coverage-guided) when `cargo fuzz` is installed and works on this
# toolchain (RUSTC_BOOTSTRAP=1 lets a stable rustc accept its nightly flags); otherwise, or with
# STOCKADE_FUZZ_REPLAY=1, the stable harnesses in src/bin/ (seed corpus + xorshift mutations).
# Every target runs even when an earlier one crashed; exit status 1 means a crash (the input is
# in fuzz/artifacts/).
set -eu
SECONDS_TO_RUN="${1:-20}"
PROTOCOL_SECONDS=$((SECONDS_TO_RUN / 10))
[ "$PROTOCOL_SECONDS" -ge 1 ] || PROTOCOL_SECONDS=1
CHECK_SECONDS=$((SECONDS_TO_RUN * 3 / 10))
[ "$CHECK_SECONDS" -ge 1 ] || CHECK_SECONDS=1
POLICY_SECONDS=$((SECONDS_TO_RUN - CHECK_SECONDS - 5 * PROTOCOL_SECONDS))
[ "$POLICY_SECONDS" -ge 1 ] || POLICY_SECONDS=1
cd "$(dirname "$0")"

# The protocol targets: libFuzzer target, stable harness, -max_len.
PROTOCOL_TARGETS="protocol_frames:frames_replay:65536
protocol_answer:answer_replay:65536
protocol_messages:messages_replay:65536
protocol_names:names_replay:4096
guard_events:events_replay:16384"

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
    # Seeds: the parser's fixtures / the checker's fixtures and corpus / seeds/<target>, plus what
    # earlier runs found (corpus/<target>). libFuzzer exits 1 (crash) or 70+ (timeouts/OOM); a
    # build failure is 101 from cargo, and then the stable harnesses run instead.
    failed=0
    built=1
    run_target() {
        [ "$built" -eq 1 ] || return 0
        status=0
        cargo_fuzz "$@" || status=$?
        if [ "$status" -eq 101 ]; then
            built=0
        elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
            failed=$status
        fi
    }
    run_target policy_parse "$POLICY_SECONDS" 16384 1 \
        ../crates/stockade-policy/resources/valid ../crates/stockade-policy/resources/invalid
    # The checker leaks a too-deeply nested tree on purpose (dropping it would recurse once per
    # level), so LeakSanitizer is off for it.
    run_target check_source "$CHECK_SECONDS" 65536 0 seeds/check_source \
        ../crates/stockade-check/tests/fixtures ../crates/stockade-check/tests/prescreen_corpus
    for spec in $PROTOCOL_TARGETS; do
        target=${spec%%:*}
        max_len=${spec##*:}
        run_target "$target" "$PROTOCOL_SECONDS" "$max_len" 1 "seeds/$target"
    done
    if [ "$built" -eq 1 ]; then
        exit "$failed"
    fi
    echo "fuzz/run.sh: cargo fuzz could not build here; using the stable harnesses" >&2
fi
echo "fuzz/run.sh: stable harnesses, policy_replay ${POLICY_SECONDS}s, check_replay ${CHECK_SECONDS}s, 5 protocol harnesses ${PROTOCOL_SECONDS}s each" >&2
bins="--bin policy_replay --bin check_replay"
for spec in $PROTOCOL_TARGETS; do
    harness=${spec#*:}
    bins="$bins --bin ${harness%%:*}"
done
# The debug profile, in this workspace's own target directory (sharing the main one mixes the
# two workspaces' builds of the same crates): a fraction of a release build's time on 2 cores;
# the harnesses keep overflow checks and debug assertions.
target_dir=target
# shellcheck disable=SC2086 # one word per argument
CARGO_TARGET_DIR="$target_dir" cargo build --quiet $bins
failed=0
if ! "$target_dir/debug/policy_replay" --seconds "$POLICY_SECONDS"; then failed=1; fi
if ! "$target_dir/debug/check_replay" --seconds "$CHECK_SECONDS"; then failed=1; fi
for spec in $PROTOCOL_TARGETS; do
    harness=${spec#*:}
    if ! "$target_dir/debug/${harness%%:*}" --seconds "$PROTOCOL_SECONDS"; then failed=1; fi
done
exit "$failed"
